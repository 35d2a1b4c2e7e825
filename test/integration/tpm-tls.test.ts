// Real TLS 1.3 mutual handshakes where the private keys live in two separate software TPMs and
// Node's TLS signs through the 'tpm' engine.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { registerTemp } from '../helpers/temp-registry';
import { TPM_ENGINE_ID, configureTpmKey, createTpmKey, flushAll } from '../../src/tpm';

interface Ca {
  cert: Buffer;
  issue(pub: crypto.KeyObject, cn: string): Buffer;
}

function makeCa(dir: string): Ca {
  const key = path.join(dir, 'ca.key');
  const crt = path.join(dir, 'ca.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-subj', '/CN=tlssh test CA', '-days', '2'], { stdio: 'ignore' });
  return {
    cert: fs.readFileSync(crt),
    issue(pub, cn) {
      const pubFile = path.join(dir, `${cn}.pub`);
      const out = path.join(dir, `${cn}.crt`);
      fs.writeFileSync(pubFile, pub.export({ type: 'spki', format: 'pem' }));
      execFileSync('openssl', ['x509', '-new', '-CA', crt, '-CAkey', key, '-force_pubkey', pubFile, '-subj', `/CN=${cn}`, '-days', '2', '-out', out], { stdio: 'ignore' });
      return fs.readFileSync(out);
    },
  };
}

interface Side {
  cert: Buffer;
  key: { privateKeyEngine: string; privateKeyIdentifier: string } | { key: string };
}

async function tpmSide(ca: Ca, tpm: Swtpm, dir: string, name: string, spec: { type: 'ecc' } | { type: 'rsa'; bits: 2048 }): Promise<Side> {
  const file = path.join(dir, `${name}.tss2`);
  fs.writeFileSync(file, await createTpmKey({ tcti: tpm.tcti, ...spec }), { mode: 0o600 });
  const info = configureTpmKey(file, { tcti: tpm.tcti });
  return { cert: ca.issue(info.publicKey, name), key: { privateKeyEngine: TPM_ENGINE_ID, privateKeyIdentifier: file } };
}

function fileSide(ca: Ca, name: string): Side {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { cert: ca.issue(publicKey, name), key: { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string } };
}

interface Result {
  protocol: string | null;
  serverSawClient: string;
  clientSawServer: string;
}

function startServer(ca: Ca, server: Side): Promise<{ port: number; close(): Promise<void>; seen: string[] }> {
  const seen: string[] = [];
  const srv = tls.createServer({ ca: ca.cert, cert: server.cert, ...server.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', noDelay: true }, (s) => {
    seen.push(String(s.getPeerCertificate().subject.CN));
    s.end('ok');
  });
  return new Promise((resolve) => {
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      resolve({ port: typeof a === 'object' && a ? a.port : 0, seen, close: () => new Promise((r) => srv.close(() => r())) });
    });
  });
}

function connect(ca: Ca, port: number, client: Side): Promise<Result> {
  return new Promise((resolve, reject) => {
    const c = tls.connect({
      host: '127.0.0.1', port, ca: ca.cert, cert: client.cert, ...client.key, minVersion: 'TLSv1.3',
      servername: 'server', checkServerIdentity: () => undefined,
    });
    c.setNoDelay(true);
    let data = '';
    c.on('data', (d: Buffer) => (data += d.toString()));
    c.on('error', reject);
    c.on('end', () => {
      assert.equal(data, 'ok');
      resolve({ protocol: c.getProtocol(), serverSawClient: '', clientSawServer: String(c.getPeerCertificate().subject.CN) });
    });
  });
}

async function handshake(ca: Ca, server: Side, client: Side): Promise<Result> {
  const srv = await startServer(ca, server);
  try {
    const r = await connect(ca, srv.port, client);
    return { ...r, serverSawClient: srv.seen[0] ?? '' };
  } finally {
    await srv.close();
  }
}

async function rate(ca: Ca, server: Side, client: Side, ms: number): Promise<number> {
  const srv = await startServer(ca, server);
  const start = process.hrtime.bigint();
  let n = 0;
  try {
    while (Number(process.hrtime.bigint() - start) / 1e6 < ms) {
      await connect(ca, srv.port, client);
      n++;
    }
  } finally {
    await srv.close();
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

describe('TLS 1.3 with TPM keys', () => {
  let tpmA: Swtpm;
  let tpmB: Swtpm;
  let dir: string;
  let ca: Ca;
  before(async () => {
    [tpmA, tpmB] = await Promise.all([startSwtpm(), startSwtpm()]);
    dir = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpm-tls-')));
    ca = makeCa(dir);
  });
  after(async () => {
    flushAll();
    await Promise.all([tpmA.stop(), tpmB.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ECDSA: both sides sign in their own TPM', async () => {
    const server = await tpmSide(ca, tpmA, dir, 'server-ecc', { type: 'ecc' });
    const client = await tpmSide(ca, tpmB, dir, 'client-ecc', { type: 'ecc' });
    const r = await handshake(ca, server, client);
    assert.equal(r.protocol, 'TLSv1.3');
    assert.equal(r.serverSawClient, 'client-ecc');
    assert.equal(r.clientSawServer, 'server-ecc');
  });

  it('RSA-PSS: both sides sign in their own TPM', async () => {
    const server = await tpmSide(ca, tpmA, dir, 'server-rsa', { type: 'rsa', bits: 2048 });
    const client = await tpmSide(ca, tpmB, dir, 'client-rsa', { type: 'rsa', bits: 2048 });
    const r = await handshake(ca, server, client);
    assert.equal(r.protocol, 'TLSv1.3');
    assert.equal(r.serverSawClient, 'client-rsa');
    assert.equal(r.clientSawServer, 'server-rsa');
  });

  it('mixes a TPM key on one side with a file key on the other', async () => {
    const server = fileSide(ca, 'server-file');
    const client = await tpmSide(ca, tpmB, dir, 'client-mixed', { type: 'rsa', bits: 2048 });
    const r = await handshake(ca, server, client);
    assert.equal(r.serverSawClient, 'client-mixed');
  });

  it('refuses a handshake when the TPM key does not match the certificate', async () => {
    const server = await tpmSide(ca, tpmA, dir, 'server-mismatch', { type: 'ecc' });
    const other = fileSide(ca, 'other');
    assert.throws(() => tls.createSecureContext({ cert: other.cert, ...server.key }));
  });

  it('measures handshakes per second, TPM keys against file keys (reported, not asserted)', async (t) => {
    const tpmServer = await tpmSide(ca, tpmA, dir, 'bench-server', { type: 'ecc' });
    const tpmClient = await tpmSide(ca, tpmB, dir, 'bench-client', { type: 'ecc' });
    const withFiles = await rate(ca, fileSide(ca, 'bench-server-file'), fileSide(ca, 'bench-client-file'), 1500);
    const withTpm = await rate(ca, tpmServer, tpmClient, 1500);
    t.diagnostic(`mutual TLS 1.3 handshakes/s, ECDSA P-256, one process, sequential: TPM (swtpm) ${withTpm.toFixed(0)}, PEM files ${withFiles.toFixed(0)}`);
    assert.ok(withTpm > 0 && withFiles > 0);
  });
});
