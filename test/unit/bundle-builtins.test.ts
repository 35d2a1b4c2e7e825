// scripts/bundle.js hands the programs node's builtin modules themselves where tsc wrote a copy
// of them (__importStar), which costs ~3 ms of every start. That is only right while no code uses
// the copy's one extra property, `default`; these tests hold both halves of that bargain.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ensureBundles } from '../helpers/bundles';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUNDLE = path.join(ROOT, 'dist', 'bundle');
const COMPILED = path.join(ROOT, 'dist', 'src');

ensureBundles();

function jsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return jsFiles(p);
    return e.name.endsWith('.js') ? [p] : [];
  });
}

test('no bundle copies a builtin module at start-up', () => {
  const copies = fs.readdirSync(BUNDLE).filter((f) => f.endsWith('.js')).flatMap((f) => {
    const text = fs.readFileSync(path.join(BUNDLE, f), 'utf8');
    return [...text.matchAll(/__importStar\(require\(["'](node:[^"']+)["']\)\)/g)].map((m) => `${f}: ${m[1]}`);
  });
  assert.deepEqual(copies, []);
});

test("no compiled module uses a builtin namespace's `default`, which the bundles do not give", () => {
  const uses: string[] = [];
  for (const file of jsFiles(COMPILED)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:const|var|let) (\w+) = __importStar\(require\("node:[^"]+"\)\);/g)) {
      if (new RegExp(`\\b${m[1]}\\.default\\b|\\b${m[1]}\\["default"\\]`).test(text)) uses.push(`${path.relative(ROOT, file)}: ${m[1]}.default`);
    }
  }
  assert.deepEqual(uses, []);
});
