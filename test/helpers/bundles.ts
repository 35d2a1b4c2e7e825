// The tests run bin/*, which run the bundles in dist/bundle (scripts/bundle.js), not dist/src.
// `npx tsc` alone does not bundle, so a test file started with `node --test` would run the code
// bundled before the last compile: bundle again whenever dist/src has something newer.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const OUTPUTS = ['tlssh', 'tlsshd', 'tlsshd-worker', 'tlssh-keygen', 'tlsshctl'].flatMap((p) => [`${p}.js`, `${p}.js.cache`]);

function mtimeOr(file: string, missing: number): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return missing;
  }
}

export function ensureBundles(): void {
  const src = path.join(ROOT, 'dist', 'src');
  let newest = 0;
  for (const f of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (f.endsWith('.js')) newest = Math.max(newest, mtimeOr(path.join(src, f), 0));
  }
  const oldest = Math.min(...OUTPUTS.map((f) => mtimeOr(path.join(ROOT, 'dist', 'bundle', f), -1)));
  if (oldest >= newest) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle.js')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`scripts/bundle.js failed (status ${r.status ?? r.signal})`);
}
