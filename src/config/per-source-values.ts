// Readers for OpenSSH 9.8's per-source keywords: PerSourceMaxStartups, PerSourceNetBlockSize,
// PerSourcePenalties and PerSourcePenaltyExemptList, with sshd's syntax and defaults.
import * as net from 'node:net';
import { ValueProblem, shown } from './config-error';
import type { PerSourceNetBlockSize, PerSourcePenalties } from './types';
import { duration } from './value-parsers';

/** sshd's defaults (servconf.c, 9.8). */
export const DEFAULT_PER_SOURCE_PENALTIES: Readonly<PerSourcePenalties> = {
  enabled: true,
  crash: 90,
  authfail: 5,
  noauth: 1,
  'grace-exceeded': 10,
  max: 600,
  min: 15,
  maxSources4: 65536,
  maxSources6: 65536,
  overflow: 'permissive',
  overflow6: 'permissive',
};

/** "none" or a positive number. */
export function perSourceMaxStartups(text: string): number | 'none' {
  if (text.toLowerCase() === 'none') return 'none';
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < 1) {
    throw new ValueProblem(`${shown(text)} is not "none" or a number of connections (1 or more)`);
  }
  return Number(text);
}

/** "v4bits" or "v4bits:v6bits"; the default is 32:128, every address its own source. */
export function perSourceNetBlockSize(text: string): PerSourceNetBlockSize {
  const m = /^([0-9]{1,3})(?::([0-9]{1,3}))?$/.exec(text);
  if (m === null) throw new ValueProblem(`${shown(text)} is not IPv4 bits or IPv4:IPv6 bits (like 32:128 or 24:56)`);
  const ipv4 = Number(m[1]);
  const ipv6 = m[2] === undefined ? 128 : Number(m[2]);
  if (ipv4 > 32) throw new ValueProblem(`${shown(text)}: IPv4 bits must be 0 to 32`);
  if (ipv6 > 128) throw new ValueProblem(`${shown(text)}: IPv6 bits must be 0 to 128`);
  return { ipv4, ipv6 };
}

const PENALTY_DURATION = ['crash', 'authfail', 'noauth', 'grace-exceeded', 'max', 'min'] as const;
const OVERFLOW_MODES = ['permissive', 'deny-all'] as const;
/** A day: longer would outlive any sensible reason and overflows nothing, but catches typos. */
const MAX_PENALTY_SECONDS = 86400;

/**
 * "yes" (the defaults), "no" (off), or sub-keywords over the defaults, separated by spaces:
 * crash:90s authfail:5s noauth:1s grace-exceeded:10s max:10m min:15s max-sources4:65536
 * max-sources6:65536 overflow:permissive overflow6:deny-all.
 */
export function perSourcePenalties(text: string): PerSourcePenalties {
  const words = text.split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) throw new ValueProblem('a value is required ("yes", "no", or settings like authfail:30s)');
  if (words.length === 1 && /^(no|off|false)$/i.test(words[0] ?? '')) return { ...DEFAULT_PER_SOURCE_PENALTIES, enabled: false };
  const out: PerSourcePenalties = { ...DEFAULT_PER_SOURCE_PENALTIES };
  let overflow6Given = false;
  const seconds = duration(MAX_PENALTY_SECONDS);
  for (const w of words) {
    if (/^(yes|on|true)$/i.test(w)) continue;
    const i = w.indexOf(':');
    const key = (i < 0 ? w : w.slice(0, i)).toLowerCase();
    const value = i < 0 ? '' : w.slice(i + 1);
    if (i < 0) throw new ValueProblem(`${shown(w)} has no value: write it as ${key}:value (or use "yes" or "no" alone)`);
    if ((PENALTY_DURATION as readonly string[]).includes(key)) {
      try {
        out[key as (typeof PENALTY_DURATION)[number]] = seconds(value, { baseDir: '/', home: '/' });
      } catch (e) {
        throw new ValueProblem(`${shown(w)}: ${(e as Error).message}`);
      }
    } else if (key === 'max-sources4' || key === 'max-sources6') {
      if (!/^[0-9]{1,9}$/.test(value) || Number(value) < 1) throw new ValueProblem(`${shown(w)}: ${key} is a number of sources (1 or more)`);
      out[key === 'max-sources4' ? 'maxSources4' : 'maxSources6'] = Number(value);
    } else if (key === 'overflow' || key === 'overflow6') {
      const mode = value.toLowerCase();
      if (!(OVERFLOW_MODES as readonly string[]).includes(mode)) throw new ValueProblem(`${shown(w)}: ${key} is permissive or deny-all`);
      out[key] = mode as PerSourcePenalties['overflow'];
      if (key === 'overflow6') overflow6Given = true;
    } else {
      throw new ValueProblem(
        `${shown(w)}: unknown penalty setting (crash, authfail, noauth, grace-exceeded, max, min, max-sources4, max-sources6, overflow, overflow6)`,
      );
    }
  }
  // sshd: overflow6 follows overflow unless set itself.
  if (!overflow6Given) out.overflow6 = out.overflow;
  if (out.min > out.max) throw new ValueProblem(`${shown(text)}: min (${out.min}s) is larger than max (${out.max}s)`);
  return out;
}

/** "none", or addresses and CIDR blocks separated by commas (sshd's addr_match_cidr_list). */
export function perSourcePenaltyExemptList(text: string): string[] {
  if (text === '' || text.toLowerCase() === 'none') return [];
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const [addr = '', bits, extra] = item.split('/');
    const family = net.isIP(addr);
    if (family === 0 || extra !== undefined) throw new ValueProblem(`${shown(item)} is not an IP address or CIDR block (like 192.0.2.0/24 or 2001:db8::/32)`);
    if (bits !== undefined) {
      const max = family === 4 ? 32 : 128;
      if (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > max) throw new ValueProblem(`${shown(item)}: the prefix length must be 0 to ${max}`);
    }
    out.push(bits === undefined ? addr : `${addr}/${Number(bits)}`);
  }
  return out;
}
