// bin/tlssh, bin/tlsshd, bin/tlssh-keygen, bin/tlsshctl: through a symlink, from any directory, they run; a
// copy elsewhere (without the code next to it) fails with one line and status 255, never a
// stack trace. And the `npm pack` tarball holds what they need to run.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ensureBundles } from '../helpers/bundles';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PROGRAMS = ['tlssh', 'tlsshd', 'tlssh-keygen', 'tlsshctl'] as const;
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

ensureBundles();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-bin-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const elsewhere = fs.mkdtempSync(path.join(tmp, 'cwd-'));

function runIt(file: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(file, args, { encoding: 'utf8', cwd: elsewhere, timeout: 30_000 });
}

for (const p of PROGRAMS) {
  test(`${p} runs through a chain of symlinks, from another directory, and names its version, Node's and OpenSSL's`, () => {
    const link1 = path.join(tmp, `${p}-link1`);
    const link2 = path.join(tmp, 'sub', `my-${p}`);
    fs.mkdirSync(path.dirname(link2), { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'bin', p), link1);
    fs.symlinkSync(path.relative(path.dirname(link2), link1), link2);
    const r = runIt(link2, ['-V']);
    assert.equal(r.status, 0, r.stderr);
    // As `ssh -V` names its OpenSSL: TLS behaviour comes from the one inside Node.
    assert.equal(r.stdout, `${p} ${version}, Node ${process.version}, OpenSSL ${process.versions.openssl}\n`);
  });

  test(`a copy of bin/${p} without its code says so in one line, status 255`, () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'copy-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    const copy = path.join(dir, 'bin', p);
    fs.copyFileSync(path.join(ROOT, 'bin', p), copy);
    fs.chmodSync(copy, 0o755);
    const r = runIt(copy, ['-V']);
    assert.equal(r.status, 255);
    assert.equal(r.stdout, '');
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', new RegExp(`^${p}: .*${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*symlink`));
  });
}

/** A program's start: its first line, and bin/tlssh's line for sh after it. */
function launcherHead(p: string): string {
  const lines = fs.readFileSync(path.join(ROOT, 'bin', p), 'utf8').split('\n');
  return lines[1]?.startsWith('":" //;') ? lines.slice(0, 2).join('\n') : lines[0]!;
}

for (const p of PROGRAMS) {
  test(`${p} starts node without NODE_EXTRA_CA_CERTS (node would parse that file at start) and with --use-openssl-ca`, () => {
    // The program's own start, on a script that shows what node was started with.
    const probe = path.join(tmp, `env-probe-${p}`);
    fs.writeFileSync(probe, `${launcherHead(p)}\nprocess.stdout.write(String(process.env.NODE_EXTRA_CA_CERTS) + ' ' + process.execArgv.join(' '));\n`, { mode: 0o755 });
    const r = spawnSync(probe, [], { encoding: 'utf8', cwd: elsewhere, env: { ...process.env, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'undefined --use-openssl-ca');
  });
}

test('tlssh hands node the signals its parent ignored, which node itself resets (TLSSH_SIGIGN)', () => {
  const probe = path.join(tmp, 'sigign-probe');
  fs.writeFileSync(probe, `${launcherHead('tlssh')}\nprocess.stdout.write(String(process.env.TLSSH_SIGIGN) + ' ' + JSON.stringify(process.argv.slice(2)));\n`, { mode: 0o755 });
  // SIGHUP is bit 0 and SIGTERM bit 14 of /proc's mask; arguments pass through untouched.
  const r = spawnSync('bash', ['-c', `trap '' HUP TERM; exec "$0" "$@"`, probe, 'a b', '', '$HOME'], { encoding: 'utf8', cwd: elsewhere });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${(1n | (1n << 14n)).toString(16).padStart(16, '0')} ["a b","","$HOME"]`);
});

test('a copy whose bundle is there but the loader is missing names the module, status 255', () => {
  // dist/bundle beside the copy, without run-bundle.js: the program cannot be started.
  const dir = fs.mkdtempSync(path.join(tmp, 'noloader-'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.cpSync(path.join(ROOT, 'dist', 'bundle'), path.join(dir, 'dist', 'bundle'), { recursive: true });
  fs.rmSync(path.join(dir, 'dist', 'bundle', 'run-bundle.js'));
  fs.copyFileSync(path.join(ROOT, 'bin', 'tlssh'), path.join(dir, 'bin', 'tlssh'));
  fs.chmodSync(path.join(dir, 'bin', 'tlssh'), 0o755);
  const r = runIt(path.join(dir, 'bin', 'tlssh'), ['-V']);
  assert.equal(r.status, 255);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', /^tlssh: Cannot find module '[^']+run-bundle\.js'.*npm ci/);
});

test('npm pack makes a tarball whose programs run, with every compiled module and no tests', () => {
  const dest = fs.mkdtempSync(path.join(tmp, 'pack-'));
  // --ignore-scripts: dist/ is built already; prepack would only compile it again.
  const r = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const packed = (JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0];
  assert.ok(packed);
  const files = new Set(packed.files.map((f) => f.path));
  for (const want of ['package.json', 'binding.gyp', 'native/addon.cc', 'man/tlssh.1', 'man/tlsshd.8', 'etc/tlsshd.conf']) {
    assert.ok(files.has(want), `npm pack leaves out ${want}`);
  }
  for (const f of files) assert.doesNotMatch(f, /^(dist\/(test|bench|src)\/|test\/|src\/)|\.map$/, `npm pack ships ${f}`);
  // The whole of dist/bundle: each program's bundle and code cache, the workers' included.
  const bundled = fs.readdirSync(path.join(ROOT, 'dist', 'bundle'));
  for (const want of ['run-bundle.js', 'worker-main.js', 'tlssh.js', 'tlssh.js.cache', 'tlsshd.js', 'tlsshd.js.cache', 'tlsshd-worker.js', 'tlsshd-worker.js.cache', 'tlssh-keygen.js', 'tlssh-keygen.js.cache', 'tlsshctl.js', 'tlsshctl.js.cache', 'tlssh-full.js', 'tlssh-full.js.cache', 'tlssh-master.js', 'tlssh-master.js.cache', 'tlssh-master-main.js']) {
    assert.ok(bundled.includes(want), `dist/bundle has no ${want}`);
  }
  for (const f of bundled) assert.ok(files.has(`dist/bundle/${f}`), `npm pack leaves out dist/bundle/${f}`);
  // Unpacked, with the dependencies npm would install next to it, each program starts.
  assert.equal(spawnSync('tar', ['-xzf', path.join(dest, packed.filename), '-C', dest]).status, 0);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dest, 'package', 'node_modules'));
  for (const p of PROGRAMS) {
    const v = runIt(path.join(dest, 'package', 'bin', p), ['-V']);
    assert.equal(v.status, 0, `${p} from the npm pack tarball: ${v.stderr}`);
    assert.ok(v.stdout.includes(version), v.stdout);
  }
});
