// The programs run their bundles with the V8 code cache made at build time, and a cache that does
// not belong to the bundle beside it, or to this node, is never used: the bundle then runs from
// its own text. (Whether the cache makes start-up faster is for the benchmark, not a test.)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ensureBundles } from '../helpers/bundles';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUNDLE = path.join(ROOT, 'dist', 'bundle');
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

ensureBundles();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-cache-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of bin/ and dist/bundle, to tamper with. */
function copyTree(): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'tree-'));
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(BUNDLE, path.join(dir, 'dist', 'bundle'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function run(root: string, program: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [path.join(root, 'bin', program), ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, TLSSH_DEBUG_CODE_CACHE: '1' },
  });
}

for (const p of ['tlssh', 'tlsshd', 'tlssh-keygen']) {
  test(`${p} runs its bundle with the code cache made for it`, () => {
    const r = run(ROOT, p, ['-V']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.includes(version), r.stdout);
    assert.match(r.stderr, new RegExp(`code cache for .*${p}\\.js: used`));
  });
}

test('the worker bundle that the listener forks has its cache too', () => {
  // worker-main.js without an IPC channel: it loads, finds nothing to serve, and exits.
  const r = spawnSync(process.execPath, [path.join(BUNDLE, 'worker-main.js')], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, TLSSH_DEBUG_CODE_CACHE: '1' },
  });
  assert.match(r.stderr, /code cache for .*tlsshd-worker\.js: used/);
});

test('a rebuilt bundle of the same length runs its new code, not the old cache', () => {
  // V8 itself checks only the source's length: without the bundle's hash in the key, the cached
  // code of the old bundle would run and print the old version.
  const dir = copyTree();
  const file = path.join(dir, 'dist', 'bundle', 'tlssh.js');
  const src = fs.readFileSync(file, 'utf8');
  const other = version.replace(/\d/g, (d) => String((Number(d) + 1) % 10));
  assert.equal(other.length, version.length);
  assert.ok(src.includes(`"${version}"`));
  fs.writeFileSync(file, src.replaceAll(`"${version}"`, `"${other}"`));
  const r = run(dir, 'tlssh', ['-V']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `tlssh ${other}, Node ${process.version}, OpenSSL ${process.versions.openssl}`);
  assert.match(r.stderr, /code cache for .*: none/);
});

test('a cache made by another node is not used, and the program runs', () => {
  const dir = copyTree();
  const cache = path.join(dir, 'dist', 'bundle', 'tlssh.js.cache');
  const raw = fs.readFileSync(cache);
  const nl = raw.indexOf(0x0a);
  const key = raw.toString('utf8', 0, nl).replace(process.version, 'v0.0.0');
  fs.writeFileSync(cache, Buffer.concat([Buffer.from(key), raw.subarray(nl)]));
  const r = run(dir, 'tlssh', ['-V']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes(version));
  assert.match(r.stderr, /code cache for .*: none/);
});

test('a cache that V8 rejects is ignored, and the program runs', () => {
  // The key and the bundle's copy match but V8's data is damaged: V8's own check refuses it.
  const dir = copyTree();
  const cache = path.join(dir, 'dist', 'bundle', 'tlssh.js.cache');
  const raw = fs.readFileSync(cache);
  const start = raw.indexOf(0x0a) + 1 + fs.statSync(path.join(dir, 'dist', 'bundle', 'tlssh.js')).size;
  const data = Buffer.from(raw.subarray(start));
  for (let i = 0; i < 64 && i < data.length; i++) data[i] = (data[i] ?? 0) ^ 0xff;
  fs.writeFileSync(cache, Buffer.concat([raw.subarray(0, start), data]));
  const r = run(dir, 'tlssh', ['-V']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes(version));
  assert.match(r.stderr, /code cache for .*: rejected/);
});
