// tlssh-keygen against a real software TPM (swtpm): keys made and imported inside it, requests
// signed inside it and judged by openssl, passwords through the scripted routes, and interop
// with tpm2-tools and the tpm2-openssl provider.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { planFromArgv } from '../../src/keygen/cli-options';
import { runPlan } from '../../src/keygen/commands';
import { spkiFingerprint } from '../../src/keygen/fingerprint';
import { parseTss2PrivateKey } from '../../src/tpm';
import { ATTR } from '../../src/tpm/tpm-public';
import { makeCa, makeTempDir } from '../helpers/ca';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'tlssh-keygen');
const dir = makeTempDir('tlssh-keygen-tpm');
let tpm: Swtpm;

before(async () => {
  tpm = await startSwtpm();
});
after(async () => {
  await tpm?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function keygen(args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('setsid', ['-w', process.execPath, BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'], HOME: dir, TSS2_LOG: 'all+none', TPM2TOOLS_TCTI: tpm.tcti, ...env },
  });
}

function ok(r: SpawnSyncReturns<string>): string {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function fails(r: SpawnSyncReturns<string>): string {
  assert.equal(r.status, 255, r.stdout + r.stderr);
  assert.match(r.stderr, /^tlssh-keygen: [^\n]+\n$/);
  return r.stderr;
}

/** In-process run, for asserting on error codes; the TPM connection is released afterwards. */
async function inProcess(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  await runPlan(planFromArgv(argv.map((a) => (a.endsWith('.tss') || a.endsWith('.csr') ? path.join(dir, a) : a))), { TPM2TOOLS_TCTI: tpm.tcti, ...env }, {
    out: () => undefined,
    info: () => undefined,
  });
}

function tools(args: string[], env: Record<string, string> = {}): string {
  return execFileSync(args[0] as string, args.slice(1), {
    cwd: dir,
    env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti, TPM2OPENSSL_TCTI: tpm.tcti, TSS2_LOG: 'all+none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).toString();
}

function csrVerifies(csrFile: string): boolean {
  const r = spawnSync('openssl', ['req', '-in', csrFile, '-verify', '-noout'], { encoding: 'utf8' });
  return r.status === 0 && /verify OK/.test(r.stdout + r.stderr) && !/failure/.test(r.stdout + r.stderr);
}

function csrPublicKey(csrFile: string): KeyObject {
  return createPublicKey(execFileSync('openssl', ['req', '-in', csrFile, '-noout', '-pubkey']).toString());
}

function tss2(file: string) {
  return parseTss2PrivateKey(readFileSync(path.join(dir, file)), file);
}

const ca = makeCa(path.join(dir, 'ca'));

function certify(csrFile: string): X509Certificate {
  const out = csrFile.replace(/\.csr$/, '.crt');
  execFileSync('openssl', ['x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-days', '2', '-sha256', '-copy_extensions', 'copy', '-out', out], { stdio: 'ignore' });
  return new X509Certificate(readFileSync(out));
}

const shapes: [string, string, string[]][] = [
  ['ECC P-256 (default)', 'p256', []],
  ['ECC P-384', 'p384', ['--ecc', 'P-384']],
  ['RSA 2048', 'rsa2048', ['--rsa', '2048']],
  ['RSA 3072', 'rsa3072', ['-t', 'rsa', '-b', '3072']],
];

for (const [name, stem, args] of shapes) {
  test(`${name}: key made in the TPM, request signed inside it, accepted by openssl`, () => {
    const keyFile = path.join(dir, `${stem}.tss`);
    const out = ok(keygen(['--tpm', '-o', keyFile, ...args]));
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.match(readFileSync(keyFile, 'latin1'), /^-----BEGIN TSS2 PRIVATE KEY-----\n/);
    const key = tss2(`${stem}.tss`);
    assert.equal(key.emptyAuth, true);
    assert.equal(key.parent, 0x40000001);
    assert.ok(key.public.attributes & ATTR.noDA, 'a key without a password is noDA');
    assert.ok(key.public.attributes & ATTR.fixedTPM, 'made inside the TPM');

    // -l needs no TPM: run it with no TCTI at all.
    const listed = ok(keygen(['-l', keyFile], { TPM2TOOLS_TCTI: '' }));
    const fp = /SHA256:[A-Za-z0-9+/]+/.exec(listed)?.[0];
    assert.ok(fp && out.includes(fp), 'creation and -l show the same fingerprint');

    const csrFile = path.join(dir, `${stem}.csr`);
    ok(keygen(['--csr', csrFile, '--key', keyFile, '--subject', '/O=Example/CN=tpm.example.com', '--server', '--san', 'DNS:tpm.example.com,IP:127.0.0.1']));
    assert.ok(csrVerifies(csrFile), 'openssl req -verify');
    assert.equal(spkiFingerprint(csrPublicKey(csrFile)), fp);
    const cert = certify(csrFile);
    assert.equal(spkiFingerprint(cert.publicKey), fp);
    assert.equal(cert.checkHost('tpm.example.com'), 'tpm.example.com');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  });
}

test('a new TPM key ends with the next step, a request command that works as printed, with its --tcti', () => {
  const out = ok(keygen(['--tpm', '--tcti', tpm.tcti, '-o', path.join(dir, 'hint.tss')], { TPM2TOOLS_TCTI: '' }));
  const line = out.split('\n').find((l) => l.startsWith('Next, a certificate: '));
  assert.ok(line, out);
  const command = line.slice('Next, a certificate: '.length).split(' ');
  assert.deepEqual(command.slice(0, 5), ['tlssh-keygen', '--tcti', tpm.tcti, '--csr', path.join(dir, 'hint.csr')]);
  assert.match(out, new RegExp(`the certificate goes in ${path.join(dir, 'hint.crt').replace(/[.]/g, '\\.')}\\.`));
  // Run as printed, with no TPM in the environment: the request is signed in the key's TPM.
  ok(keygen(command.slice(1), { TPM2TOOLS_TCTI: '' }));
  assert.ok(csrVerifies(path.join(dir, 'hint.csr')));
});

test('without -o the key goes to ~/.tlssh/keys/default.key, directories made 0700', () => {
  ok(keygen(['--tpm', '-q']));
  const file = path.join(dir, '.tlssh', 'keys', 'default.key');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(dir, '.tlssh')).mode & 0o777, 0o700);
  assert.equal(statSync(path.join(dir, '.tlssh', 'keys')).mode & 0o777, 0o700);
  assert.equal(tss2(path.join('.tlssh', 'keys', 'default.key')).emptyAuth, true);
  fails(keygen(['--tpm']));
});

test('create and request in one command', () => {
  ok(keygen(['--tpm', '-o', 'one-go.tss', '--csr', 'one-go.csr', '--subject', '/CN=alice.users.example.com', '--client', '-q']));
  assert.ok(csrVerifies(path.join(dir, 'one-go.csr')));
  assert.deepEqual(certify(path.join(dir, 'one-go.csr')).keyUsage, ['1.3.6.1.5.5.7.3.2']);
});

for (const [name, make] of [
  ['EC P-256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey],
  ['RSA 2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
] as const) {
  test(`--wrap imports a ${name} PEM key: same public key, and it signs inside the TPM`, () => {
    const stem = `wrap-${name.replace(/\W+/g, '-').toLowerCase()}`;
    const pemFile = path.join(dir, `${stem}.pem`);
    const original = make();
    writeFileSync(pemFile, original.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const want = spkiFingerprint(createPublicKey(original));
    ok(keygen(['--wrap', pemFile, '-o', `${stem}.tss`, '-q']));
    const key = tss2(`${stem}.tss`);
    assert.equal(key.emptyAuth, true);
    assert.equal(key.public.attributes & ATTR.fixedTPM, 0, 'an imported key is not claimed to be born in the TPM');
    assert.ok(ok(keygen(['-l', `${stem}.tss`])).includes(want));
    ok(keygen(['--csr', `${stem}.csr`, '--key', `${stem}.tss`, '--subject', '/CN=wrapped', '-q']));
    assert.ok(csrVerifies(path.join(dir, `${stem}.csr`)));
    assert.equal(spkiFingerprint(csrPublicKey(path.join(dir, `${stem}.csr`))), want);
  });
}

test('--wrap of an encrypted PEM takes its password from TLSSH_WRAP_PASSWORD', () => {
  const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  writeFileSync(path.join(dir, 'wrap-enc.pem'), k.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'old' }), { mode: 0o600 });
  fails(keygen(['--wrap', 'wrap-enc.pem', '-o', 'wrap-enc.tss'], { TLSSH_WRAP_PASSWORD: 'bad' }));
  assert.equal(existsSync(path.join(dir, 'wrap-enc.tss')), false);
  ok(keygen(['--wrap', 'wrap-enc.pem', '-o', 'wrap-enc.tss', '-q'], { TLSSH_WRAP_PASSWORD: 'old' }));
  assert.ok(ok(keygen(['-l', 'wrap-enc.tss'])).includes(spkiFingerprint(createPublicKey(k))));
});

test('password keys: from TLSSH_KEY_PASSWORD and --password-fd; they keep DA protection', async () => {
  ok(keygen(['--tpm', '-o', 'pw-env.tss', '-q'], { TLSSH_KEY_PASSWORD: 'tpm secret' }));
  const key = tss2('pw-env.tss');
  assert.equal(key.emptyAuth, false);
  assert.equal(key.public.attributes & ATTR.noDA, 0, 'a password key is not noDA');
  ok(keygen(['--csr', 'pw-env.csr', '--key', 'pw-env.tss', '--subject', '/CN=pw', '-q'], { TLSSH_KEY_PASSWORD: 'tpm secret' }));
  assert.ok(csrVerifies(path.join(dir, 'pw-env.csr')));

  // One wrong try (a password key counts it towards lockout, so only one).
  await assert.rejects(inProcess(['--csr', 'pw-wrong.csr', '--key', 'pw-env.tss', '--subject', '/CN=pw'], { TLSSH_KEY_PASSWORD: 'nope' }), { code: 'TLSSH_ERR_TPM_AUTH' });
  assert.equal(existsSync(path.join(dir, 'pw-wrong.csr')), false);

  const r = spawnSync('setsid', ['-w', process.execPath, BIN, '--tpm', '--rsa', '2048', '-o', 'pw-fd.tss', '--password-fd', '0', '--csr', 'pw-fd.csr', '--subject', '/CN=fd', '-q'], {
    cwd: dir, encoding: 'utf8', input: 'fd secret\n', env: { PATH: process.env['PATH'], TPM2TOOLS_TCTI: tpm.tcti, TSS2_LOG: 'all+none' },
  });
  ok(r);
  assert.equal(tss2('pw-fd.tss').emptyAuth, false);
  assert.ok(csrVerifies(path.join(dir, 'pw-fd.csr')), 'the password read once from the fd serves both steps');

  // --no-password ignores the environment.
  ok(keygen(['--tpm', '-o', 'pw-none.tss', '--no-password', '-q'], { TLSSH_KEY_PASSWORD: 'ignored' }));
  assert.equal(tss2('pw-none.tss').emptyAuth, true);
});

test('an existing key file is never overwritten without --force, and the TPM is not touched', async () => {
  const file = path.join(dir, 'keep.tss');
  writeFileSync(file, 'precious', { mode: 0o600 });
  fails(keygen(['--tpm', '-o', file]));
  // Even with no TPM at all the refusal comes first.
  await assert.rejects(inProcess(['--tpm', '-o', 'keep.tss', '--tcti', 'swtpm:host=127.0.0.1,port=1']), { code: 'TLSSH_ERR_USAGE' });
  assert.equal(readFileSync(file, 'utf8'), 'precious');
  ok(keygen(['--tpm', '-o', file, '--force', '-q']));
  assert.match(readFileSync(file, 'latin1'), /BEGIN TSS2 PRIVATE KEY/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('a persistent SRK made with tpm2_createprimary + tpm2_evictcontrol as --parent', () => {
  tools(['tpm2_createprimary', '-Q', '-C', 'o', '-g', 'sha256', '-G', 'ecc256:aes128cfb', '-c', path.join(dir, 'srk.ctx')]);
  tools(['tpm2_evictcontrol', '-C', 'o', '-c', path.join(dir, 'srk.ctx'), '0x81000001']);
  ok(keygen(['--tpm', '--parent', '0x81000001', '-o', 'persistent.tss', '--csr', 'persistent.csr', '--subject', '/CN=p', '-q']));
  assert.equal(tss2('persistent.tss').parent, 0x81000001);
  assert.ok(csrVerifies(path.join(dir, 'persistent.csr')));
  assert.match(ok(keygen(['-l', 'persistent.tss'])), /parent 0x81000001/);
});

test('interop: keys we make load in the tpm2-openssl provider; its keys sign our requests', (t) => {
  // The provider connects to the TPM as it loads, so the probe needs the TCTI too.
  const probe = spawnSync('openssl', ['list', '-providers', '-provider', 'tpm2'], { encoding: 'utf8', env: { ...process.env, TPM2OPENSSL_TCTI: tpm.tcti, TSS2_LOG: 'all+none' } });
  if (probe.status !== 0) {
    t.skip(`the tpm2-openssl provider does not load (Debian package tpm2-openssl): ${probe.stderr.split('\n')[0] ?? ''}`);
    return;
  }
  const pub = tools(['openssl', 'pkey', '-provider', 'tpm2', '-provider', 'default', '-in', path.join(dir, 'p256.tss'), '-pubout']);
  const ours = ok(keygen(['-l', 'p256.tss']));
  assert.ok(ours.includes(spkiFingerprint(createPublicKey(pub))));

  tools(['openssl', 'genpkey', '-provider', 'tpm2', '-provider', 'default', '-algorithm', 'EC', '-pkeyopt', 'group:P-256', '-out', path.join(dir, 'by-provider.tss')]);
  ok(keygen(['--csr', 'by-provider.csr', '--key', 'by-provider.tss', '--subject', '/CN=provider', '-q']));
  assert.ok(csrVerifies(path.join(dir, 'by-provider.csr')));
});

test('interop: a key made by tpm2_create + tpm2_encodeobject signs our request', () => {
  const p = (f: string) => path.join(dir, f);
  tools(['tpm2_createprimary', '-Q', '-C', 'o', '-g', 'sha256', '-G', 'ecc256:aes128cfb', '-c', p('prim.ctx')]);
  tools(['tpm2_create', '-Q', '-C', p('prim.ctx'), '-G', 'ecc256:null', '-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|noda', '-u', p('tools.pub'), '-r', p('tools.priv')]);
  tools(['tpm2_flushcontext', '-t']);
  tools(['tpm2_evictcontrol', '-C', 'o', '-c', p('prim.ctx'), '0x81000002']);
  tools(['tpm2_encodeobject', '-C', '0x81000002', '-u', p('tools.pub'), '-r', p('tools.priv'), '-o', p('tools.tss')]);
  // tpm2-tools 5.4 writes emptyAuth FALSE even without a password: an empty one must do.
  ok(keygen(['--csr', 'tools.csr', '--key', 'tools.tss', '--subject', '/CN=tools', '-q'], { TLSSH_KEY_PASSWORD: '' }));
  assert.ok(csrVerifies(path.join(dir, 'tools.csr')));
});

test('a parent with a password: refused without it, accepted from TLSSH_SRK_PASSWORD', async () => {
  tools(['tpm2_changeauth', '-c', 'o', 'owner secret']);
  try {
    await assert.rejects(inProcess(['--tpm', '-o', 'srk-pw.tss']), { code: 'TLSSH_ERR_TPM_AUTH' });
    assert.equal(existsSync(path.join(dir, 'srk-pw.tss')), false);
    ok(keygen(['--tpm', '-o', 'srk-pw.tss', '-q'], { TLSSH_SRK_PASSWORD: 'owner secret' }));
    ok(keygen(['--csr', 'srk-pw.csr', '--key', 'srk-pw.tss', '--subject', '/CN=srk', '-q'], { TLSSH_SRK_PASSWORD: 'owner secret' }));
    assert.ok(csrVerifies(path.join(dir, 'srk-pw.csr')));
  } finally {
    tools(['tpm2_changeauth', '-c', 'o', '-p', 'owner secret']);
  }
});

test('a corrupt TSS2 file is refused with a key-file error', async () => {
  const text = readFileSync(path.join(dir, 'one-go.tss'), 'latin1');
  writeFileSync(path.join(dir, 'broken.tss'), text.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!'), { mode: 0o600 });
  await assert.rejects(inProcess(['--csr', 'broken.csr', '--key', 'broken.tss', '--subject', '/CN=x']), { code: 'TLSSH_ERR_TPM_KEY_FILE' });
});

test('no arguments makes the default key in the TPM when one is usable, and says so', () => {
  const home = path.join(dir, 'bare-home-tpm');
  mkdirSync(home);
  const out = ok(keygen([], { HOME: home }));
  assert.match(out, new RegExp(`Generating a key in the TPM \\(${tpm.tcti.replace(/[.]/g, '\\.')}\\)`));
  const key = path.join(home, '.tlssh', 'keys', 'default.key');
  assert.match(readFileSync(key, 'utf8'), /^-----BEGIN TSS2 PRIVATE KEY-----/);
  assert.equal(statSync(path.join(home, '.tlssh')).mode & 0o777, 0o700);
  assert.match(ok(keygen(['-l', key], { HOME: home })), /^256 SHA256:\S+ \S+default\.key \(ECDSA P-256, TPM key, parent 0x40000001, no password\)\n$/);
});
