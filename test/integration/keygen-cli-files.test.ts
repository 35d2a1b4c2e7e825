// tlssh-keygen as users run it, for keys kept in files: the real executable in a child process,
// real openssl to check what it wrote, and a real PTY for the password prompt.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns, type StdioOptions } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IPty } from 'node-pty';
import { planFromArgv } from '../../src/keygen/cli-options';
import { runPlan, type Output } from '../../src/keygen/commands';
import { spkiFingerprint } from '../../src/keygen/fingerprint';
import { issueCert, makeCa, makeTempDir } from '../helpers/ca';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'tlssh-keygen');
const dir = makeTempDir('tlssh-keygen-files');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs in a new session without a controlling terminal (setsid), so nothing can ever prompt. */
function keygen(args: string[], opts: { env?: Record<string, string>; input?: string; stdio3?: number } = {}): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: dir, ...opts.env };
  return spawnSync('setsid', ['-w', process.execPath, BIN, ...args], {
    cwd: dir,
    env,
    encoding: 'utf8',
    input: opts.input,
    stdio: (opts.stdio3 === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', opts.stdio3]) as StdioOptions,
  });
}

function ok(r: SpawnSyncReturns<string>): string {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A failure is exit 255 and exactly one "tlssh-keygen: ..." line, never a stack trace. */
function failsCleanly(r: SpawnSyncReturns<string>): string {
  assert.equal(r.status, 255, r.stdout + r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] as string, /^tlssh-keygen: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  return lines[0] as string;
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

const quietIo: Output = { out: () => undefined, info: () => undefined };

async function runIn(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const lines: string[] = [];
  await runPlan(planFromArgv(argv.map((a) => (a.startsWith('@') ? path.join(dir, a.slice(1)) : a))), env, { out: (l) => lines.push(l), info: quietIo.info });
  return lines;
}

test('--help and --version exit 0 and describe every mode', () => {
  const help = ok(keygen(['--help']));
  for (const opt of ['-f', '-y', '--tpm', '--wrap', '--out', '--type', '--bits', '--ecc', '--rsa', '--parent', '--tcti', '--password', '--no-password', '--password-fd', '--srk-password', '--srk-password-fd', '--force', '--csr', '--key', '--subject', '--san', '--client', '--server', '--print', '--quiet', 'TLSSH_KEY_PASSWORD', 'TLSSH_SRK_PASSWORD']) {
    assert.ok(help.includes(opt), `help mentions ${opt}`);
  }
  assert.match(ok(keygen(['--version'])), /^tlssh-keygen \d+\.\d+\.\d+, Node v\d+/);
});

test('plain keys: EC by default, RSA on request, written 0600 as PKCS#8 openssl reads', () => {
  const out = ok(keygen(['-o', 'ec.pem']));
  const ecFile = path.join(dir, 'ec.pem');
  assert.equal(mode(ecFile), 0o600);
  assert.match(readFileSync(ecFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  const ec = createPrivateKey(readFileSync(ecFile));
  assert.equal(ec.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(out.includes(spkiFingerprint(createPublicKey(ec))), 'prints the fingerprint');
  execFileSync('openssl', ['pkey', '-in', ecFile, '-noout']);

  ok(keygen(['-t', 'rsa', '-b', '2048', '-o', 'rsa.pem', '-q']));
  const rsa = createPrivateKey(readFileSync(path.join(dir, 'rsa.pem')));
  assert.equal(rsa.asymmetricKeyDetails?.modulusLength, 2048);
  assert.equal(mode(path.join(dir, 'rsa.pem')), 0o600);

  ok(keygen(['-b', '384', '-o', 'p384.pem', '-q']));
  assert.equal(createPrivateKey(readFileSync(path.join(dir, 'p384.pem'))).asymmetricKeyDetails?.namedCurve, 'secp384r1');
});

test('an existing file is never overwritten without --force, nor a planted symlink followed', () => {
  writeFileSync(path.join(dir, 'taken.pem'), 'precious');
  failsCleanly(keygen(['-o', 'taken.pem']));
  assert.equal(readFileSync(path.join(dir, 'taken.pem'), 'utf8'), 'precious');

  symlinkSync(path.join(dir, 'victim'), path.join(dir, 'link.pem'));
  failsCleanly(keygen(['-o', 'link.pem']));
  assert.equal(existsSync(path.join(dir, 'victim')), false);

  ok(keygen(['-o', 'taken.pem', '--force', '-q']));
  assert.match(readFileSync(path.join(dir, 'taken.pem'), 'utf8'), /BEGIN PRIVATE KEY/);
  assert.equal(mode(path.join(dir, 'taken.pem')), 0o600);
});

test('encrypted keys: password from TLSSH_KEY_PASSWORD, from --password-fd, never from argv', () => {
  ok(keygen(['-o', 'enc-env.pem', '-q'], { env: { TLSSH_KEY_PASSWORD: 'correct horse' } }));
  const encEnv = readFileSync(path.join(dir, 'enc-env.pem'), 'utf8');
  assert.match(encEnv, /BEGIN ENCRYPTED PRIVATE KEY/);
  assert.throws(() => createPrivateKey({ key: encEnv, passphrase: 'wrong' }));
  createPrivateKey({ key: encEnv, passphrase: 'correct horse' });
  // openssl reads it with the same password.
  const pw = path.join(dir, 'pw.txt');
  writeFileSync(pw, 'correct horse\n', { mode: 0o600 });
  execFileSync('openssl', ['pkey', '-in', path.join(dir, 'enc-env.pem'), '-passin', `file:${pw}`, '-noout']);

  ok(keygen(['-o', 'enc-fd0.pem', '--password-fd', '0', '-q'], { input: 'from stdin\nignored second line\n' }));
  createPrivateKey({ key: readFileSync(path.join(dir, 'enc-fd0.pem')), passphrase: 'from stdin' });

  const fd = openSync(pw, 'r');
  try {
    ok(keygen(['-o', 'enc-fd3.pem', '--password-fd', '3', '-q'], { stdio3: fd }));
  } finally {
    closeSync(fd);
  }
  createPrivateKey({ key: readFileSync(path.join(dir, 'enc-fd3.pem')), passphrase: 'correct horse' });

  // --no-password wins over the environment; --password with no terminal and no source fails.
  ok(keygen(['-o', 'plain-despite-env.pem', '--no-password', '-q'], { env: { TLSSH_KEY_PASSWORD: 'x' } }));
  assert.match(readFileSync(path.join(dir, 'plain-despite-env.pem'), 'utf8'), /BEGIN PRIVATE KEY/);
  failsCleanly(keygen(['-o', 'needs-tty.pem', '--password']));
  assert.equal(existsSync(path.join(dir, 'needs-tty.pem')), false);
});

test('-l prints ssh-keygen\'s one fingerprint line, -y the public key, of keys, encrypted keys and certificates', () => {
  const keyFile = path.join(dir, 'ec.pem');
  const pub = createPublicKey(createPrivateKey(readFileSync(keyFile)));
  const fp = spkiFingerprint(pub);
  const out = ok(keygen(['-l', 'ec.pem']));
  assert.match(out, new RegExp(`^256 ${fp.replace(/[+/]/g, '\\$&')} ec\\.pem \\(ECDSA P-256, key file\\)\\n$`));
  assert.equal(out.split(' ')[1], fp, "awk '{print $2}' gives the fingerprint");
  assert.equal(ok(keygen(['-y', 'ec.pem'])), pub.export({ type: 'spki', format: 'pem' }).toString());
  // ssh-keygen's habit: the file after -f.
  for (const form of [['-lf', 'ec.pem'], ['-l', '-f', 'ec.pem'], ['-f', 'ec.pem', '-l']]) assert.equal(ok(keygen(form)), out, form.join(' '));
  assert.equal(ok(keygen(['-yf', 'ec.pem'])), pub.export({ type: 'spki', format: 'pem' }).toString());
  failsCleanly(keygen(['-l']));

  // ssh-keygen's form: "SHA256:" + unpadded base64 of SHA-256 over the SPKI DER.
  const viaOpenssl = execFileSync('sh', ['-c', 'openssl pkey -in "$1" -pubout -outform DER | openssl dgst -sha256 -binary | openssl base64 -A', 'sh', keyFile]).toString().replace(/=+$/, '');
  assert.equal(fp, `SHA256:${viaOpenssl}`);

  const enc = ok(keygen(['-l', 'enc-env.pem'], { env: { TLSSH_KEY_PASSWORD: 'correct horse' } }));
  assert.match(enc, /encrypted key file/);
  failsCleanly(keygen(['-l', 'enc-env.pem'], { env: { TLSSH_KEY_PASSWORD: 'wrong' } }));

  const ca = makeCa(path.join(dir, 'ca'));
  const issued = issueCert(ca, { cn: 'printed.example.com', keyFile });
  const certOut = ok(keygen(['-l', issued.certFile]));
  assert.ok(certOut.includes(fp), 'a certificate shows the fingerprint of its key');
  assert.match(certOut, /certificate for \/CN=printed\.example\.com/);
  // And the certificate as tlsshd's log names it ("serial ... fingerprint ..."), to match the two.
  assert.ok(certOut.includes(`serial ${issued.serial} fingerprint ${issued.fingerprint})`), certOut);
  assert.equal(new X509Certificate(readFileSync(issued.certFile)).subject, 'CN=printed.example.com');

  // A subject's C1 CSI (ESC [ in one character: "2J" clears an xterm) or bidi override is never printed as it is.
  const hostile = issueCert(ca, { cn: 'x\u009b2J\u202egpj.exe', keyFile });
  const shown = ok(keygen(['-l', hostile.certFile]));
  assert.match(shown, /certificate for \/CN=x\?2J\?gpj\.exe/);
  assert.doesNotMatch(shown, /[\u0080-\u009f\u202e]/);
});

test('--csr with a plain key, to a file and to standard output', () => {
  ok(keygen(['--csr', 'host.csr', '--key', 'rsa.pem', '--subject', '/CN=host.example.com', '--server', '-q']));
  const csr = path.join(dir, 'host.csr');
  const v = spawnSync('openssl', ['req', '-in', csr, '-verify', '-noout', '-text'], { encoding: 'utf8' });
  assert.match(v.stdout + v.stderr, /verify OK/);
  assert.match(v.stdout, /DNS:host\.example\.com/);
  assert.match(v.stdout, /TLS Web Server Authentication/);
  assert.match(v.stdout, /sha256WithRSAEncryption/);

  const r = keygen(['--csr', '-', '--key', 'enc-env.pem', '--subject', '/CN=alice', '--client'], { env: { TLSSH_KEY_PASSWORD: 'correct horse' } });
  const pem = ok(r);
  assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
  assert.match(r.stderr, /Certificate request for \/CN=alice/);
  const v2 = spawnSync('openssl', ['req', '-verify', '-noout'], { input: pem, encoding: 'utf8' });
  assert.match(v2.stdout + v2.stderr, /verify OK/);

  // A key and its request in one command.
  ok(keygen(['-o', 'both.pem', '--csr', 'both.csr', '--subject', '/CN=both', '--client', '-q']));
  const reqPub = execFileSync('openssl', ['req', '-in', path.join(dir, 'both.csr'), '-noout', '-pubkey']).toString();
  assert.deepEqual(createPublicKey(reqPub).export({ type: 'spki', format: 'der' }), createPublicKey(createPrivateKey(readFileSync(path.join(dir, 'both.pem')))).export({ type: 'spki', format: 'der' }));

  failsCleanly(keygen(['--csr', 'host.csr', '--key', 'rsa.pem', '--subject', '/CN=again']));

  // -l on a request shows the fingerprint of the key that signed it.
  const rsaFp = spkiFingerprint(createPublicKey(createPrivateKey(readFileSync(path.join(dir, 'rsa.pem')))));
  assert.match(ok(keygen(['-l', 'host.csr'])), new RegExp(`^2048 ${rsaFp.replace(/[+/]/g, '\\$&')} host\\.csr \\(RSA, certificate request\\)$`, 'm'));
});

test('failures carry stable codes', async () => {
  writeFileSync(path.join(dir, 'not-a-key.txt'), 'hello\n');
  await assert.rejects(runIn(['-l', '@missing.pem']), { code: 'TLSSH_ERR_USAGE' });
  await assert.rejects(runIn(['-l', '@not-a-key.txt']), { code: 'TLSSH_ERR_USAGE' });
  await assert.rejects(runIn(['-l', '@enc-env.pem'], { TLSSH_KEY_PASSWORD: 'wrong' }), { code: 'TLSSH_ERR_TLS_KEY' });
  await assert.rejects(runIn(['--csr', '@x.csr', '--key', '@ca/tlssh_test_CA.crt', '--subject', '/CN=x']), { code: 'TLSSH_ERR_USAGE' });
  await assert.rejects(runIn(['-o', '@ec.pem']), { code: 'TLSSH_ERR_USAGE' });
  await assert.rejects(runIn(['-o', '@no/such/dir/k.pem']), { code: 'TLSSH_ERR_USAGE' });
  const lines = await runIn(['-l', '@ec.pem']);
  assert.equal(lines.length, 1);
});

/** Runs the executable on a real PTY, answering each password prompt in turn. */
function onPty(args: string[], answers: readonly string[]): Promise<{ output: string; code: number }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pty = require('node-pty') as typeof import('node-pty');
  return new Promise((resolve) => {
    const p: IPty = pty.spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { PATH: process.env['PATH'] ?? '', HOME: dir }, cols: 120, rows: 10 });
    let output = '';
    let answered = 0;
    p.onData((d) => {
      output += d;
      const prompts = (output.match(/password[^:\r\n]*: /gi) ?? []).length;
      while (answered < prompts && answered < answers.length) p.write(`${answers[answered++] as string}\r`);
    });
    p.onExit(({ exitCode }) => resolve({ output, code: exitCode }));
  });
}

test('the password prompt reads /dev/tty without echo, twice, and refuses a mismatch', async () => {
  const good = await onPty(['-o', 'tty.pem', '--password'], ['s3cret pw', 's3cret pw']);
  assert.equal(good.code, 0, good.output);
  assert.doesNotMatch(good.output, /s3cret/, 'the password is not echoed');
  createPrivateKey({ key: readFileSync(path.join(dir, 'tty.pem')), passphrase: 's3cret pw' });

  const mismatch = await onPty(['-o', 'tty-bad.pem', '--password'], ['one', 'two']);
  assert.equal(mismatch.code, 255, mismatch.output);
  assert.match(mismatch.output, /tlssh-keygen: /);
  assert.equal(existsSync(path.join(dir, 'tty-bad.pem')), false);

  // An existing encrypted key: one prompt.
  const csr = await onPty(['--csr', 'tty.csr', '--key', 'tty.pem', '--subject', '/CN=tty'], ['s3cret pw']);
  assert.equal(csr.code, 0, csr.output);
  assert.ok(existsSync(path.join(dir, 'tty.csr')));
});

test('at a terminal, a new key file is given a password as ssh-keygen gives one: asked twice, empty for none', async () => {
  const noTpm = ['--tcti', 'swtpm:host=127.0.0.1,port=1'];
  const asked = await onPty(['-o', 'asked.pem'], ['at the tty', 'at the tty']);
  assert.equal(asked.code, 0, asked.output);
  assert.equal((asked.output.match(/New key password[^:]*: /g) ?? []).length, 2, asked.output);
  createPrivateKey({ key: readFileSync(path.join(dir, 'asked.pem')), passphrase: 'at the tty' });
  assert.match(asked.output, /saved in .*asked\.pem \(encrypted\)/);
  // The default key with no usable TPM is a file key too: asked; an empty answer keeps it plain.
  const plain = await onPty([...noTpm, '-o', 'plain.pem', '-t', 'ec'], ['', '']);
  assert.equal(plain.code, 0, plain.output);
  assert.match(plain.output, /New key password \(empty for no password\): /);
  assert.match(readFileSync(path.join(dir, 'plain.pem'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  // --no-password asks nothing.
  const none = await onPty(['-o', 'none.pem', '--no-password'], []);
  assert.equal(none.code, 0, none.output);
  assert.doesNotMatch(none.output, /password/i);
});

test('no arguments makes the default key, a file one when no TPM is usable, and says so; ~/.tlssh is 0700', () => {
  const home = path.join(dir, 'bare-home');
  mkdirSync(home);
  const r = keygen([], { env: { HOME: home, TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=1' } });
  const out = ok(r);
  assert.match(out, /generating a key in a file/);
  // Its own words: --tcti, not the client's TpmTcti keyword.
  assert.doesNotMatch(out, /TpmTcti/);
  const key = path.join(home, '.tlssh', 'keys', 'default.key');
  assert.equal(mode(key), 0o600);
  assert.equal(mode(path.join(home, '.tlssh')), 0o700);
  assert.equal(mode(path.join(home, '.tlssh', 'keys')), 0o700);
  assert.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  // The next step, with the names the client will look for.
  assert.ok(out.includes(`Next, a certificate: tlssh-keygen --csr ${path.join(home, '.tlssh', 'keys', 'default.csr')} --key ${key} --subject /CN=`), out);
  assert.ok(out.includes(`the certificate goes in ${path.join(home, '.tlssh', 'keys', 'default.crt')}.`), out);
  // A script is not asked for a password (nor told the next step with -q).
  assert.doesNotMatch(out, /password/i);
  // A second bare run refuses to overwrite, as ssh-keygen asks before doing so.
  failsCleanly(keygen([], { env: { HOME: home, TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=1' } }));
  // -f FILE is the output, as in ssh-keygen.
  ok(keygen(['-f', 'via-f.pem']));
  assert.equal(mode(path.join(dir, 'via-f.pem')), 0o600);
});
