// OpenSSH's MaxStartups "start:rate:full" random early drop of unauthenticated connections.

import type { MaxStartups } from '../config/types';

/**
 * Chance (0..1) that a new connection is dropped while `unauthenticated` others are pending:
 * 0 below `start`, `rate`% at `start`, rising linearly to 100% at `full`.
 */
export function dropProbability(m: MaxStartups, unauthenticated: number): number {
  if (unauthenticated >= m.full) return 1;
  if (unauthenticated < m.start) return 0;
  if (m.full <= m.start) return 1;
  const pct = m.rate + ((100 - m.rate) * (unauthenticated - m.start)) / (m.full - m.start);
  return Math.min(1, Math.max(0, pct / 100));
}

export function shouldDrop(m: MaxStartups, unauthenticated: number, random: () => number = Math.random): boolean {
  const p = dropProbability(m, unauthenticated);
  return p >= 1 || (p > 0 && random() < p);
}
