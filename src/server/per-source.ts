// Per-source accounting of the unauthenticated stage, after OpenSSH 9.8's srclimit.c: sources are
// grouped into net blocks (PerSourceNetBlockSize), each block has at most PerSourceMaxStartups
// connections that have not logged in yet, and blocks that misbehave are refused for a while
// (PerSourcePenalties) unless PerSourcePenaltyExemptList names them. No I/O and an injected clock,
// so the unit tests drive time by hand.

import * as net from 'node:net';
import type { PerSourceNetBlockSize, PerSourcePenalties } from '../config/types';

export type PenaltyKind = 'crash' | 'authfail' | 'noauth' | 'grace-exceeded';

export const PENALTY_KINDS: readonly PenaltyKind[] = ['crash', 'authfail', 'noauth', 'grace-exceeded'];

export interface PerSourceSettings {
  /** 'none', or the most unauthenticated connections one net block may hold. */
  maxStartups: number | 'none';
  netBlockSize: PerSourceNetBlockSize;
  penalties: PerSourcePenalties;
  /** CIDR blocks or addresses never penalised. */
  exempt: readonly string[];
}

/** An address as family + 16 or 4 bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) counts as IPv4. */
interface ParsedAddress {
  v6: boolean;
  bytes: number[];
}

/** "::ffff:192.0.2.1" as the IPv4 address it stands for; any other address as it is. */
export function unmappedAddress(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

function parseAddress(address: string): ParsedAddress | undefined {
  const a = unmappedAddress(address);
  if (net.isIPv4(a)) return { v6: false, bytes: a.split('.').map(Number) };
  if (!net.isIPv6(a)) return undefined;
  // Expand "::" and a trailing dotted quad into 8 groups.
  let text = a.replace(/%.*$/, '');
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const q = (quad[1] ?? '').split('.').map(Number);
    text = text.slice(0, -(quad[1] ?? '').length) + `${(((q[0] ?? 0) << 8) | (q[1] ?? 0)).toString(16)}:${(((q[2] ?? 0) << 8) | (q[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const bytes: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    bytes.push((n >> 8) & 0xff, n & 0xff);
  }
  return { v6: true, bytes };
}

/**
 * The net block `address` belongs to, written as "addr/bits" ("192.0.2.0/24", "2001:db8::/64"),
 * or undefined for something that is not an IP address (then nothing is tracked for it).
 */
export function netBlockOf(address: string, size: PerSourceNetBlockSize): string | undefined {
  const p = parseAddress(address);
  if (!p) return undefined;
  const bits = p.v6 ? size.ipv6 : size.ipv4;
  const masked = p.bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (!p.v6) return `${masked.join('.')}/${bits}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((masked[i] ?? 0) << 8) | (masked[i + 1] ?? 0)).toString(16));
  // Canonical form through the URL parser's IPv6 serialiser would be nicer; this is a stable key.
  return `${compressV6(groups)}/${bits}`;
}

function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * Builds a matcher from addresses and CIDR blocks already validated by the config:
 * PerSourcePenaltyExemptList, and the USER@BLOCK entries of AllowUsers and DenyUsers.
 */
export function exemptMatcher(list: readonly string[]): (address: string) => boolean {
  const bl = new net.BlockList();
  for (const item of list) {
    const [addr = '', bits] = item.split('/');
    const type = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
    if (bits === undefined) bl.addAddress(addr, type);
    else bl.addSubnet(addr, Number(bits), type);
  }
  return (address) => {
    const a = unmappedAddress(address);
    if (net.isIPv4(a)) return bl.check(a, 'ipv4');
    if (net.isIPv6(a)) return bl.check(a, 'ipv6');
    return false;
  };
}

interface Penalty {
  /** Clock time (seconds) at which it lapses. */
  expiry: number;
  /** Enforced: it has accrued more than the `min` threshold. */
  active: boolean;
}

export type AdmitResult =
  | { readonly ok: true; readonly block: string | undefined }
  | { readonly ok: false; readonly why: 'penalty' | 'per-source'; readonly block: string; readonly detail: string };

/**
 * Counts and penalties per net block. `admit` decides at accept time, `release` gives a slot
 * back when the connection logs in or ends, `penalise` records misbehaviour.
 */
export class PerSourceTable {
  private settings: PerSourceSettings;
  private isExempt: (address: string) => boolean;
  private readonly counts = new Map<string, number>();
  private readonly penalties = new Map<string, Penalty>();
  /** Set while a full penalty table refuses every unpenalised source (overflow deny-all). */
  private overflowUntil4 = 0;
  private overflowUntil6 = 0;

  /** `now` gives seconds; tests pass a fake clock. */
  constructor(settings: PerSourceSettings, private readonly now: () => number = () => performance.now() / 1000) {
    this.settings = settings;
    this.isExempt = exemptMatcher(settings.exempt);
  }

  /** New settings (SIGHUP); counts and penalties carry over, keyed as before. */
  update(settings: PerSourceSettings): void {
    const same = JSON.stringify(settings.netBlockSize) === JSON.stringify(this.settings.netBlockSize);
    this.settings = settings;
    this.isExempt = exemptMatcher(settings.exempt);
    // Keys made with another block size no longer match anything new: penalties restart.
    if (!same) this.penalties.clear();
  }

