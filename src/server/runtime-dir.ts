// RuntimeDir holds what root writes and later trusts: the session records (from which utmp and
// wtmp are written) and the TPM key agent's socket. If anyone else could write there, they could
// plant a symlink for root to write through, or forge a record. So, whatever the key, the
// listener refuses to start unless RuntimeDir, and every directory above it, is ours (root's
// when we run as root, else the daemon user's) or root's, and not writable by others (a sticky
// directory such as /tmp is fine above it: others cannot rename what is ours there).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { TlsshError } from '../errors';

function mode(st: fs.Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Who besides `euid` and root could change what a directory holds: its owner, or anyone its
 * group and other write bits let in. `sticky` lets a world-writable sticky directory (/tmp) pass,
 * for a directory above what is checked: there nobody may rename or remove an entry they do not
 * own. The rule for RuntimeDir's parents and for the daemon's trusted files' (trusted-files.ts).
 */
export function directoryOpening(st: fs.Stats, euid: number, sticky: boolean): { owner: number } | { mode: string } | undefined {
  if (st.uid !== euid && st.uid !== 0) return { owner: st.uid };
  if ((st.mode & 0o022) !== 0 && !(sticky && (st.mode & 0o1000) !== 0)) return { mode: mode(st) };
  return undefined;
}

/**
 * Why `st` may not hold root's private files, or undefined. `euid` is the daemon's uid.
 * `sticky` allows a world-writable sticky directory (only for directories above RuntimeDir).
 */
function directoryProblem(st: fs.Stats, euid: number, sticky: boolean): string | undefined {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return 'is not a directory';
  const open = directoryOpening(st, euid, sticky);
  if (open === undefined) return undefined;
  if ('owner' in open) return `is owned by uid ${open.owner}, not ${euid === 0 ? 'root' : `uid ${euid} (tlsshd's user) or root`}`;
  return `is group- or world-writable (mode ${open.mode})`;
}

/** Throws TLSSH_ERR_RUNTIME_DIR unless `dir` is a real directory only `euid` (or root) can write. */
export function assertPrivateDirectory(dir: string, euid: number, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `${what} ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  // Below RuntimeDir only the daemon's own uid will do: root never writes into another user's directory.
  const problem = st.uid !== euid && st.isDirectory() ? `is owned by uid ${st.uid}, not ${euid === 0 ? 'root' : `uid ${euid}`}` : directoryProblem(st, euid, false);
  if (problem) throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `${what} ${dir} ${problem}`);
}

/**
 * The start-up check: creates RuntimeDir (mode 0700) when missing, then refuses, with one line
 * naming the directory and the problem, unless it and its parents are safe. `create` false
 * (tlsshd -t): a missing RuntimeDir is not made, and only its parents are judged.
 */
export function checkRuntimeDir(dir: string, euid: number = process.geteuid?.() ?? 0, create = true): void {
  if (!path.isAbsolute(dir)) throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `RuntimeDir ${dir} is not an absolute path`);
  let parent: string;
  try {
    // The parents as they really are: /var/run is a symlink to /run on most systems.
    parent = fs.realpathSync(path.dirname(dir));
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `RuntimeDir ${dir}: parent directory: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  for (let p = parent; ; p = path.dirname(p)) {
    const problem = directoryProblem(fs.lstatSync(p), euid, true);
    if (problem) throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `RuntimeDir ${dir}: parent directory ${p} ${problem}`);
    if (p === path.dirname(p)) break;
  }
  // tlsshd -t checks without creating anything: a directory still to be made is made safe.
  if (!create && !fs.existsSync(dir)) return;
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `RuntimeDir ${dir}: cannot create: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
  }
  assertPrivateDirectory(dir, euid, 'RuntimeDir');
}
