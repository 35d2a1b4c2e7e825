// Typed readers for keyword values. Each takes the decoded text and either returns the typed value
// or throws a ValueProblem saying what is wrong; none of them knows file, line or keyword.
import { isIP } from 'node:net';
import * as path from 'node:path';
import { ValueProblem, shown } from './config-error';
import type { MaxStartups, PreforkWorkers } from './types';

/** What a value may depend on besides its own text. */
export interface ValueContext {
  /** Directory that relative paths are resolved against (the config file's, or the cwd for -o). */
  readonly baseDir: string;
  /** Home directory for a leading `~/`. */
  readonly home: string;
}

export type ValueParser<T> = (text: string, ctx: ValueContext) => T;

// Control characters in a value are almost always an editing accident, and would end up in logs.
const CONTROL = /[\u0000-\u001f\u007f]/;

function noControl(text: string): void {
  if (CONTROL.test(text)) throw new ValueProblem(`${shown(text)} contains a control character`);
}

function required(text: string): void {
  if (text === '') throw new ValueProblem('a value is required');
}

export function word(what: string, re: RegExp, allowEmpty: boolean): ValueParser<string> {
  return (text) => {
    if (text === '' && allowEmpty) return '';
    required(text);
    if (!re.test(text)) throw new ValueProblem(`${shown(text)} is not ${what}`);
    return text;
  };
}

/** Free text without control characters (TpmTcti). */
export function freeText(text: string): string {
  noControl(text);
  return text;
}

/** A secret: kept exactly, never echoed in a message. Present but empty means the empty string. */
export function secret(text: string): string {
  if (CONTROL.test(text)) throw new ValueProblem('the value contains a control character');
  return text;
}

/**
 * A file or directory name. `~/` is the home directory; a relative name is taken relative to the
 * file that sets it, so a config and its keys can be moved together. With `optional`, "" and
 * "none" mean "not set" and give "".
 */
export function pathValue(optional: boolean, expand: (text: string, ctx: ValueContext) => string = expandPath): ValueParser<string> {
  return (text, ctx) => {
    const unset = text === '' || text.toLowerCase() === 'none';
    if (optional && unset) return '';
    if (unset) throw new ValueProblem(`${shown(text)}: a file name is required here`);
    noControl(text);
    return expand(text, ctx);
  };
}

export function expandPath(text: string, ctx: ValueContext): string {
  let p = text;
  if (p === '~') p = ctx.home;
  else if (p.startsWith('~/')) p = path.join(ctx.home, p.slice(2));
  else if (p.startsWith('~')) throw new ValueProblem(`${shown(text)}: only "~/" (your own home) is understood`);
  return path.resolve(ctx.baseDir, p);
}

export function integer(min: number, max: number): ValueParser<number> {
  return (text) => {
    required(text);
    if (!/^[0-9]+$/.test(text)) throw new ValueProblem(`${shown(text)} is not a number (${min}-${max})`);
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new ValueProblem(`${shown(text)} is out of range (${min}-${max})`);
    }
    return n;
  };
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/**
 * Seconds, in sshd's time format too: "90", "90s", "2m", "1h30m". The ceiling keeps the value
 * usable as a Node timer (setTimeout overflows past 2^31-1 ms and then fires at once).
 */
export function duration(max: number): ValueParser<number> {
  return (text) => {
    required(text);
    const parts = /^(?:[0-9]+[sSmMhHdDwW]?)+$/.test(text) ? text.match(/[0-9]+[sSmMhHdDwW]?/g) : null;
    if (parts === null) {
      throw new ValueProblem(`${shown(text)} is not a time in seconds (or like 30s, 5m, 1h30m; 0-${max})`);
    }
    let total = 0;
    for (const part of parts) {
      const unit = /[a-zA-Z]$/.test(part) ? part.slice(-1).toLowerCase() : '';
      const n = Number(unit === '' ? part : part.slice(0, -1));
      total += n * (UNIT_SECONDS[unit] ?? 1);
    }
    if (!Number.isSafeInteger(total) || total > max) throw new ValueProblem(`${shown(text)} is out of range (0-${max} seconds)`);
    return total;
  };
}

const TRUE_WORDS = new Set(['yes', 'true', 'on']);
const FALSE_WORDS = new Set(['no', 'false', 'off']);

export function boolean(text: string): boolean {
  const t = text.toLowerCase();
  if (TRUE_WORDS.has(t)) return true;
  if (FALSE_WORDS.has(t)) return false;
  throw new ValueProblem(`${shown(text)} is not yes or no`);
}

/** One of a fixed set of words, case-insensitively, mapped to its canonical spelling. */
export function oneOf<T extends string>(choices: Readonly<Record<string, T>>, shownChoices: string): ValueParser<T> {
  return (text) => {
    const hit = Object.prototype.hasOwnProperty.call(choices, text.toLowerCase()) ? choices[text.toLowerCase()] : undefined;
    if (hit === undefined) throw new ValueProblem(`${shown(text)} is not one of ${shownChoices}`);
    return hit;
  };
}

