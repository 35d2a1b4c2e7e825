// NSS's `files` source read directly, for a database whose nsswitch.conf line puts `files` first
// with nothing that changes what a match does: NSS itself then answers from the file whenever the
// name is there, before any other source, so the file's line is NSS's answer. Node has no
// getpwnam() or getspnam(); without this every login asks `getent`, a fork and an exec of the
// worker measured at 8-18 ms of the login's time (its page tables are a Node process's).
//
// Anything else (another source first, an action such as [SUCCESS=continue], compat's +/- lines,
// a name not in the file, a file that cannot be read or that glibc would parse differently)
// answers undefined, and the caller asks getent as before.

import * as fs from 'node:fs';

export type NssDatabase = 'passwd' | 'shadow';

/**
 * True when NSS answers `database` lookups from the files first and stops there when found. Only
 * a plain line counts: glibc takes the last of several lines for a database, a colon is optional,
 * and a # after the start is part of a service name, so anything but exactly one line of the form
 * `passwd: files ...` (spaces or tabs, no # or CR, no action after files) answers false.
 */
export function filesAnswerFirst(nsswitchText: string, database: NssDatabase = 'passwd'): boolean {
  const lines = nsswitchText.split('\n').filter((raw) => new RegExp(`^[ \\t]*${database}`).test(raw));
  if (lines.length !== 1) return false;
  const m = new RegExp(`^[ \\t]*${database}:[ \\t]*([^#\\r]*)$`).exec(lines[0]!);
  if (!m) return false;
  const sources = (m[1] ?? '').split(/[ \t]+/).filter(Boolean);
  return sources[0] === 'files' && !(sources[1] ?? '').startsWith('[');
}

/**
 * The first line of `file` for `name` when NSS would answer `database` from it; undefined: ask
 * getent. `parse` has the last word: a line it refuses is one glibc skips, and getent answers.
 */
export function fromNssFile<T>(
  name: string, database: NssDatabase, src: { nsswitch: string; file: string }, parse: (line: string) => T | undefined,
): T | undefined {
  let text: string;
  try {
    if (!filesAnswerFirst(fs.readFileSync(src.nsswitch, 'utf8'), database)) return undefined;
    text = fs.readFileSync(src.file, 'utf8');
  } catch {
    return undefined;
  }
  // What glibc's parser reads differently from a split on ':' (a NUL ends its strings, it strips
  // leading blanks) is never guessed at: getent answers such files.
  if (text.includes('\0')) return undefined;
  for (const line of text.split('\n')) {
    if (/^[ \t\v\f\r]/.test(line)) return undefined;
    // NIS compat entries are for the compat source; never guess at them.
    if (line.startsWith('+') || line.startsWith('-')) return undefined;
    // NSS's files source takes the first entry with the name.
    if (line.split(':', 1)[0] !== name) continue;
    return parse(line);
  }
  return undefined;
}
