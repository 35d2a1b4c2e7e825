// tlsshd refuses a broken set-up before it says "listening" or goes to the background: one line
// "tlsshd: FILE: problem (Keyword)", exit 255. `tlsshd -t` makes exactly these checks without
// binding; `tlsshd -T` prints the effective config with secrets masked. Both as an ordinary user.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { loadServerConfig } from '../../src/config';
import { issueCert, makeCa, makeCrl } from '../helpers/ca';
import { isRoot, loginUser, makeServerFixture, runCommand, startTlsshd, writeConfig, type ServerFixture } from '../helpers/server-harness';

const TLSSHD = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshd');
let fx: ServerFixture;
let base: Record<string, string>;

before(() => {
  fx = makeServerFixture('tlsshd-startup-checks');
  // PAM's service file is its own test below; this machine need not have /etc/pam.d/tlsshd.
  base = { ...fx.config, Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(fx.dir, 'run'), LogFile: path.join(fx.dir, 'tlsshd.log'), PAMServiceName: 'other' };
});

function conf(extra: Record<string, string>, name = `c${Math.random().toString(36).slice(2, 8)}.conf`): string {
  const file = path.join(fx.dir, name);
  writeConfig(file, { ...base, ...extra });
  return file;
}

function tlsshd(args: string[], asNobody = false): SpawnSyncReturns<string> {
  const argv = asNobody
    ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, TLSSHD, ...args]
    : [process.execPath, TLSSHD, ...args];
  return spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
}

/** Exit 255 and exactly one line on stderr, matching `re`, and never "listening". */
function refused(r: SpawnSyncReturns<string>, re: RegExp): void {
  assert.equal(r.status, 255, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', re);
  assert.doesNotMatch(r.stdout + r.stderr, /listening/);
}

test('-t on a good set-up: silent, exit 0, nothing bound', () => {
  const r = tlsshd(['-t', '-c', conf({})]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout + r.stderr, '');
});

test('-t refuses what would stop the start: an unsafe RuntimeDir, a LogFile without its directory or through a symlink, a Listen name that does not resolve', () => {
  const open = path.join(fx.dir, 'open-run');
  fs.mkdirSync(open, { mode: 0o777 });
  fs.chmodSync(open, 0o777);
  const unsafe = conf({ RuntimeDir: open });
  refused(tlsshd(['-t', '-c', unsafe]), /^tlsshd: RuntimeDir .*open-run is group- or world-writable/);
  refused(tlsshd(['-f', '-c', unsafe]), /^tlsshd: RuntimeDir .*open-run is group- or world-writable/);
  refused(tlsshd(['-t', '-c', conf({ LogFile: path.join(fx.dir, 'no-dir', 'x.log') })]), /no-dir\/x\.log: cannot open for logging: no such directory \(LogFile\)$/);
  // Root must never append to what a symlink in a writable directory points at.
  const link = path.join(fx.dir, 'link.log');
  const target = path.join(fx.dir, 'target');
  fs.writeFileSync(target, 'kept\n');
  fs.symlinkSync(target, link);
  const linked = conf({ LogFile: link });
  refused(tlsshd(['-t', '-c', linked]), /link\.log: cannot open for logging: it is a symbolic link \(LogFile\)$/);
  refused(tlsshd(['-f', '-c', linked]), /link\.log: cannot open for logging: it is a symbolic link \(LogFile\)$/);
  assert.equal(fs.readFileSync(target, 'utf8'), 'kept\n');
  refused(tlsshd(['-t', '-c', conf({ Listen: 'nosuchhost.invalid' })]), /^tlsshd: Listen nosuchhost\.invalid: cannot resolve it/);
  // Nothing made by -t.
  assert.equal(fs.existsSync(base.RuntimeDir!), false);
});

test('-t says when PAM\'s service file is missing, as the start logs it: PAM then takes /etc/pam.d/other\'s rules', { skip: isRoot ? false : 'PAM is off for a daemon not run as root' }, () => {
  const r = tlsshd(['-t', '-c', conf({ PAMServiceName: 'tlssh-no-such-service' })]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, 'tlsshd: warning: /etc/pam.d/tlssh-no-such-service does not exist: PAM uses /etc/pam.d/other for tlsshd\n');
  // With PAM off there is nothing to say.
  assert.equal(tlsshd(['-t', '-c', conf({ PAMServiceName: 'tlssh-no-such-service', UsePAM: 'no' })]).stderr, '');
});

test('a PidFile that cannot be written: -t warns, and the daemon logs it and serves, as sshd does; never through a symlink', async () => {
  const missing = path.join(fx.dir, 'no-dir', 'tlsshd.pid');
  const t = tlsshd(['-t', '-c', conf({ PidFile: missing })]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /^tlsshd: warning: PidFile .*no-dir\/tlsshd\.pid: its directory does not exist/);
  const target = path.join(fx.dir, 'pid-target');
  fs.writeFileSync(target, 'kept\n');
  const link = path.join(fx.dir, 'link.pid');
  fs.symlinkSync(target, link);
  for (const [pidFile, why] of [[missing, 'no such directory'], [link, 'it is a symbolic link']] as const) {
    const logFile = path.join(fx.dir, `pid-${why.length}.log`);
    const me = loginUser();
    const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, PidFile: pidFile, LogFile: logFile } });
    try {
      await d.waitForLog(new RegExp(`PidFile ${pidFile.replace(/[.]/g, '\\.')}: cannot write it: ${why}; carrying on without it`));
      const r = await runCommand(d.port, fx.client(me.name), 'echo serving');
      assert.equal(r.stdout.toString(), 'serving\n', JSON.stringify(r.error));
    } finally {
      await d.stop();
    }
  }
  assert.equal(fs.readFileSync(target, 'utf8'), 'kept\n');
});