/**
 * Environment variable name patterns (`*`, `?`), separated by spaces or commas. A pattern
 * prefixed with "-" removes earlier patterns it matches, as in ssh_config.
 */
export function envPatterns(text: string): string[] {
  required(text);
  const items = text.split(/[\s,]+/).filter((s) => s !== '');
  for (const item of items) {
    if (!/^-?[A-Za-z0-9_*?]+$/.test(item)) {
      throw new ValueProblem(`${shown(item)} is not an environment variable name pattern (letters, digits, _, * and ?)`);
    }
  }
  return items;
}

/**
 * AllowUsers and DenyUsers: user name patterns (`*`, `?`, a leading `!`), each optionally
 * USER@HOST with HOST a wildcard pattern of the client's address or an address/prefix block.
 */
export function userPatterns(text: string): string[] {
  required(text);
  const items = text.split(/[\s,]+/).filter((s) => s !== '');
  for (const item of items) {
    const at = item.indexOf('@');
    const user = at < 0 ? item : item.slice(0, at);
    const host = at < 0 ? undefined : item.slice(at + 1);
    if (!/^!?[A-Za-z0-9_.*?$-]+$/.test(user)) throw new ValueProblem(`${shown(item)} is not a user name pattern (letters, digits, _ . - $, * and ?, optionally !first)`);
    if (host !== undefined && !/^[0-9A-Fa-f:.*?]+(?:\/[0-9]{1,3})?$/.test(host)) {
      throw new ValueProblem(`${shown(item)}: after @ comes the client's address, as a pattern (192.0.2.*) or a block (192.0.2.0/24)`);
    }
    const [addr = '', bits] = (host ?? '').split('/');
    if (bits !== undefined && (isIP(addr) === 0 || Number(bits) > (isIP(addr) === 4 ? 32 : 128))) {
      throw new ValueProblem(`${shown(item)}: a block is an address and a prefix length (0-32 for IPv4, 0-128 for IPv6), like 192.0.2.0/24`);
    }
  }
  return items;
}

/** AllowGroups and DenyGroups: group name patterns (`*`, `?`, a leading `!`). */
export function groupPatterns(text: string): string[] {
  required(text);
  const items = text.split(/[\s,]+/).filter((s) => s !== '');
  for (const item of items) {
    if (!/^!?[A-Za-z0-9_.*?$-]+$/.test(item)) throw new ValueProblem(`${shown(item)} is not a group name pattern (letters, digits, _ . - $, * and ?, optionally !first)`);
  }
  return items;
}

/** OpenSSH's "start:rate:full", or one number N meaning N:100:N. */
export function maxStartups(text: string): MaxStartups {
  required(text);
  const m = /^([0-9]+)(?::([0-9]+):([0-9]+))?$/.exec(text);
  if (m === null) throw new ValueProblem(`${shown(text)} is not start:rate:full (like 10:30:100) or a single number`);
  const start = Number(m[1]);
  const rate = m[2] === undefined ? 100 : Number(m[2]);
  const full = m[3] === undefined ? start : Number(m[3]);
  if (![start, rate, full].every(Number.isSafeInteger)) throw new ValueProblem(`${shown(text)} has a number that is too large`);
  if (start < 1) throw new ValueProblem(`${shown(text)}: start must be at least 1`);
  if (rate < 1 || rate > 100) throw new ValueProblem(`${shown(text)}: rate must be a percentage from 1 to 100`);
  if (start > full) throw new ValueProblem(`${shown(text)}: start must not be larger than full`);
  return { start, rate, full };
}

/** The most warm workers PreforkWorkers may ask for: each is a process of ~10 MB. */
export const MAX_PREFORK_WORKERS = 256;

/** "min:max", or one number N meaning N:N (a fixed pool that never grows). */
export function preforkWorkers(text: string): PreforkWorkers {
  required(text);
  const m = /^([0-9]+)(?::([0-9]+))?$/.exec(text);
  if (m === null) throw new ValueProblem(`${shown(text)} is not min:max (like 1:8) or a single number`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min > MAX_PREFORK_WORKERS || max > MAX_PREFORK_WORKERS) throw new ValueProblem(`${shown(text)}: at most ${MAX_PREFORK_WORKERS} workers`);
  if (min > max) throw new ValueProblem(`${shown(text)}: min must not be larger than max`);
  return { min, max };
}

/**
 * A single character, "^X" control notation, or "none". The result is the character itself
 * ("^]" gives "\x1d") so a reader can compare it with a keystroke byte directly.
 */
export function escapeChar(text: string): string {
  if (text.toLowerCase() === 'none') return 'none';
  if (text.length === 1 && text.charCodeAt(0) < 0x80) return text;
  if (text.length === 2 && text[0] === '^') {
    const c = text.charCodeAt(1);
    if (text[1] === '?') return '\x7f';
    const upper = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
    if (upper >= 0x40 && upper <= 0x5f) return String.fromCharCode(upper - 0x40);
  }
  throw new ValueProblem(`${shown(text)} is not a single ASCII character, ^X, or none`);
}
