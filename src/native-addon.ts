// Finds and loads one of tlssh's native addons (build/Release/NAME.node at the package root),
// for src/tpm/binding.ts and src/server/pam-binding.ts alike, so that a failure names every
// path tried (as node-pty's loader does).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isTlsshError } from './errors';

/**
 * Where `addon` may be: the override first (alone when `overrideOnly`), then build/Release and
 * build/Debug above `fromDir`, which is src/X, dist/src/X or dist/bundle.
 */
export function addonCandidates(addon: string, fromDir: string, override: string | undefined, overrideOnly = false): string[] {
  if (override && overrideOnly) return [override];
  const out: string[] = override ? [override] : [];
  for (const up of ['../..', '../../..']) {
    const root = path.resolve(fromDir, up);
    out.push(path.join(root, 'build', 'Release', addon), path.join(root, 'build', 'Debug', addon));
  }
  return [...new Set(out)];
}

/**
 * The first candidate that exists, loads and passes `accept`, or every path tried with why it
 * failed. A TlsshError thrown by `accept` is final and propagates: the addon is there but broken.
 */
export function loadFirstAddon<T>(files: readonly string[], accept: (binding: T, file: string) => void): { binding: T } | { tried: string[] } {
  const tried: string[] = [];
  for (const file of files) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const b = require(file) as T;
      accept(b, file);
      return { binding: b };
    } catch (e) {
      if (isTlsshError(e)) throw e;
      tried.push(`${file} (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
  }
  return { tried };
}
