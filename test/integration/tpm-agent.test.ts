// The key agent: a worker-side TLS handshake whose engine signs by asking an agent in another
// process (the engine call is synchronous, so the agent cannot share the worker's event loop),
// plus the agent's protocol handling, checked in-process over its socket.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { registerTemp } from '../helpers/temp-registry';
import {
  AGENT_OP,
  TPM_ENGINE_ID,
  createTpmKey,
  decodeResponse,
  encodeRequest,
  flushAll,
  startKeyAgent,
  takeTpmEngineError,
  tpmPublicKey,
  useKeyAgent,
} from '../../src/tpm';

const CHILD = 'TLSSH_TEST_TPM_AGENT_CHILD';

if (process.env[CHILD]) {
  // The agent process: serve the keys named in the environment until told to stop.
  const cfg = JSON.parse(process.env[CHILD] as string) as { socketPath: string; keys: Array<{ keyFile: string; tcti: string; keyPassword?: string }> };
  startKeyAgent({ socketPath: cfg.socketPath, keys: cfg.keys }).then(
    (agent) => {
      process.send?.('ready');
      process.on('message', () => void agent.close().then(() => process.exit(0)));
    },
    (e: unknown) => {
      process.send?.(`error ${(e as { code?: string }).code ?? String(e)}`);
      process.exit(1);
    },
  );
} else {
  describe('TPM key agent', () => {
    let swtpm: Swtpm;
    let dir: string;
    let caKey: string;
    let caCrt: string;
    before(async () => {
      swtpm = await startSwtpm();
      dir = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpm-agent-')));
      caKey = path.join(dir, 'ca.key');
      caCrt = path.join(dir, 'ca.crt');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCrt, '-subj', '/CN=agent test CA', '-days', '2'], { stdio: 'ignore' });
    });
    after(async () => {
      flushAll();
      await swtpm.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function issue(pub: crypto.KeyObject, cn: string): Buffer {
      const pubFile = path.join(dir, `${cn}.pub`);
      const out = path.join(dir, `${cn}.crt`);
      fs.writeFileSync(pubFile, pub.export({ type: 'spki', format: 'pem' }));
      execFileSync('openssl', ['x509', '-new', '-CA', caCrt, '-CAkey', caKey, '-force_pubkey', pubFile, '-subj', `/CN=${cn}`, '-days', '2', '-out', out], { stdio: 'ignore' });
      return fs.readFileSync(out);
    }

    async function newKey(name: string, type: 'ecc' | 'rsa', keyPassword?: string): Promise<string> {
      const file = path.join(dir, `${name}.tss2`);
      fs.writeFileSync(file, await createTpmKey({ tcti: swtpm.tcti, type, keyPassword }), { mode: 0o600 });
      flushAll(); // the agent process needs swtpm, which serves one client at a time
      return file;
    }

    function startChild(cfg: { socketPath: string; keys: Array<{ keyFile: string; tcti: string; keyPassword?: string }> }): Promise<ChildProcess> {
      const child = fork(__filename, [], { env: { ...process.env, [CHILD]: JSON.stringify(cfg) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new Promise((resolve, reject) => {
        child.once('message', (m) => (m === 'ready' ? resolve(child) : reject(new Error(String(m)))));
        child.once('exit', (c) => reject(new Error(`agent exited with ${c}`)));
      });
    }

    function stopChild(child: ChildProcess): Promise<void> {
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send('stop');
      });
    }

    async function serverHandshake(keyFile: string, cn: string): Promise<string> {
      const serverCert = issue(tpmPublicKey(fs.readFileSync(keyFile), keyFile), cn);
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const clientCert = issue(publicKey, 'client');
      const ca = fs.readFileSync(caCrt);
      const srv = tls.createServer({ ca, cert: serverCert, privateKeyEngine: TPM_ENGINE_ID, privateKeyIdentifier: keyFile, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (s) => s.end('ok'));
      srv.on('tlsClientError', () => undefined);
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const port = (srv.address() as net.AddressInfo).port;
      try {
        return await new Promise<string>((resolve, reject) => {
          const c = tls.connect({ host: '127.0.0.1', port, ca, cert: clientCert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }), checkServerIdentity: () => undefined });
          let data = '';
          c.on('data', (d: Buffer) => (data += d.toString()));
          c.on('end', () => resolve(`${data} ${String(c.getPeerCertificate().subject.CN)}`));
          c.on('error', reject);
        });
      } finally {
        await new Promise((r) => srv.close(r));
      }
    }

    it('a worker-side TLS handshake signs through the agent (ECDSA and RSA-PSS)', async () => {
      const ecc = await newKey('agent-ecc', 'ecc');
      const rsa = await newKey('agent-rsa', 'rsa', 'rsa pw');
      const socketPath = path.join(dir, 'agent.sock');
      const child = await startChild({ socketPath, keys: [{ keyFile: ecc, tcti: swtpm.tcti }, { keyFile: rsa, tcti: swtpm.tcti, keyPassword: 'rsa pw' }] });
      try {
        assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);
        useKeyAgent(ecc, socketPath);
        useKeyAgent(rsa, socketPath);
        assert.equal(await serverHandshake(ecc, 'agent-ecc'), 'ok agent-ecc');
        assert.equal(await serverHandshake(rsa, 'agent-rsa'), 'ok agent-rsa');
      } finally {
        await stopChild(child);
      }
      // With the agent gone the handshake fails, and the reason is a clean TlsshError.
      await assert.rejects(serverHandshake(ecc, 'agent-ecc'));
      assert.equal(takeTpmEngineError()?.code, 'TLSSH_ERR_TPM_AGENT');
    });

    async function ask(socketPath: string, raw: Buffer): Promise<ReturnType<typeof decodeResponse>> {
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const c = net.connect(socketPath, () => c.write(raw));
        c.on('data', (d: Buffer) => chunks.push(d));
        c.on('end', () => {
          try {
            resolve(decodeResponse(Buffer.concat(chunks)));
          } catch (e) {
            reject(e);
          }
        });
        c.on('error', reject);
      });
    }

    it('signs for served keys only, rejects malformed requests, and survives a TPM restart', async () => {
      const key = await newKey('agent-inproc', 'ecc');
      const socketPath = path.join(dir, 'inproc.sock');
      const lines: string[] = [];
      const agent = await startKeyAgent({ socketPath, keys: [{ keyFile: key, tcti: swtpm.tcti }], log: (l) => lines.push(l) });
      try {
        const digest = crypto.createHash('sha256').update('agent').digest();
        const pub = tpmPublicKey(fs.readFileSync(key));
        const ok = await ask(socketPath, encodeRequest({ op: AGENT_OP.ecdsaSign, keyId: key, input: digest }));
        assert.ok(ok.ok && crypto.verify('sha256', Buffer.from('agent'), pub, ok.output));

        const other = await ask(socketPath, encodeRequest({ op: AGENT_OP.ecdsaSign, keyId: '/etc/shadow', input: digest }));
        assert.deepEqual([other.ok, !other.ok && other.code], [false, 'TLSSH_ERR_TPM_AGENT']);

        const junk = await ask(socketPath, Buffer.from([0, 0, 0, 5, 9, 0, 0, 1, 2]));
        assert.deepEqual([junk.ok, !junk.ok && junk.code], [false, 'TLSSH_ERR_TPM_AGENT']);

        const wrongOp = await ask(socketPath, encodeRequest({ op: AGENT_OP.rsaPrivate, keyId: key, input: Buffer.alloc(256) }));
        assert.equal(wrongOp.ok, false);

        await swtpm.restart();
        const again = await ask(socketPath, encodeRequest({ op: AGENT_OP.ecdsaSign, keyId: key, input: digest }));
        assert.ok(again.ok && crypto.verify('sha256', Buffer.from('agent'), pub, again.output));
        assert.ok(agent.served >= 2);
        assert.ok(!lines.join('\n').includes('pw'));
      } finally {
        await agent.close();
      }
      assert.equal(fs.existsSync(socketPath), false);
    });

    it('refuses to start when a key password is wrong', async () => {
      const key = await newKey('agent-badpw', 'ecc', 'right');
      await assert.rejects(
        startKeyAgent({ socketPath: path.join(dir, 'bad.sock'), keys: [{ keyFile: key, tcti: swtpm.tcti, keyPassword: 'wrong' }] }),
        { code: 'TLSSH_ERR_TPM_AUTH' },
      );
    });
  });
}
