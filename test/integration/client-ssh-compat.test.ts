// The real bin/tlssh against a real tlsshd, used as an ssh user and ssh's callers use ssh:
// OpenSSH's option letters and keywords, options after the host, -G, -i, -N, key file modes,
// errors an administrator can act on, -v detail, and Ctrl-C on a command without a terminal.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueCert, makeCa } from '../helpers/ca';
import { startTlsshd, type TlsshdHandle } from '../helpers/server-harness';
import { TLSSH, errorCodeOf, failureLines, runTlssh, startFixture, type ClientFixture } from './client-fixture';

/** A real sshd on 127.0.0.1 when it can run (as root), else a server that sends sshd's banner. */
async function startSshServer(dir: string): Promise<{ port: number; fake: boolean; stop(): Promise<void> }> {
  const sshd = '/usr/sbin/sshd';
  if (process.getuid?.() === 0 && fs.existsSync(sshd)) {
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    if (!fs.existsSync(hostKey)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const child = spawn(sshd, ['-D', '-e', '-f', '/dev/null', '-h', hostKey, '-p', String(port), '-o', 'ListenAddress=127.0.0.1', '-o', 'PidFile=none'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const listening = await new Promise<boolean>((resolve) => {
      let err = '';
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes('Server listening')) resolve(true);
      });
      child.once('exit', () => resolve(false));
    });
    if (listening) {
      return { port, fake: false, stop: () => new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }) };
    }
  }
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.write('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, fake: true, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function writeConf(fx: ClientFixture, name: string, lines: Record<string, string>): string {
  const f = path.join(fx.dir, name);
  fs.writeFileSync(f, Object.entries(lines).map(([k, v]) => `${k} ${v}\n`).join(''), { mode: 0o600 });
  return f;
}

/** The fixture's client key and certificate copied to DIR/STEM.key and DIR/STEM.crt; returns DIR. */
function identityCopy(fx: ClientFixture, dir: string, stem: string): string {
  const id = path.join(fx.dir, dir);
  fs.mkdirSync(id, { mode: 0o700 });
  fs.copyFileSync(fx.client.keyFile, path.join(id, `${stem}.key`));
  fs.chmodSync(path.join(id, `${stem}.key`), 0o600);
  fs.copyFileSync(fx.client.certFile, path.join(id, `${stem}.crt`));
  return id;
}