test('a missing KeyFile stops -t, a foreground start and a background start alike', () => {
  const missing = path.join(fx.dir, 'no-such.key');
  const c = conf({ KeyFile: missing });
  const line = new RegExp(`^tlsshd: ${missing}: no such file \\(KeyFile\\)$`);
  refused(tlsshd(['-t', '-c', c]), line);
  refused(tlsshd(['-f', '-c', c]), line);
  refused(tlsshd(['-c', c]), line);
});

test('a key that is not the certificate\'s, a CA file without certificates, a missing CertFile', () => {
  const other = issueCert(makeCa(path.join(fx.dir, 'other-ca')), { cn: 'other', eku: 'serverAuth', fileStem: 'other' });
  refused(tlsshd(['-t', '-c', conf({ KeyFile: other.keyFile })]), new RegExp(`^tlsshd: ${other.keyFile}: does not match the certificate in .*\\(KeyFile\\)$`));
  const notCa = path.join(fx.dir, 'not-a-ca.pem');
  fs.writeFileSync(notCa, 'hello\n');
  refused(tlsshd(['-t', '-c', conf({ ClientCAFile: notCa })]), new RegExp(`^tlsshd: ${notCa}: no PEM certificate in the file \\(ClientCAFile\\)$`));
  refused(tlsshd(['-f', '-c', conf({ CertFile: path.join(fx.dir, 'none.crt') })]), /: no such file \(CertFile\)$/);
});

test('a server key of a type the key agent cannot sign with (Ed25519) is refused; RSA and P-384 keys log in', async () => {
  const ca = fx.ca;
  const edKey = path.join(fx.dir, 'ed.key');
  fs.writeFileSync(edKey, execFileSync('openssl', ['genpkey', '-algorithm', 'ED25519']), { mode: 0o600 });
  const ed = issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth', keyFile: edKey, fileStem: 'ed' });
  const edConf = conf({ CertFile: ed.certFile, KeyFile: ed.keyFile });
  for (const mode of ['-t', '-f']) refused(tlsshd([mode, '-c', edConf]), new RegExp(`^tlsshd: ${edKey}: is an ed25519 key: the server key must be ECDSA .* or RSA.*\\(KeyFile\\)$`));
  const p384Key = path.join(fx.dir, 'p384.key');
  fs.writeFileSync(p384Key, execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']), { mode: 0o600 });
  const me = loginUser();
  for (const server of [
    issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth', keyType: 'rsa', fileStem: 'rsa-server' }),
    issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth', keyFile: p384Key, fileStem: 'p384-server' }),
  ]) {
    const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, CertFile: server.certFile, KeyFile: server.keyFile } });
    try {
      const s = await runCommand(d.port, fx.client(me.name), 'echo signed-by-the-agent');
      assert.equal(s.stdout.toString(), 'signed-by-the-agent\n');
    } finally {
      await d.stop();
    }
  }
});

