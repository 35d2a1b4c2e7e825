// `tlsshd -T`: the effective configuration written back in the config file syntax, one
// "Keyword value" line per setting (one per item for list keywords), secrets masked. Driven by
// the schema, so a new keyword shows up without touching this file.

import { serverSchema, type ConfigSchema } from './schema';
import type { ValueParser } from './value-parsers';
import type { Subsystem } from './subsystem';
import type { MaxStartups, PerSourceNetBlockSize, PerSourcePenalties, PreforkWorkers, ServerConfig } from './types';

/** What a set secret prints as; its value, even its length, never leaves the daemon. */
export const MASK = '********';

/** Written so that the config parser reads back exactly `s`. */
export function quoteValue(s: string): string {
  if (s === '') return '""';
  // Bare text is fine unless it could be read as something else: a comment, a quote, spaces at
  // either end, or an escape. Double quotes take JSON escapes, so JSON.stringify is exact.
  if (/^[^\s"'#;\\=]/.test(s) && !/[#;\\]|\s$/.test(s) && !/[\u0000-\u001f\u007f]/.test(s)) return s;
  return JSON.stringify(s);
}

function isMaxStartups(v: unknown): v is MaxStartups {
  const o = v as Partial<MaxStartups> | null;
  return typeof o === 'object' && o !== null && typeof o.start === 'number' && typeof o.rate === 'number' && typeof o.full === 'number';
}

function formatScalar(v: unknown): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return quoteValue(v);
  if (isMaxStartups(v)) return `${v.start}:${v.rate}:${v.full}`;
  return quoteValue(JSON.stringify(v));
}

/** sshd's syntax for the per-source keywords, whose parsed values are objects. */
const SPECIAL: Partial<Record<keyof ServerConfig, (v: unknown) => string | string[]>> = {
  PreforkWorkers: (v) => {
    const p = v as PreforkWorkers;
    return `${p.min}:${p.max}`;
  },
  PerSourceNetBlockSize: (v) => {
    const b = v as PerSourceNetBlockSize;
    return `${b.ipv4}:${b.ipv6}`;
  },
  PerSourcePenalties: (v) => {
    const p = v as PerSourcePenalties;
    if (!p.enabled) return 'no';
    return [
      `crash:${p.crash}s`, `authfail:${p.authfail}s`, `noauth:${p.noauth}s`, `grace-exceeded:${p['grace-exceeded']}s`,
      `max:${p.max}s`, `min:${p.min}s`, `max-sources4:${p.maxSources4}`, `max-sources6:${p.maxSources6}`,
      `overflow:${p.overflow}`, `overflow6:${p.overflow6}`,
    ].join(' ');
  },
  // One line a subsystem, in order (the first line for a name wins); none left is "none".
  Subsystem: (v) => {
    const list = v as Subsystem[];
    return list.length === 0 ? 'none' : list.map((x) => `${x.name} ${x.command}`);
  },
  PerSourcePenaltyExemptList: (v) => ((v as string[]).length === 0 ? 'none' : (v as string[]).join(',')),
};

/** The keywords with a field of their own (not aliases such as ListenAddress), in output order. */
function canonicalKeywords(schema: ConfigSchema): Map<string, { name: string; secret: boolean; list: boolean; noneIsEmpty: boolean }> {
  const out = new Map<string, { name: string; secret: boolean; list: boolean; noneIsEmpty: boolean }>();
  for (const k of schema.keywords.values()) if (k.field === k.name) out.set(k.field, { name: k.name, secret: k.secret, list: k.list, noneIsEmpty: readsNoneAsEmpty(k.parse) });
  return out;
}

/** Whether the keyword takes "none" for an empty value: -T then writes "none", as the docs do, not "". */
function readsNoneAsEmpty(parse: ValueParser<unknown>): boolean {
  try {
    return parse('none', { baseDir: '/', home: '' }) === '';
  } catch {
    return false;
  }
}

export function formatServerConfig(cfg: ServerConfig): string {
  const keywords = canonicalKeywords(serverSchema);
  const values = cfg as unknown as Record<string, unknown>;
  const lines: string[] = [];
  for (const field of Object.keys(serverSchema.defaults({ home: '' }))) {
    const k = keywords.get(field);
    if (!k) continue;
    const v = values[field];
    const special = SPECIAL[field as keyof ServerConfig];
    if (special) {
      const out = special(v);
      for (const value of Array.isArray(out) ? out : [out]) lines.push(`${k.name} ${value}`);
    } else if (k.secret) {
      lines.push(v === undefined ? `# ${k.name} is not set` : `${k.name} ${MASK}`);
    } else if (k.list && Array.isArray(v)) {
      // "-*" removes every pattern: the one way to write an empty pattern list (AcceptEnv).
      if (v.length === 0) lines.push(k.name === 'AcceptEnv' ? `${k.name} -*` : `# ${k.name} (none)`);
      for (const item of v) lines.push(`${k.name} ${formatScalar(item)}`);
    } else {
      lines.push(`${k.name} ${v === '' && k.noneIsEmpty ? 'none' : formatScalar(v)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