describe('tlssh as ssh is used', () => {
  let fx: ClientFixture;
  let conf: string[];
  before(async () => {
    fx = await startFixture();
    conf = ['-F', fx.configFile];
  });
  after(async () => {
    await fx?.stop();
  });

  it('parses options after the host, up to the first word of the command', async () => {
    const wrongPort = writeConf(fx, 'wrong-port.conf', { Port: '1', ServerCAFile: fx.ca.certFile, CertFile: fx.client.certFile, KeyFile: fx.client.keyFile });
    const r = await runTlssh(['-F', wrongPort, 'localhost', '-p', String(fx.server.port), 'echo', '-p', 'x']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), '-p x\n');
    // `--` ends them: -p 1 is the command's, so the port stays the config's right one.
    const t = await runTlssh([...conf, 'localhost', '--', 'echo', '-p', '1']);
    assert.equal(t.status, 0, t.stderr);
    assert.equal(t.stdout.toString(), '-p 1\n');
  });

  it("runs with Ansible's default ssh arguments and ssh's host-key options, noting each at -v", async () => {
    const r = await runTlssh([
      ...conf, '-v', '-C', '-x', '-A', '-o', 'ControlMaster=auto', '-o', 'ControlPersist=60s', '-o', 'KbdInteractiveAuthentication=no',
      '-o', 'PreferredAuthentications=gssapi-with-mic,gssapi-keyex,hostbased,publickey', '-o', 'PasswordAuthentication=no',
      '-o', 'ConnectTimeout=10', '-o', 'ControlPath="/tmp/ansible-cp/abc"', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null', '-o', `User=${fx.user}`, 'localhost', "/bin/sh -c 'echo ok'",
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'ok\n');
    for (const k of ['-C', '-x', '-A', 'KbdInteractiveAuthentication', 'PreferredAuthentications', 'PasswordAuthentication', 'StrictHostKeyChecking', 'UserKnownHostsFile']) {
      assert.match(r.stderr, new RegExp(`^debug1: (command line: )?${k}\\b.* ignored: `, 'm'), k);
    }
    // ControlMaster and friends are real (client-mux.test.ts): with no such directory for the
    // socket there is no master, and tlssh connects directly, as ssh does.
    assert.match(r.stderr, /^tlssh: ControlPath directory \/tmp\/ansible-cp: no such directory; connecting without sharing$/m);
    // Without -v the notes stay silent.
    const q = await runTlssh([...conf, '-C', '-o', 'StrictHostKeyChecking=no', 'localhost', 'true']);
    assert.equal(q.status, 0);
    assert.equal(q.stderr, '');
  });

  it("takes the options scp and sftp give their ssh", async () => {
    // OpenSSH 9's scp -O: ssh -x -oPermitLocalCommand=no -oClearAllForwardings=yes
    // -oRemoteCommand=none -oRequestTTY=no -oForwardAgent=no -l USER -- HOST COMMAND
    const r = await runTlssh([
      ...conf, '-x', '-oPermitLocalCommand=no', '-oClearAllForwardings=yes', '-oRemoteCommand=none', '-oRequestTTY=no',
      '-oForwardAgent=no', '-oForwardX11 no', '-c', 'aes128-ctr', '-l', fx.user, '--', 'localhost', 'echo', 'scp-ok',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'scp-ok\n');
    assert.equal(r.stderr, '');
  });

  it('RequestTTY force asks for a terminal as -tt does; -T still wins', async () => {
    const r = await runTlssh([...conf, '-o', 'RequestTTY=force', 'localhost', 'tty']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.toString(), /^\/dev\/pts\/\d+\r?\n/);
    const t = await runTlssh([...conf, '-T', '-o', 'RequestTTY=force', 'localhost', 'tty']);
    assert.equal(t.stdout.toString(), 'not a tty\n');
  });

  it('-X, -Y and ForwardX11=yes get one warning line, and the session runs; -q silences it', async () => {
    const warning = 'tlssh: X11 forwarding is not supported; the session goes on without it\n';
    for (const ask of [['-X'], ['-Y'], ['-o', 'ForwardX11=yes'], ['-o', 'ForwardX11 yes']]) {
      const r = await runTlssh([...conf, ...ask, 'localhost', 'echo ran']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.toString(), 'ran\n');
      assert.equal(r.stderr, warning, ask.join(' '));
    }
    for (const quiet of [['-q', '-X'], ['-o', 'ForwardX11=no'], ['-x'], ['-X', '-o', 'LogLevel=QUIET', '-o', 'LogLevel=INFO'], ['-o', 'LogLevel=INFO', '-q', '-X']]) {
      const r = await runTlssh([...conf, ...quiet, 'localhost', 'true']);
      assert.equal(r.stderr, '', quiet.join(' '));
    }
    // The first -o LogLevel decides, as for every keyword, and -q wins over any -o.
    const louder = await runTlssh([...conf, '-X', '-o', 'LogLevel=INFO', '-o', 'LogLevel=QUIET', 'localhost', 'true']);
    assert.equal(louder.stderr, warning);
    // Nothing connects for -G and -O, so nothing is forwarded or not: no warning there.
    const dump = await runTlssh([...conf, '-X', '-G', 'localhost']);
    assert.equal(dump.status, 0, dump.stderr);
    assert.equal(dump.stderr, '');
    const check = await runTlssh([...conf, '-X', '-S', path.join(fx.dir, 'no-master'), '-O', 'check', 'localhost']);
    assert.doesNotMatch(check.stderr, /X11/);
  });

  it('refuses forwarding with one line and status 255', async () => {
    const r = await runTlssh([...conf, '-L', '8080:localhost:80', 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(failureLines(r.stderr).length, 1);
    assert.match(r.stderr, /^tlssh: -L is not supported: /);
  });

  it('-G prints the configuration in ssh\'s lower-case form and exits 0 without connecting', async () => {
    // git runs `ssh -G -p PORT host` to learn whether its ssh takes OpenSSH's options.
    const r = await runTlssh([...conf, '-G', '-p', '2222', '-l', 'bob', 'example.invalid']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.toString().split('\n');
    for (const l of ['host example.invalid', 'hostname example.invalid', 'port 2222', 'user bob', `certfile ${fx.client.certFile}`, 'batchmode no', 'controlmaster false']) {
      assert.ok(lines.includes(l), `${l} in\n${r.stdout.toString()}`);
    }
    // The master's socket as it will be used, tokens expanded, as ssh -G prints it.
    const cm = await runTlssh([...conf, '-G', '-p', '2222', '-l', 'bob', '-o', 'ControlMaster=yes', '-o', 'ControlPath=/tmp/cm-%r@%h:%p-%%', 'example.invalid']);
    const cmLines = cm.stdout.toString().split('\n');
    for (const l of ['controlmaster true', 'controlpath /tmp/cm-bob@example.invalid:2222-%']) {
      assert.ok(cmLines.includes(l), `${l} in\n${cm.stdout.toString()}`);
    }
    // What -G prints reads back as a configuration that gives the same (ssh's true and false
    // included, as in "controlmaster false"), as ssh's does.
    const again = path.join(fx.dir, 'from-G.conf');
    fs.writeFileSync(again, r.stdout.toString().split('\n').slice(1).join('\n'), { mode: 0o600 });
    const back = await runTlssh(['-F', again, '-G', 'example.invalid']);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(back.stdout.toString(), r.stdout.toString());
  });

  it('an ssh-style config whose "Host *" comes last is taken the tlssh way, with a warning that says how to fix it; -q silences it', async () => {
    // ~/.ssh/config's usual layout: specific hosts first, defaults last (ssh takes the first value).
    const file = path.join(fx.dir, 'ssh-layout.conf');
    fs.writeFileSync(file, `${fs.readFileSync(fx.configFile, 'utf8')}\nHost db\n  Port 2232\n  User postgres\nHost *\n  Port 2000\n  User postgres\n`, { mode: 0o600 });
    const r = await runTlssh(['-F', file, '-G', 'db']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.toString().split('\n').includes('port 2000'));
    // Only Port differs between the blocks: one line, naming both places.
    assert.equal(r.stderr, `tlssh: ${file}:${fs.readFileSync(file, 'utf8').split('\n').indexOf('  Port 2000') + 1}: Port in "Host *" overrides Port in "Host db" (${file}:${fs.readFileSync(file, 'utf8').split('\n').indexOf('  Port 2232') + 1}) for db: in tlssh the last matching section wins, in ssh the first; put general blocks such as "Host *" before specific ones\n`);
    assert.equal((await runTlssh(['-F', file, '-q', '-G', 'db'])).stderr, '');
    // A host only the catch-all matches has nothing to be warned about.
    assert.equal((await runTlssh(['-F', file, '-G', 'web'])).stderr, '');
  });

  it('-i takes the key and finds its certificate beside it', async () => {
    const id = identityCopy(fx, 'ident', 'me');
    const noId = writeConf(fx, 'no-identity.conf', { Port: String(fx.server.port), ServerCAFile: fx.ca.certFile, CertFile: '/nonexistent.crt', KeyFile: '/nonexistent.key' });
    const r = await runTlssh(['-F', noId, '-i', path.join(id, 'me.key'), 'localhost', 'echo in']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'in\n');
  });

  it('IdentityFile with %-tokens logs in with the destination\'s own key; a missing one fails the login but only warns under -G', async () => {
    // %h is the host connected to; its key and certificate are named after it.
    const id = identityCopy(fx, 'per-host', 'localhost');
    const perHost = writeConf(fx, 'per-host.conf', { Port: String(fx.server.port), ServerCAFile: fx.ca.certFile, IdentityFile: path.join(id, '%h.key') });
    const r = await runTlssh(['-F', perHost, 'localhost', 'echo in']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'in\n');
    const dump = await runTlssh(['-F', perHost, '-G', 'localhost']);
    assert.ok(dump.stdout.toString().split('\n').includes(`keyfile ${path.join(id, 'localhost.key')}`), dump.stdout.toString());
    // Another host has no key of its own: the login fails before connecting, -G only warns.
    const missing = path.join(id, '127.0.0.1.key');
    const other = await runTlssh(['-F', perHost, '-v', '127.0.0.1', 'echo in']);
    assert.equal(other.status, 255);
    assert.equal(errorCodeOf(other.stderr), 'TLSSH_ERR_TLS_KEY');
    assert.match(other.stderr, new RegExp(`identity file ${missing.replace(/[.]/g, '\\.')}: no such file`));
    const dumpOther = await runTlssh(['-F', perHost, '-G', '127.0.0.1']);
    assert.equal(dumpOther.status, 0, dumpOther.stderr);
    assert.equal(dumpOther.stderr, `tlssh: warning: identity file ${missing}: no such file\n`);
    assert.ok(dumpOther.stdout.toString().split('\n').includes(`keyfile ${missing}`), dumpOther.stdout.toString());
  });

  it('refuses a private key file others can read, naming the file and its mode', async () => {
    const key = path.join(fx.dir, 'open.key');
    fs.copyFileSync(fx.client.keyFile, key);
    fs.chmodSync(key, 0o644);
    const r = await runTlssh([...conf, '-v', '-o', `KeyFile=${key}`, 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_KEY_INSECURE_MODE');
    const line = failureLines(r.stderr).at(-1)!;
    assert.ok(line.includes(key) && line.includes('0644'), line);
    fs.chmodSync(key, 0o640);
    assert.equal(errorCodeOf((await runTlssh([...conf, '-v', '-o', `KeyFile=${key}`, 'localhost', 'true'])).stderr), 'TLSSH_ERR_KEY_INSECURE_MODE');
    fs.chmodSync(key, 0o600);
    assert.equal((await runTlssh([...conf, '-o', `KeyFile=${key}`, 'localhost', 'true'])).status, 0);
  });

  it('-v shows the files read, the identity, the server certificate, TLS version and cipher, and times', async () => {
    const r = await runTlssh([...conf, '-vvv', 'localhost', 'true']);
    assert.equal(r.status, 0, r.stderr);
    for (const re of [
      new RegExp(`^debug1: Reading configuration data ${fx.configFile}$`, 'm'),
      new RegExp(`^debug1: identity: certificate ${fx.client.certFile} .*serial ${fx.client.serial}, valid until `, 'm'),
      new RegExp(`^debug1: identity: key file ${fx.client.keyFile}$`, 'm'),
      /^debug1: connected to localhost port \d+ in \d+ ms$/m,
      /^debug1: TLS handshake done in \d+ ms: TLSv1\.3 TLS_\w+$/m,
      /^debug1: server certificate: subject "CN=localhost", issuer ".*tlssh test CA"$/m,
      /^debug1: server certificate: subjectAltName DNS:localhost, IP Address:127\.0\.0\.1; serial [0-9A-F]+; valid .* to /m,
      /^debug1: server certificate: SHA256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m,
      /^debug1: session started as .* \(\d+ ms after the request\)$/m,
      /^debug2: send session-request$/m,
      /^debug3: server chain depth 0: subject "CN=localhost", issuer "CN=tlssh test CA"/m,
      new RegExp(`^debug3: setting port ${fx.server.port} \\(${fx.configFile}:\\d+\\)$`, 'm'),
    ]) {
      assert.match(r.stderr, re);
    }
    // Each -v adds a level, as in ssh.
    const vv = await runTlssh([...conf, '-vv', 'localhost', 'true']);
    assert.match(vv.stderr, /^debug2: /m);
    assert.doesNotMatch(vv.stderr, /^debug3: /m);
    const v = await runTlssh([...conf, '-v', 'localhost', 'true']);
    assert.doesNotMatch(v.stderr, /^debug2: /m);
  });

  it('-b connects from the given local address, and says so when it cannot', async () => {
    const r = await runTlssh([...conf, '-v', '-b', '127.0.0.1', 'localhost', 'true']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^debug1: connected to localhost port \d+ from 127\.0\.0\.1 in \d+ ms$/m);
    // 192.0.2.1 (TEST-NET-1) is on no interface here.
    const bad = await runTlssh([...conf, '-v', '-b', '192.0.2.1', '127.0.0.1', 'true']);
    assert.equal(bad.status, 255);
    assert.equal(errorCodeOf(bad.stderr), 'TLSSH_ERR_CONNECT');
    assert.match(failureLines(bad.stderr).at(-1)!, /^tlssh: bind to 192\.0\.2\.1: Cannot assign requested address/);
  });

  it('-N authenticates and runs nothing', async () => {
    // As ssh -N, a command given anyway is not run.
    const r = await runTlssh([...conf, '-N', 'localhost', 'echo ran']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.length, 0);
    // No session, so no terminal to be refused: ssh -N says nothing of one either.
    const quiet = await runTlssh([...conf, '-N', 'localhost']);
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /Pseudo-terminal/);
    // It does connect and authenticate: a refused certificate fails it.
    const other = makeCa(fs.mkdtempSync(path.join(fx.dir, 'n-')), 'unrelated CA');
    const bad = await runTlssh([...conf, '-N', '-o', `ServerCAFile=${other.certFile}`, 'localhost']);
    assert.equal(bad.status, 255);
  });

  it('-N says 255 when the server would refuse the login: an untrusted certificate, no such user, another user asked for', async () => {
    // The server's first ping says the login was accepted; without it -N would wait for its
    // keepalive, a minute: the bound makes that a failure.
    const ok = await runTlssh([...conf, '-v', '-N', 'localhost'], { killAfterMs: 30_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /^debug1: -N: logged in; no command to run$/m);
    // The server's refusals come back with its words, as a command's would.
    const other = makeCa(fs.mkdtempSync(path.join(fx.dir, 'nu-')), 'N other CA');
    const stranger = issueCert(other, { cn: fx.user, eku: 'clientAuth' });
    const untrusted = await runTlssh([...conf, '-v', '-N', '-o', `CertFile=${stranger.certFile}`, '-o', `KeyFile=${stranger.keyFile}`, 'localhost']);
    assert.equal(untrusted.status, 255, untrusted.stderr);
    assert.equal(errorCodeOf(untrusted.stderr), 'TLSSH_ERR_CLIENT_CERT_UNTRUSTED');
    const nobody = issueCert(fx.ca, { cn: 'tlssh-no-such-user-n', eku: 'clientAuth' });
    const noUser = await runTlssh([...conf, '-v', '-N', '-o', `CertFile=${nobody.certFile}`, '-o', `KeyFile=${nobody.keyFile}`, 'localhost']);
    assert.equal(noUser.status, 255, noUser.stderr);
    assert.equal(errorCodeOf(noUser.stderr), 'TLSSH_ERR_NO_SUCH_USER');
    assert.match(failureLines(noUser.stderr).at(-1)!, /no such user: tlssh-no-such-user-n/);
    // A user the certificate does not name, as -l or user@: refused before anything is asked.
    const mismatch = await runTlssh([...conf, '-N', 'someone-else@localhost']);
    assert.equal(mismatch.status, 255, mismatch.stderr);
    assert.equal(mismatch.stderr, `tlssh: certificate is for user ${fx.user}, not someone-else\n`);
    assert.equal((await runTlssh([...conf, '-N', `${fx.user}@localhost`])).status, 0);
    // With ClientDomain the CN is USER.domain; case counts there, as on the server.
    const dom = await startFixture({ serverConfig: { ClientDomain: 'example.com' } });
    try {
      const c = issueCert(dom.ca, { cn: `${dom.user}.example.com`, eku: 'clientAuth' });
      const args = ['-c', dom.configFile, '-o', `CertFile=${c.certFile}`, '-o', `KeyFile=${c.keyFile}`, '-N'];
      assert.equal((await runTlssh([...args, '-l', dom.user, 'localhost'])).status, 0);
      const upper = await runTlssh([...args, '-l', dom.user.toUpperCase(), 'localhost']);
      assert.equal(upper.status, 255, upper.stderr);
      assert.match(upper.stderr, /certificate is for user /);
    } finally {
      await dom.stop();
    }
  });

  it('a certificate the server does not trust: the message names the certificate file and its issuer', async () => {
    const other = makeCa(fs.mkdtempSync(path.join(fx.dir, 'u-')), 'Some Other CA');
    const c = issueCert(other, { cn: 'someone', eku: 'clientAuth' });
    const r = await runTlssh([...conf, '-o', `CertFile=${c.certFile}`, '-o', `KeyFile=${c.keyFile}`, 'localhost', 'true']);
    assert.equal(r.status, 255);
    const line = failureLines(r.stderr).at(-1) ?? '';
    assert.match(line, new RegExp(`^tlssh: the server does not trust your certificate ${c.certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, issued by "CN=Some Other CA": its ClientCAFile must hold that CA`), line);
  });

  it('a certificate out of its dates is said to be expired or not yet valid, not blamed on the server\'s CA', async () => {
    // The dates are checked before any user is looked for: the name does not matter.
    const cn = 'someone';
    const day = 86_400_000;
    const expired = issueCert(fx.ca, { cn, eku: 'clientAuth', fileStem: 'expired', notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
    const early = issueCert(fx.ca, { cn, eku: 'clientAuth', fileStem: 'early', notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 30 * day) });
    // In the same form as every other date tlssh and tlsshd print (ISO 8601, UTC).
    const iso = (d: Date): string => new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString();
    for (const [c, words] of [
      [expired, new RegExp(`: it expired on ${iso(new Date(new X509Certificate(fs.readFileSync(expired.certFile)).validTo))}; it needs renewing \\(server said: .*CERT_HAS_EXPIRED`)],
      [early, new RegExp(`: it is valid only from ${iso(new Date(new X509Certificate(fs.readFileSync(early.certFile)).validFrom))}; check the server's clock \\(server said: .*CERT_NOT_YET_VALID`)],
    ] as const) {
      const r = await runTlssh([...conf, '-o', `CertFile=${c.certFile}`, '-o', `KeyFile=${c.keyFile}`, 'localhost', 'true']);
      assert.equal(r.status, 255);
      const line = failureLines(r.stderr).at(-1) ?? '';
      assert.ok(line.startsWith(`tlssh: the server refused your certificate ${c.certFile}: `), line);
      assert.match(line, words);
      assert.doesNotMatch(line, /ClientCAFile/);
    }
  });

  it('BatchMode=yes never prompts for a key password: it fails and says so', async () => {
    const enc = path.join(fx.dir, 'enc.key');
    // An encrypted copy of the client key, which would need a passphrase typed.
    execFileSync('openssl', ['pkey', '-in', fx.client.keyFile, '-out', enc, '-aes256', '-passout', 'pass:secret']);
    fs.chmodSync(enc, 0o600);
    const r = await runTlssh([...conf, '-v', '-o', 'BatchMode=yes', '-o', `KeyFile=${enc}`, 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_TTY');
    assert.match(failureLines(r.stderr).at(-1)!, /BatchMode/);
  });

  /**
   * tlssh running `command` (which prints "ready" first), once it has: its stdout and stderr so
   * far, and its exit status to come (SIGKILLed after a minute, which no test expects).
   */
  async function runningUntilReady(command: string): Promise<{ child: ReturnType<typeof spawn>; out: () => string; err: () => string; status: Promise<number | null>; ended: () => boolean }> {
    const child = spawn(process.execPath, [TLSSH, ...conf, 'localhost', command], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ended = false;
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const status = new Promise<number | null>((resolve) => child.once('close', (code) => {
      ended = true;
      clearTimeout(killer);
      resolve(code);
    }));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('ready')) resolve();
      });
    });
    return { child, out: () => out, err: () => err, status, ended: () => ended };
  }

  it('Ctrl-C on a command without a terminal interrupts the remote command: exit 130', async () => {
    const r = await runningUntilReady('echo ready; exec sleep 60');
    r.child.kill('SIGINT');
    assert.equal(await r.status, 130, r.err());
  });

  it('a second Ctrl-C ends tlssh (255) when the remote command ignores the first, as ssh', async () => {
    const r = await runningUntilReady('trap "" INT; echo ready; sleep 60');
    r.child.kill('SIGINT');
    // The remote side ignores it: tlssh is still there a moment later.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(r.ended(), false, r.err());
    r.child.kill('SIGINT');
    assert.equal(await r.status, 255, r.err());
  });

  // The interrupt reaches the whole command, as a terminal's ^C reaches its foreground job, not
  // only the shell, which would wait for its child and carry on.
  for (const command of ['sleep 60; echo after', 'sleep 60 | cat; echo after']) {
    it(`the first Ctrl-C ends a compound command too: ${command}`, async () => {
      const r = await runningUntilReady(`echo ready; ${command}`);
      // Before or after the shell forks sleep, the group gets it: either way the command ends.
      r.child.kill('SIGINT');
      assert.equal(await r.status, 130, r.err());
      assert.doesNotMatch(r.out(), /after/);
    });
  }
});

describe('tlssh errors an administrator can act on', () => {
  let fx: ClientFixture;
  let expired: TlsshdHandle | undefined;
  before(async () => {
    fx = await startFixture();
  });
  after(async () => {
    await expired?.stop();
    await fx?.stop();
  });

  it('untrusted server certificate: names the CA file tried and the certificate\'s issuer', async () => {
    const other = makeCa(fs.mkdtempSync(path.join(fx.dir, 'other-')), 'some other CA');
    const r = await runTlssh(['-F', fx.configFile, '-v', '-o', `ServerCAFile=${other.certFile}`, 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_CERT_UNTRUSTED');
    const line = failureLines(r.stderr).at(-1)!;
    assert.ok(line.includes(`ServerCAFile ${other.certFile}`), line);
    assert.ok(line.includes('tlssh test CA'), line);
  });

  it('-6 with an IPv4 address (and -4 with an IPv6 one) is refused in ssh\'s words, not connected anyway', async () => {
    for (const [flag, host] of [['-6', '127.0.0.1'], ['-4', '::1']]) {
      const r = await runTlssh(['-F', fx.configFile, flag as string, host as string, 'true']);
      assert.equal(r.status, 255, r.stderr);
      assert.equal(r.stderr, `tlssh: Could not resolve hostname ${host}: Address family for hostname not supported\n`);
    }
  });

  it('expired server certificate: gives the date', async () => {
    const dir = fs.mkdtempSync(path.join(fx.dir, 'expired-'));
    const notAfter = new Date(Date.now() - 86_400_000);
    const cert = issueCert(fx.ca, { cn: 'localhost', san: ['DNS:localhost'], eku: 'serverAuth', fileStem: 'expired', notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter });
    // tlsshd refuses to start with an expired certificate; it expires under a running daemon
    // instead (workers read CertFile and KeyFile for each connection).
    const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    const fresh = issueCert(fx.ca, { cn: 'localhost', san: ['DNS:localhost'], eku: 'serverAuth', fileStem: 'fresh' });
    fs.copyFileSync(fresh.certFile, live.cert);
    fs.copyFileSync(fresh.keyFile, live.key);
    fs.chmodSync(live.key, 0o600);
    expired = await startTlsshd({ dir, config: { CertFile: live.cert, KeyFile: live.key, ClientCAFile: fx.ca.certFile, PermitRootLogin: 'yes' } });
    fs.copyFileSync(cert.certFile, live.cert);
    fs.copyFileSync(cert.keyFile, live.key);
    const r = await runTlssh(['-F', fx.configFile, '-v', '-p', String(expired.port), 'localhost', 'true']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_CERT_EXPIRED');
    const line = failureLines(r.stderr).at(-1)!;
    assert.ok(line.includes(`expired on ${notAfter.toISOString().slice(0, 16)}`), line);
    // And the administrator reads it in tlsshd's log, not only the user on the client.
    await expired.waitForLog(new RegExp(`CertFile ${live.cert.replace(/[.]/g, '\\.')}: certificate expired on ${notAfter.toISOString().slice(0, 16)}`));
  });

  it('an SSH server on the port: "speaks SSH, not tlssh"', async (t) => {
    const sshd = await startSshServer(fx.dir);
    if (sshd.fake) t.diagnostic('no /usr/sbin/sshd usable here (needs root): a server that sends an OpenSSH banner stands in');
    try {
      const r = await runTlssh(['-F', fx.configFile, '-v', '-p', String(sshd.port), 'localhost', 'true']);
      assert.equal(r.status, 255);
      assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SPEAKS_SSH');
      assert.match(failureLines(r.stderr).at(-1)!, /speaks SSH, not tlssh .*"SSH-2\.0-OpenSSH_/);
    } finally {
      await sshd.stop();
    }
  });

  it("a server that never answers the handshake: timed out, in ssh's manner, with the code at -v", async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await runTlssh(['-F', fx.configFile, '-v', '-o', 'ConnectTimeout=1', '-p', String(port), '127.0.0.1', 'true']);
      assert.equal(r.status, 255);
      assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_CONNECT_TIMEOUT');
      assert.match(failureLines(r.stderr).at(-1)!, new RegExp(`^tlssh: Connection to 127\\.0\\.0\\.1 port ${port} timed out during the TLS handshake`));
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it("a refused connection, in ssh's words", async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const r = await runTlssh(['-F', fx.configFile, '-p', String(port), '127.0.0.1', 'true']);
    assert.equal(r.status, 255);
    assert.equal(r.stderr, `tlssh: connect to host 127.0.0.1 port ${port}: Connection refused\n`);
  });
});