test('a config file, CA, CRL or key that other users may write is refused at start and by -t', () => {
  const ca = path.join(fx.dir, 'open-ca.pem');
  fs.copyFileSync(fx.caFile, ca);
  fs.chmodSync(ca, 0o666);
  for (const mode of ['-t', '-f']) {
    refused(tlsshd([mode, '-c', conf({ ClientCAFile: ca })]), new RegExp(`^tlsshd: ${ca}: other users may write to it \\(mode 0666\\): run chmod go-w .*\\(ClientCAFile\\)$`));
  }
  fs.chmodSync(ca, 0o620);
  refused(tlsshd(['-t', '-c', conf({ ClientCAFile: ca })]), /mode 0620.*\(ClientCAFile\)$/);
  fs.chmodSync(ca, 0o644);
  assert.equal(tlsshd(['-t', '-c', conf({ ClientCAFile: ca })]).status, 0);
  const c = conf({});
  fs.chmodSync(c, 0o646);
  refused(tlsshd(['-t', '-c', c]), new RegExp(`^tlsshd: bad owner or permissions on ${c}: other users may write to it \\(mode 0646\\)`));
});

test('a CA whose directory other users may write is refused at start and by -t; a sticky one (/tmp) is not', () => {
  const dir = path.join(fx.dir, 'open-dir');
  fs.mkdirSync(dir);
  const ca = path.join(dir, 'ca.pem');
  fs.copyFileSync(fx.caFile, ca);
  fs.chmodSync(dir, 0o777);
  for (const mode of ['-t', '-f']) {
    refused(tlsshd([mode, '-c', conf({ ClientCAFile: ca })]), new RegExp(`^tlsshd: ${ca}: other users may replace it: its directory ${dir} is writable by them \\(mode 0777\\); run chmod go-w ${dir} \\(ClientCAFile\\)$`));
  }
  // Reached through a symlink from a safe directory: the directory it really is in counts too.
  const link = path.join(fx.dir, 'ca-link.pem');
  fs.symlinkSync(ca, link);
  refused(tlsshd(['-t', '-c', conf({ ClientCAFile: link })]), new RegExp(`its directory ${dir} is writable by them`));
  fs.chmodSync(dir, 0o1777);
  assert.equal(tlsshd(['-t', '-c', conf({ ClientCAFile: ca })]).status, 0);
  fs.chmodSync(dir, 0o755);
  if (isRoot) {
    fs.chownSync(dir, 65534, 65534);
    refused(tlsshd(['-t', '-c', conf({ ClientCAFile: ca })]), new RegExp(`its directory ${dir} belongs to uid 65534, neither this user \\(0\\) nor root \\(ClientCAFile\\)$`));
    fs.chownSync(dir, 0, 0);
  }
  assert.equal(tlsshd(['-t', '-c', conf({ ClientCAFile: ca })]).status, 0);
});