  blockOf(address: string): string | undefined {
    return netBlockOf(address, this.settings.netBlockSize);
  }

  /** Unauthenticated connections now counted against `block`. */
  count(block: string): number {
    return this.counts.get(block) ?? 0;
  }

  /** Whether a new connection from `address` may go on; when it may, its slot is taken. */
  admit(address: string): AdmitResult {
    const block = this.blockOf(address);
    if (block === undefined) return { ok: true, block };
    const refusal = this.penaltyRefusal(address, block);
    if (refusal) return { ok: false, why: 'penalty', block, detail: refusal };
    const max = this.settings.maxStartups;
    const n = this.count(block);
    if (max !== 'none' && n >= max) {
      return { ok: false, why: 'per-source', block, detail: `${n} unauthenticated connections from ${block} (PerSourceMaxStartups ${max})` };
    }
    this.counts.set(block, n + 1);
    return { ok: true, block };
  }

  /** Gives back the slot `admit` took (logged in, or closed). */
  release(block: string | undefined): void {
    if (block === undefined) return;
    const n = this.count(block) - 1;
    if (n > 0) this.counts.set(block, n);
    else this.counts.delete(block);
  }

  /**
   * Records misbehaviour of `address`'s block. Returns a description, for the log, when this
   * starts a refusal; undefined when nothing new is enforced.
   */
  penalise(address: string, kind: PenaltyKind): string | undefined {
    const cfg = this.settings.penalties;
    if (!cfg.enabled || this.isExempt(address)) return undefined;
    const block = this.blockOf(address);
    if (block === undefined) return undefined;
    const secs = cfg[kind];
    if (secs <= 0) return undefined;
    const now = this.now();
    this.expire(now);
    const existing = this.penalties.get(block);
    const wasActive = existing?.active === true;
    if (existing) {
      existing.expiry = Math.min(existing.expiry + secs, now + cfg.max);
      if (!existing.active && existing.expiry - now > cfg.min) existing.active = true;
    } else {
      const v6 = block.includes(':');
      const tracked = [...this.penalties.keys()].filter((k) => k.includes(':') === v6).length;
      if (tracked >= (v6 ? cfg.maxSources6 : cfg.maxSources4)) {
        if ((v6 ? cfg.overflow6 : cfg.overflow) === 'deny-all') {
          // sshd: refuse everyone (but the exempt) until the earliest tracked penalty lapses.
          const until = Math.min(...[...this.penalties.entries()].filter(([k]) => k.includes(':') === v6).map(([, p]) => p.expiry));
          if (v6) this.overflowUntil6 = until;
          else this.overflowUntil4 = until;
          return `penalty table full (${tracked} ${v6 ? 'IPv6' : 'IPv4'} sources): refusing all ${v6 ? 'IPv6' : 'IPv4'} sources`;
        }
        // Permissive: make room by dropping the penalty closest to lapsing.
        let victim: string | undefined;
        let soonest = Infinity;
        for (const [k, p] of this.penalties) {
          if (k.includes(':') === v6 && p.expiry < soonest) { soonest = p.expiry; victim = k; }
        }
        if (victim !== undefined) this.penalties.delete(victim);
      }
      const p: Penalty = { expiry: now + Math.min(secs, cfg.max), active: Math.min(secs, cfg.max) > cfg.min };
      this.penalties.set(block, p);
    }
    const p = this.penalties.get(block);
    // Only the start of a refusal is news; a flood adds to it once per connection.
    if (!p?.active || wasActive) return undefined;
    return `${block} refused for ${Math.round(p.expiry - now)}s (${kind})`;
  }

  /** Blocks currently tracked for penalties (enforced or not). */
  penalisedBlocks(): number {
    this.expire(this.now());
    return this.penalties.size;
  }

  /** Every tracked penalty with its remaining time (the control socket's status). */
  penaltyViews(): PenaltyView[] {
    const now = this.now();
    this.expire(now);
    return [...this.penalties.entries()].map(([block, p]) => ({ block, remaining: Math.ceil(p.expiry - now), active: p.active }));
  }

  private penaltyRefusal(address: string, block: string): string | undefined {
    const cfg = this.settings.penalties;
    if (!cfg.enabled || this.isExempt(address)) return undefined;
    const now = this.now();
    this.expire(now);
    const v6 = block.includes(':');
    const overflow = v6 ? this.overflowUntil6 : this.overflowUntil4;
    if (overflow > now) return `penalty table full: all ${v6 ? 'IPv6' : 'IPv4'} sources refused for ${Math.round(overflow - now)}s`;
    const p = this.penalties.get(block);
    if (p?.active) return `${block} penalised for ${Math.round(p.expiry - now)}s more`;
    return undefined;
  }

  private expire(now: number): void {
    for (const [k, p] of this.penalties) if (p.expiry <= now) this.penalties.delete(k);
  }
}

/** One tracked penalty, for `tlsshctl status`. */
export interface PenaltyView {
  block: string;
  /** Whole seconds until it lapses. */
  remaining: number;
  /** Enforced (past the `min` threshold), or only accruing. */
  active: boolean;
}

