// Requests built by our DER writer, judged by the real openssl: `req -verify`, `x509 -req` with
// the requested extensions copied, and `openssl ca` through the test CA.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildCsr, csrToPem, type CsrSigner } from '../../src/keygen/csr-builder';
import { parseSubject } from '../../src/keygen/distinguished-name';
import { fileKeySigner } from '../../src/keygen/file-key';
import { parseSan } from '../../src/keygen/subject-alt-name';
import { issueFromCsr, makeCa, makeTempDir } from '../helpers/ca';

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** OpenSSL 3.0's `req -verify` exits 0 even on a bad signature: its message is what tells. */
function verifies(csrFile: string): boolean {
  const r = spawnSync('openssl', ['req', '-in', csrFile, '-verify', '-noout'], { encoding: 'utf8' });
  return r.status === 0 && /verify OK/.test(`${r.stdout}${r.stderr}`) && !/verify failure/.test(`${r.stdout}${r.stderr}`);
}

const dir = makeTempDir('tlssh-keygen-csr');
after(() => rmSync(dir, { recursive: true, force: true }));
const ca = makeCa(path.join(dir, 'ca'));

/** A CA-signed certificate from the request with `openssl x509 -req`, extensions copied. */
function x509FromCsr(csrFile: string, stem: string): X509Certificate {
  const out = path.join(dir, `${stem}.crt`);
  openssl(['x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-days', '2', '-sha256', '-copy_extensions', 'copy', '-out', out]);
  return new X509Certificate(readFileSync(out));
}

const keys: [string, () => KeyObject][] = [
  ['EC P-256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey],
  ['EC P-384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey],
  ['RSA 2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey],
  ['RSA 3072', () => generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey],
];

for (const [name, makeKey] of keys) {
  test(`${name}: server request verifies in openssl and becomes a certificate with its extensions`, async () => {
    const key = makeKey();
    const stem = name.replace(/\W/g, '');
    const der = await buildCsr(
      { subject: parseSubject('/C=SE/O=Example AB/CN=shell.example.com'), san: parseSan('DNS:shell.example.com,IP:192.0.2.1,IP:2001:db8::7'), purposes: ['server'] },
      fileKeySigner(key),
    );
    const csrFile = path.join(dir, `${stem}.csr`);
    writeFileSync(csrFile, csrToPem(der));
    assert.ok(verifies(csrFile), 'openssl req -verify');
    const text = openssl(['req', '-in', csrFile, '-noout', '-text']);
    assert.match(text, /Signature Algorithm: (ecdsa-with-SHA256|sha256WithRSAEncryption)/);
    assert.match(openssl(['req', '-in', csrFile, '-noout', '-subject', '-nameopt', 'compat']), /subject=\/C=SE\/O=Example AB\/CN=shell\.example\.com/);

    const cert = x509FromCsr(csrFile, stem);
    assert.ok(cert.checkIssued(new X509Certificate(readFileSync(ca.certFile))));
    assert.deepEqual(cert.publicKey.export({ type: 'spki', format: 'der' }), createPublicKey(key).export({ type: 'spki', format: 'der' }));
    assert.equal(cert.subjectAltName, 'DNS:shell.example.com, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:7');
    assert.equal(cert.checkHost('shell.example.com'), 'shell.example.com');
    assert.equal(cert.checkIP('192.0.2.1'), '192.0.2.1');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    const certText = openssl(['x509', '-in', path.join(dir, `${stem}.crt`), '-noout', '-ext', 'keyUsage']);
    assert.match(certText, /critical\s+Digital Signature\s*$/);
  });
}

test('client request: clientAuth, an email SAN, and openssl ca from the test CA accepts it', async () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const der = await buildCsr(
    { subject: parseSubject('/CN=alice.users.example.com'), san: parseSan('email:alice@example.com'), purposes: ['client'] },
    fileKeySigner(key),
  );
  const csrFile = path.join(dir, 'alice.csr');
  writeFileSync(csrFile, csrToPem(der));
  assert.ok(verifies(csrFile));
  const cert = x509FromCsr(csrFile, 'alice');
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(cert.subjectAltName, 'email:alice@example.com');
  const viaCa = new X509Certificate(readFileSync(issueFromCsr(ca, csrFile, path.join(dir, 'alice-ca.crt'), { eku: 'clientAuth' })));
  assert.equal(viaCa.subject, 'CN=alice.users.example.com');
});

test('a request with no purpose carries only keyUsage', async () => {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const der = await buildCsr({ subject: parseSubject('/CN=plain'), san: [], purposes: [] }, fileKeySigner(key));
  const csrFile = path.join(dir, 'plain.csr');
  writeFileSync(csrFile, csrToPem(der));
  assert.ok(verifies(csrFile));
  const text = openssl(['req', '-in', csrFile, '-noout', '-text']);
  assert.match(text, /X509v3 Key Usage: critical/);
  assert.doesNotMatch(text, /Extended Key Usage|Subject Alternative Name/);
});

test('a flipped bit in the signed part makes openssl reject the request', async () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const der = await buildCsr({ subject: parseSubject('/CN=tamper'), san: [], purposes: ['client'] }, fileKeySigner(key));
  const at = der.indexOf(Buffer.from('tamper'));
  assert.ok(at > 0);
  const bad = Buffer.from(der);
  bad[at] = (bad[at] as number) ^ 0x01;
  const csrFile = path.join(dir, 'tamper.csr');
  writeFileSync(csrFile, csrToPem(bad));
  assert.equal(verifies(csrFile), false);
});

test('a signer whose signature does not match its public key yields no request', async () => {
  const a = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const b = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const lying: CsrSigner = { publicKey: fileKeySigner(a).publicKey, sign: fileKeySigner(b).sign };
  await assert.rejects(buildCsr({ subject: parseSubject('/CN=x'), san: [], purposes: [] }, lying), { code: 'TLSSH_ERR_INTERNAL' });
  const garbage: CsrSigner = { publicKey: fileKeySigner(a).publicKey, sign: async () => Buffer.from('not a signature') };
  await assert.rejects(buildCsr({ subject: parseSubject('/CN=x'), san: [], purposes: [] }, garbage), { code: 'TLSSH_ERR_INTERNAL' });
});