test('a CA replaced under a running daemon by someone else, or put where others may replace it, refuses logins until fixed', { skip: isRoot ? false : 'needs root to hand the file to another uid' }, async () => {
  const me = loginUser();
  const dir = path.join(fx.dir, 'live-ca');
  fs.mkdirSync(dir);
  const ca = path.join(dir, 'ca.pem');
  fs.copyFileSync(fx.caFile, ca);
  const id = fx.client(me.name);
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, ClientCAFile: ca } });
  const login = async (): Promise<string> => (await runCommand(d.port, id, 'echo in')).stdout.toString();
  try {
    assert.equal(await login(), 'in\n');
    // What a user who may write the directory does: a file of their own, moved over the CA.
    fs.chmodSync(dir, 0o777);
    const theirs = path.join(dir, 'theirs.pem');
    fs.copyFileSync(fx.caFile, theirs);
    fs.chownSync(theirs, 65534, 65534);
    fs.renameSync(theirs, ca);
    assert.equal(await login(), '');
    await d.waitForLog(new RegExp(`cannot set up TLS: ClientCAFile ${ca}: it belongs to uid 65534, neither this user \\(0\\) nor root; no login until it is fixed`));
    // Root's own file again, but in a directory anyone may write.
    fs.chownSync(ca, 0, 0);
    assert.equal(await login(), '');
    await d.waitForLog(new RegExp(`cannot set up TLS: ClientCAFile ${ca}: other users may replace it: its directory ${dir}`));
    fs.chmodSync(dir, 0o755);
    assert.equal(await login(), 'in\n');
  } finally {
    await d.stop();
  }
});

test('a PEM key of our own that others may read is refused, as sshd refuses such a host key', () => {
  const key = path.join(fx.dir, 'readable.key');
  fs.copyFileSync(fx.config.KeyFile as string, key);
  for (const mode of [0o644, 0o640, 0o604]) {
    fs.chmodSync(key, mode);
    refused(tlsshd(['-t', '-c', conf({ KeyFile: key })]), new RegExp(`^tlsshd: ${key}: private key is readable by others \\(mode 0${mode.toString(8)}\\): run chmod 600 ${key} \\(KeyFile\\)$`));
  }
  fs.chmodSync(key, 0o400);
  assert.equal(tlsshd(['-t', '-c', conf({ KeyFile: key })]).status, 0);
});

test('an expired ClientCRL refuses the start (every login would fail); a current one passes', () => {
  const current = makeCrl(fx.ca, []);
  assert.equal(tlsshd(['-t', '-c', conf({ ClientCRL: current })]).status, 0);
  const expired = makeCrl(fx.ca, [], { expired: true });
  refused(tlsshd(['-t', '-c', conf({ ClientCRL: expired })]), new RegExp(`^tlsshd: ${expired}: CRL expired on \\S+Z \\(nextUpdate\\): every login would be refused \\(ClientCRL\\)$`));
});

test('an expired client CA is one warning naming its own file and keyword, however many names ClientCAPath gives it', () => {
  const day = 24 * 3600 * 1000;
  const old = issueCert(fx.ca, {
    cn: 'retired CA', ca: true, eku: 'none', keyUsage: 'critical,keyCertSign,cRLSign',
    notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day),
  });
  // A c_rehash directory: the CA's file and its hash link, and the current CA as well.
  const dir = path.join(fx.dir, 'ca-path');
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.copyFileSync(old.certFile, path.join(dir, 'retired.crt'));
  fs.symlinkSync('retired.crt', path.join(dir, `${execFileSync('openssl', ['x509', '-noout', '-subject_hash', '-in', old.certFile], { encoding: 'utf8' }).trim()}.0`));
  fs.copyFileSync(fx.ca.certFile, path.join(dir, 'current.crt'));
  const r = tlsshd(['-t', '-c', conf({ ClientCAFile: '', ClientCAPath: dir })]);
  assert.equal(r.status, 0, r.stderr);
  // The hash link sorts first: the warning names it, once, and says ClientCAPath.
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? '', new RegExp(`^tlsshd: warning: ${dir}/[0-9a-f]{8}\\.0: CA ".*retired CA" expired on \\S+Z; no certificate it signed can log in \\(ClientCAPath\\)$`));
  // The same CA in ClientCAFile and in the directory: still one line, naming the file.
  const both = path.join(fx.dir, 'both-cas.pem');
  fs.writeFileSync(both, fs.readFileSync(fx.ca.certFile, 'latin1') + fs.readFileSync(old.certFile, 'latin1'));
  const r2 = tlsshd(['-t', '-c', conf({ ClientCAFile: both, ClientCAPath: dir })]);
  assert.equal(r2.status, 0, r2.stderr);
  assert.deepEqual(r2.stderr.trimEnd().split('\n').map((l) => l.replace(/ expired on .*/, '')), [`tlsshd: warning: ${both}: CA "CN=retired CA"`]);
});

