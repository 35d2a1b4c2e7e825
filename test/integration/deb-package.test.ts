// The Debian package end to end, with the real dpkg: `npm run deb` builds it, `dpkg -i` installs
// it, the installed programs run from another directory and through symlinks, a login goes
// through the installed tlsshd and tlssh (with a PTY, so node-pty's native module is in the
// package), then `dpkg -r` leaves only the conffiles and `dpkg --purge` removes those too.
// Needs root (CI runs as root); it never replaces a tlssh package that is already installed.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { makeTempDir } from '../helpers/ca';
import { isRoot, loginUser, makeServerFixture, writeConfig } from '../helpers/server-harness';
import { startSwtpm } from '../helpers/swtpm';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PKG = 'tlssh';

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, cwd: opts.cwd ?? '/' });
}

function ok(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  const r = run(cmd, args, opts);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: status ${r.status}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function packageStatus(): string {
  return run('dpkg-query', ['-W', '-f=${Status}', PKG]).stdout.trim();
}

const CONFFILES = ['/etc/pam.d/tlsshd', '/etc/tlssh/tlssh.conf', '/etc/tlssh/tlsshd.conf'];
const foreign = CONFFILES.filter((f) => fs.existsSync(f));

const whyNot = !isRoot
  ? 'needs root to run dpkg -i'
  : run('sh', ['-c', 'command -v dpkg-deb && command -v dpkg-shlibdeps']).status !== 0
    ? 'dpkg-deb or dpkg-shlibdeps is missing (Debian package dpkg-dev)'
    : /installed/.test(packageStatus()) || /config-files/.test(packageStatus())
      ? `a ${PKG} package is already on this machine (${packageStatus()}); not replacing it`
      // dpkg --purge at the end would delete them.
      : foreign.length > 0
        ? `${foreign.join(', ')} exist${foreign.length === 1 ? 's' : ''} already; the test's dpkg --purge would remove ${foreign.length === 1 ? 'it' : 'them'}`
        : false;
if (whyNot) process.stderr.write(`# deb-package: skipped: ${whyNot}\n`);

const tmp = makeTempDir('tlssh-deb-test');
fs.chmodSync(tmp, 0o755);
let installed = false;
after(() => {
  // Whatever failed above, the machine gets its state back.
  if (installed) run('dpkg', ['--purge', PKG]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('npm run deb builds a package that installs, works, and removes cleanly', { skip: whyNot }, async (t) => {
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const arch = ok('dpkg', ['--print-architecture']).trim();
  const out = path.join(tmp, 'out');
  const started = Date.now();
  const built = run('npm', ['run', '--silent', 'deb', '--', '--prebuilt', '-o', out], { cwd: ROOT });
  assert.equal(built.status, 0, built.stderr);
  t.diagnostic(`npm run deb took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const deb = path.join(out, `${PKG}_${version}_${arch}.deb`);
  assert.equal(built.stdout.trim(), deb);

  await t.test('control: version, architecture and real Depends', () => {
    const field = (f: string): string => ok('dpkg-deb', ['-f', deb, f]).trim();
    assert.equal(field('Package'), PKG);
    assert.equal(field('Version'), version);
    assert.equal(field('Architecture'), arch);
    const depends = field('Depends');
    for (const dep of [/(^|, )nodejs \(>= 20\)/, /libtss2-esys/, /libtss2-tctildr0/, /libtss2-mu0/, /libtss2-rc0/, /libpam0g/]) {
      assert.match(depends, dep);
    }
  });

  await t.test('contents: code, addon and production modules only', () => {
    const files = ok('dpkg-deb', ['-c', deb]);
    for (const want of [
      './usr/lib/tlssh/dist/bundle/tlsshd.js', './usr/lib/tlssh/dist/bundle/tlsshd.js.cache', './usr/lib/tlssh/dist/bundle/worker-main.js', './usr/lib/tlssh/build/Release/tlssh_tpm.node', './usr/lib/tlssh/build/Release/tlssh_agent_engine.node', './usr/lib/tlssh/build/Release/tlssh_pipe.node', './usr/lib/tlssh/build/Release/tlssh_fork.node',
      './usr/lib/tlssh/node_modules/node-pty/build/Release/pty.node', './usr/lib/tlssh/node_modules/commander/',
      './usr/share/man/man8/tlsshd.8.gz', './usr/share/man/man5/tlsshd.conf.5.gz', './usr/share/man/man1/tlssh-keygen.1.gz',
      './etc/tlssh/tlsshd.conf', './etc/tlssh/tlssh.conf', './etc/pam.d/tlsshd', 'system/tlsshd.service', 'system/tlsshd@.service',
    ]) assert.ok(files.includes(want), `${want} is not in the package`);
    for (const unwanted of [/\/dist\/test\//, /\/dist\/bench\//, /\/usr\/lib\/tlssh\/dist\/.*\.map$/m, /node_modules\/typescript\//, /node_modules\/node-gyp\//, /node-pty\/prebuilds\//]) {
      assert.doesNotMatch(files, unwanted);
    }
    const conffiles = ok('sh', ['-c', `dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles`, 'sh', deb]).trim().split('\n').sort();
    assert.deepEqual(conffiles, CONFFILES);
  });

  ok('dpkg', ['-i', deb]);
  installed = true;
  assert.equal(packageStatus(), 'install ok installed');

  const elsewhere = path.join(tmp, 'elsewhere');
  fs.mkdirSync(elsewhere);

  await t.test('the programs run from any directory, and through symlinks', () => {
    assert.match(ok('tlssh', ['-V'], { cwd: elsewhere }), new RegExp(`^tlssh ${version.replace(/\./g, '\\.')}\\b`));
    assert.match(ok('tlssh-keygen', ['-V'], { cwd: elsewhere }), new RegExp(version.replace(/\./g, '\\.')));
    assert.match(ok('/usr/bin/tlsshd', ['--version'], { cwd: elsewhere }), new RegExp(version.replace(/\./g, '\\.')));
    // The shipped example config names keys that a fresh install does not have yet: -t says so.
    const check = spawnSync('/usr/bin/tlsshd', ['-t'], { cwd: elsewhere, encoding: 'utf8' });
    assert.equal(check.status, 255, check.stderr);
    assert.match(check.stderr, /^tlsshd: \/etc\/tlssh\/tlsshd\.(crt|key): /);
    assert.equal(ok('man', ['-w', 'tlssh'], { cwd: elsewhere }).trim(), '/usr/share/man/man1/tlssh.1.gz');
    assert.equal(ok('man', ['-w', '8', 'tlsshd'], { cwd: elsewhere }).trim(), '/usr/share/man/man8/tlsshd.8.gz');
    // Not whichever node is first in PATH: the one the package depends on.
    for (const p of ['tlsshd', 'tlssh-keygen', 'tlsshctl']) {
      assert.equal(fs.readFileSync(`/usr/bin/${p}`, 'utf8').split('\n')[0], '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS /usr/bin/node --use-openssl-ca');
    }
    // tlssh through sh, which passes on the signals its parent ignored (bin/tlssh).
    const [shebang, shLine] = fs.readFileSync('/usr/bin/tlssh', 'utf8').split('\n');
    assert.equal(shebang, '#!/bin/sh');
    assert.match(shLine ?? '', /; exec \/usr\/bin\/node --use-openssl-ca "\$0" "\$@"$/);
    // A symlink to the /usr/bin symlink, in another directory, under another name.
    fs.symlinkSync('/usr/bin/tlssh', path.join(tmp, 'my-tlssh'));
    assert.match(ok(path.join(tmp, 'my-tlssh'), ['-V'], { cwd: elsewhere }), /^tlssh /);
  });

  await t.test('the installed TPM addon finds its libtss2 libraries: a key made in swtpm', async () => {
    const tpm = await startSwtpm();
    try {
      const key = path.join(elsewhere, 'tpm.key');
      ok('tlssh-keygen', ['--tpm', '--no-password', '--tcti', tpm.tcti, '-o', key], { cwd: elsewhere });
      assert.match(ok('tlssh-keygen', ['-l', key], { cwd: elsewhere }), /TPM key/);
    } finally {
      await tpm.stop();
    }
  });

  await t.test('a PTY login through the installed tlsshd -f and tlssh', async () => {
    const fx = makeServerFixture('tlssh-deb-login');
    const me = loginUser();
    const conf = path.join(fx.dir, 'tlsshd.conf');
    writeConfig(conf, { ...fx.config, ...me.config, Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(fx.dir, 'run') });
    // The daemon through a symlink too: its workers are found next to its real path.
    const daemonLink = path.join(tmp, 'my-tlsshd');
    fs.symlinkSync('/usr/bin/tlsshd', daemonLink);
    // tlsshd -t, as the unit's ExecStartPre runs it: the keys and certificates load.
    const check = spawnSync(daemonLink, ['-t', '-c', conf], { cwd: elsewhere, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stderr, '');
    const daemon = spawn(daemonLink, ['-f', '-c', conf], { cwd: elsewhere, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    try {
      const port = await new Promise<number>((resolve, reject) => {
        daemon.stderr.setEncoding('utf8');
        daemon.stderr.on('data', (s: string) => {
          log += s;
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
          if (m) resolve(Number(m[1]));
        });
        daemon.once('exit', (code) => reject(new Error(`tlsshd exited with ${code}: ${log}`)));
      });
      const id = fx.client(me.name);
      const clientConf = path.join(fx.dir, 'tlssh.conf');
      writeConfig(clientConf, { Port: String(port), ServerCAFile: id.caFile, CertFile: id.certFile, KeyFile: id.keyFile });
      const r = spawnSync('tlssh', ['-tt', '-c', clientConf, `${me.name}@127.0.0.1`, 'tty; echo "ran in $PWD"'], {
        encoding: 'utf8', cwd: elsewhere, timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.equal(r.status, 0, `${r.stderr}\n${log}`);
      assert.match(r.stdout, /^\/dev\/pts\/\d+\r?$/m);
      assert.match(r.stdout, new RegExp(`ran in ${me.home}`));
    } finally {
      daemon.kill('SIGTERM');
      fs.rmSync(fx.dir, { recursive: true, force: true });
    }
  });

  await t.test('the installed units pass systemd-analyze verify', (st) => {
    const listed = ok('dpkg', ['-L', PKG]).split('\n');
    const units = ['/tlsshd.service', '/tlsshd@.service'].map((name) => {
      const unit = listed.find((f) => f.endsWith(name));
      assert.ok(unit, `no ${name.slice(1)} in the package`);
      return unit;
    });
    if (run('sh', ['-c', 'command -v systemd-analyze']).status !== 0) {
      st.skip('systemd-analyze is not installed (Debian package systemd)');
      return;
    }
    for (const unit of units) {
      const r = run('systemd-analyze', ['verify', unit]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '');
    }
  });

  await t.test('dpkg -r leaves only the conffiles; dpkg --purge removes them', () => {
    ok('dpkg', ['-r', PKG]);
    assert.equal(packageStatus(), 'deinstall ok config-files');
    for (const gone of ['/usr/lib/tlssh', '/usr/bin/tlssh', '/usr/bin/tlsshd', '/usr/bin/tlssh-keygen', '/usr/share/man/man1/tlssh.1.gz']) {
      assert.equal(fs.existsSync(gone), false, `${gone} is still there after dpkg -r`);
    }
    // What dpkg still lists: the conffiles and the directories that hold them.
    const left = ok('dpkg', ['-L', PKG]).split('\n').filter((f) => f && fs.existsSync(f) && !fs.statSync(f).isDirectory());
    assert.deepEqual(left.sort(), CONFFILES);
    ok('dpkg', ['--purge', PKG]);
    installed = false;
    for (const f of CONFFILES) assert.equal(fs.existsSync(f), false, `${f} is still there after dpkg --purge`);
    assert.equal(packageStatus(), '');
  });
});
