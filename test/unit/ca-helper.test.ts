// Proves the CA helper's material with independent tools: `openssl verify` (chains, purposes,
// host names, CRLs) and a real Node TLS 1.3 handshake.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { issueCert, issueFromCsr, makeCa, makeCrl, makeTempDir } from '../helpers/ca';

const dir = makeTempDir('tlssh-ca-helper');
after(() => rmSync(dir, { recursive: true, force: true }));

const ca = makeCa(path.join(dir, 'ca'), 'Test Root');
const otherCa = makeCa(path.join(dir, 'other'), 'Other Root');

/** `openssl verify`; returns the verification error number, or 0 when the chain is good. */
function verify(cert: string, extra: string[] = [], caFile = ca.certFile): number {
  const r = spawnSync('openssl', ['verify', '-CAfile', caFile, ...extra, cert], { encoding: 'utf8' });
  if (r.status === 0) return 0;
  const m = /error (\d+) at/.exec(r.stdout + r.stderr);
  assert.ok(m, `openssl verify failed without an error number: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

// openssl's X509_V_ERR_* numbers
const UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20;
const CERT_HAS_EXPIRED = 10;
const DEPTH_ZERO_SELF_SIGNED_CERT = 18;
const CERT_NOT_YET_VALID = 9;
const CRL_HAS_EXPIRED = 12;
const CERT_REVOKED = 23;
const INVALID_PURPOSE = 26;
const HOSTNAME_MISMATCH = 62;
const IP_ADDRESS_MISMATCH = 64;

function ext(certFile: string, name: string): string {
  return execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-ext', name], { encoding: 'utf8' });
}

test('makeTempDir makes a private directory', () => {
  const d = makeTempDir('tlssh-probe');
  try {
    assert.match(path.basename(d), /^tlssh-probe-/);
    assert.equal(statSync(d).mode & 0o777, 0o700);
  } finally {
    rmSync(d, { recursive: true });
  }
});

test('makeCa makes a self-signed P-256 CA with CA:true and keyCertSign,cRLSign', () => {
  assert.equal(verify(ca.certFile), 0);
  const x = new X509Certificate(readFileSync(ca.certFile));
  assert.equal(x.ca, true);
  assert.equal(x.subject, 'CN=Test Root');
  assert.equal(x.issuer, x.subject);
  assert.ok(x.verify(x.publicKey));
  const key = createPrivateKey(readFileSync(ca.keyFile));
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(x.checkPrivateKey(key));
  assert.equal(statSync(ca.keyFile).mode & 0o777, 0o600);
  assert.match(ext(ca.certFile, 'basicConstraints'), /critical\s+CA:TRUE/);
  assert.match(ext(ca.certFile, 'keyUsage'), /critical\s+Certificate Sign, CRL Sign\s*$/);
  assert.equal(ca.name, 'Test Root');
  // Trusting a different CA, it is just an untrusted self-signed certificate.
  assert.equal(verify(ca.certFile, [], otherCa.certFile), DEPTH_ZERO_SELF_SIGNED_CERT);
});

test('a server certificate verifies for TLS server use, its SAN names and nothing else', () => {
  const s = issueCert(ca, { cn: 'server.test', san: ['DNS:localhost', 'DNS:server.test', 'IP:127.0.0.1'] });
  assert.equal(verify(s.certFile, ['-purpose', 'sslserver', '-verify_hostname', 'localhost']), 0);
  assert.equal(verify(s.certFile, ['-purpose', 'sslserver', '-verify_ip', '127.0.0.1']), 0);
  assert.equal(verify(s.certFile, ['-verify_hostname', 'elsewhere.test']), HOSTNAME_MISMATCH);
  assert.equal(verify(s.certFile, ['-verify_ip', '127.0.0.2']), IP_ADDRESS_MISMATCH);
  assert.equal(verify(s.certFile, ['-purpose', 'sslclient']), INVALID_PURPOSE);
  assert.equal(verify(s.certFile, [], otherCa.certFile), UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert.match(ext(s.certFile, 'basicConstraints'), /CA:FALSE/);
});

test('a client certificate defaults to clientAuth, key 0600, and reports fingerprint and serial as openssl does', () => {
  const c = issueCert(ca, { cn: 'alice' });
  assert.equal(verify(c.certFile, ['-purpose', 'sslclient']), 0);
  assert.equal(verify(c.certFile, ['-purpose', 'sslserver']), INVALID_PURPOSE);
  assert.equal(statSync(c.keyFile).mode & 0o777, 0o600);
  const x = new X509Certificate(readFileSync(c.certFile));
  assert.equal(x.subject, 'CN=alice');
  assert.ok(x.checkPrivateKey(createPrivateKey(readFileSync(c.keyFile))));
  const out = execFileSync('openssl', ['x509', '-in', c.certFile, '-noout', '-serial', '-fingerprint', '-sha256'], {
    encoding: 'utf8',
  });
  assert.match(out, new RegExp(`^serial=${c.serial}$`, 'm'));
  assert.match(out, new RegExp(`Fingerprint=${c.fingerprint}$`, 'm'));
  assert.match(c.serial, /^[0-9A-F]{32}$/);
});

test('EKU choices: both, none, codeSigning', () => {
  const both = issueCert(ca, { cn: 'both', eku: 'both' });
  assert.equal(verify(both.certFile, ['-purpose', 'sslclient']), 0);
  assert.equal(verify(both.certFile, ['-purpose', 'sslserver']), 0);
  const none = issueCert(ca, { cn: 'none', eku: 'none' });
  const text = execFileSync('openssl', ['x509', '-in', none.certFile, '-noout', '-text'], { encoding: 'utf8' });
  assert.doesNotMatch(text, /Extended Key Usage/);
  assert.match(ext(both.certFile, 'extendedKeyUsage'), /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.equal(verify(none.certFile, ['-purpose', 'sslclient']), 0);
  const code = issueCert(ca, { cn: 'code', eku: 'codeSigning' });
  assert.equal(verify(code.certFile, ['-purpose', 'sslclient']), INVALID_PURPOSE);
  assert.equal(verify(code.certFile, ['-purpose', 'sslserver']), INVALID_PURPOSE);
});

test('RSA keys, reused keys and file stems', () => {
  const r = issueCert(ca, { cn: 'rsa user', keyType: 'rsa', fileStem: 'rsa-user' });
  assert.equal(path.basename(r.certFile), 'rsa-user.crt');
  assert.equal(createPrivateKey(readFileSync(r.keyFile)).asymmetricKeyType, 'rsa');
  assert.equal(verify(r.certFile, ['-purpose', 'sslclient']), 0);

  const again = issueCert(ca, { cn: 'rsa user', keyFile: r.keyFile });
  assert.equal(again.keyFile, r.keyFile);
  assert.notEqual(again.certFile, r.certFile);
  assert.notEqual(again.serial, r.serial);
  const pub = (f: string): string =>
    new X509Certificate(readFileSync(f)).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.equal(pub(again.certFile), pub(r.certFile));

  // The same CN twice keeps both certificates.
  const a1 = issueCert(ca, { cn: 'twice' });
  const a2 = issueCert(ca, { cn: 'twice' });
  assert.notEqual(a1.certFile, a2.certFile);
  assert.notEqual(a1.keyFile, a2.keyFile);
  assert.equal(verify(a1.certFile), 0);
});

test('validity: days, expired and not yet valid', () => {
  const short = issueCert(ca, { cn: 'short', days: 2 });
  const x = new X509Certificate(readFileSync(short.certFile));
  const lifetime = Date.parse(x.validTo) - Date.now();
  assert.ok(lifetime > 86_400_000 && lifetime <= 2 * 86_400_000, x.validTo);

  const day = 86_400_000;
  const expired = issueCert(ca, {
    cn: 'expired',
    notBefore: new Date(Date.now() - 10 * day),
    notAfter: new Date(Date.now() - day),
  });
  assert.equal(verify(expired.certFile), CERT_HAS_EXPIRED);
  const future = issueCert(ca, { cn: 'future', notBefore: new Date(Date.now() + day), days: 5 });
  assert.equal(verify(future.certFile), CERT_NOT_YET_VALID);
});

test('issueFromCsr signs a CSR made elsewhere', () => {
  const key = path.join(dir, 'csr.key');
  const csr = path.join(dir, 'csr.csr');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=from-csr', '-out', csr]);
  const out = path.join(dir, 'from-csr.crt');
  assert.equal(issueFromCsr(ca, csr, out, { san: ['DNS:csr.test'] }), out);
  assert.equal(verify(out, ['-purpose', 'sslserver', '-verify_hostname', 'csr.test']), 0);
  const x = new X509Certificate(readFileSync(out));
  assert.equal(x.subject, 'CN=from-csr');
  assert.ok(x.checkPrivateKey(createPrivateKey(readFileSync(key))));

  const client = path.join(dir, 'from-csr-client.crt');
  issueFromCsr(ca, csr, client);
  assert.equal(verify(client, ['-purpose', 'sslclient']), 0);
  assert.equal(verify(client, ['-purpose', 'sslserver']), INVALID_PURPOSE);
});

test('makeCrl revokes exactly the listed certificates', () => {
  const revoked = issueCert(ca, { cn: 'revoked' });
  const good = issueCert(ca, { cn: 'good' });
  const crl = makeCrl(ca, [revoked.certFile]);
  const crlCheck = ['-crl_check', '-CRLfile', crl];
  assert.equal(verify(revoked.certFile, crlCheck), CERT_REVOKED);
  assert.equal(verify(good.certFile, crlCheck), 0);
  // Without the CRL the revoked certificate is still a good chain: the CRL is what rejects it.
  assert.equal(verify(revoked.certFile), 0);
  const text = execFileSync('openssl', ['crl', '-in', crl, '-noout', '-text'], { encoding: 'utf8' });
  assert.match(text, new RegExp(`Serial Number: ${revoked.serial}`));

  const empty = makeCrl(ca, []);
  assert.equal(verify(revoked.certFile, ['-crl_check', '-CRLfile', empty]), 0);
});

test('makeCrl with expired: true gives a CRL past its nextUpdate', () => {
  const c = issueCert(ca, { cn: 'crl-expiry' });
  const crl = makeCrl(ca, [], { expired: true });
  assert.equal(verify(c.certFile, ['-crl_check', '-CRLfile', crl]), CRL_HAS_EXPIRED);
});

test('the material completes a mutual TLS 1.3 handshake in Node, and the CRL rejects a revoked client', async () => {
  const server = issueCert(ca, { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'] });
  const alice = issueCert(ca, { cn: 'alice' });
  const mallory = issueCert(ca, { cn: 'mallory' });
  const crlFile = makeCrl(ca, [mallory.certFile]);

  const srv = tls.createServer({
    key: readFileSync(server.keyFile),
    cert: readFileSync(server.certFile),
    ca: readFileSync(ca.certFile),
    crl: readFileSync(crlFile),
    requestCert: true,
    // Accept the handshake so the verdict can be reported back instead of a bare reset.
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3',
  });
  srv.on('secureConnection', (s: tls.TLSSocket) => {
    const verdict = s.authorized ? 'trusted' : String(s.authorizationError);
    s.end(`${verdict} ${s.getPeerX509Certificate()?.subject ?? 'nobody'}`);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;

  const connect = (who: { keyFile: string; certFile: string }): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        key: readFileSync(who.keyFile),
        cert: readFileSync(who.certFile),
        ca: readFileSync(ca.certFile),
        minVersion: 'TLSv1.3',
      });
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });

  try {
    assert.equal(await connect(alice), 'trusted CN=alice');
    assert.equal(await connect(mallory), 'CERT_REVOKED CN=mallory');
  } finally {
    srv.close();
  }
});