test('a CRL whose signature its CA does not verify is refused', () => {
  const good = fs.readFileSync(makeCrl(fx.ca, []), 'latin1');
  const der = Buffer.from(good.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01; // inside the signature
  const bad = path.join(fx.dir, 'bad-sig.crl');
  fs.writeFileSync(bad, `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`);
  refused(tlsshd(['-t', '-c', conf({ ClientCRL: bad })]), /bad-sig\.crl: CRL 1 is not signed by its issuer's key/);
});

test('-T prints the effective config in the config syntax, secrets masked, and reads back the same', () => {
  const c = conf({ PrivkeyPassword: 'hunter2-secret', AcceptEnv: 'TZ LANG' });
  fs.chmodSync(c, 0o600);
  const r = tlsshd(['-T', '-c', c, '-o', 'LoginGraceTime=1m']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /hunter2/);
  assert.match(r.stdout, /^PrivkeyPassword \*{8}$/m);
  assert.match(r.stdout, /^# TpmSrkPassword is not set$/m);
  assert.match(r.stdout, /^LoginGraceTime 60$/m);
  // Unset paths print as the docs and etc/tlsshd.conf write them.
  assert.match(r.stdout, /^ClientCRL none$/m);
  assert.match(r.stdout, /^PidFile none$/m);
  const back = path.join(fx.dir, 'printed.conf');
  fs.writeFileSync(back, r.stdout.replace('PrivkeyPassword ********', 'PrivkeyPassword hunter2-secret'), { mode: 0o600 });
  const strip = (x: object): Record<string, unknown> => {
    const o = JSON.parse(JSON.stringify(x)) as Record<string, unknown>;
    delete o['origin'];
    return o;
  };
  assert.deepEqual(strip(loadServerConfig({ file: back })), strip(loadServerConfig({ file: c, overrides: ['LoginGraceTime=1m'] })));
});

test('-t and -T work as an ordinary user who can read the files', { skip: isRoot ? false : 'needs root to run as nobody' }, () => {
  // Readable by nobody: the directories and every file but the private key, which is tried both ways.
  for (const d of [fx.dir, path.join(fx.dir, 'ca')]) fs.chmodSync(d, 0o755);
  // A RuntimeDir still to be made: the one other tests' root daemons made is root's, which -t,
  // as the start, refuses to a daemon of another user.
  const c = conf({ RuntimeDir: path.join(fx.dir, 'run-nobody') });
  fs.chmodSync(c, 0o644);
  for (const f of [base['CertFile'], base['ClientCAFile']]) fs.chmodSync(f as string, 0o644);
  const key = base['KeyFile'] as string;
  try {
    fs.chmodSync(key, 0o600);
    refused(tlsshd(['-t', '-c', c], true), new RegExp(`^tlsshd: ${key}: permission denied \\(KeyFile\\)$`));
    fs.chmodSync(key, 0o644);
    const t = tlsshd(['-t', '-c', c], true);
    assert.equal(t.status, 0, t.stderr);
    const p = tlsshd(['-T', '-c', c], true);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /^KeyFile /m);
  } finally {
    fs.chmodSync(key, 0o600);
    fs.chmodSync(fx.dir, 0o700);
  }
});

test('SIGHUP with a broken KeyFile keeps the old configuration, says why, and logins go on', async () => {
  const me = loginUser();
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  try {
    const missing = path.join(fx.dir, 'gone.key');
    fs.appendFileSync(d.configFile, `KeyFile ${missing}\n`);
    process.kill(d.pid, 'SIGHUP');
    await d.waitForLog(new RegExp(`SIGHUP: keeping the old configuration: ${missing}: no such file \\(KeyFile\\)`));
    assert.doesNotMatch(d.logs(), /configuration reloaded/);
    const r = await runCommand(d.port, fx.client(me.name), 'true');
    assert.equal(r.exit?.code, 0, r.error?.code);
  } finally {
    await d.stop();
  }
});
