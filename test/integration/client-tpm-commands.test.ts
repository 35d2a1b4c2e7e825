// Which TPM commands one tlssh login with a TPM key sends, counted by a proxy in front of swtpm:
// each command costs a real chip 20-200 ms, so a login that sends more than it needs is slower.
// The first login loads the key the long way (CreatePrimary + Load, and nothing else before the
// signature: the primary is flushed after it, with the key) and saves the key's context; the
// next one loads that context (one ContextLoad) and flushes only the key, also when the TPM is
// slower than the command. The key is loaded while the connection is made, not before it.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configureTpmKey, createTpmKey } from '../../src/tpm';
import * as net from 'node:net';
import { startCountProxy, type CountProxy } from '../helpers/tpm-count-proxy';
import { startStallProxy } from '../helpers/tpm-stall-proxy';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { runTlssh, startFixture, type ClientFixture } from './client-fixture';

describe('TPM commands per tlssh login', () => {
  let fx: ClientFixture;
  let tpm: Swtpm;
  let proxy: CountProxy;
  let home: string;
  let conf: string;

  before(async () => {
    fx = await startFixture();
    tpm = await startSwtpm();
    proxy = await startCountProxy(tpm.port);
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpmcount-'));
    const keyFile = path.join(fx.dir, 'count.tss2');
    fs.writeFileSync(keyFile, await createTpmKey({ tcti: tpm.tcti, type: 'ecc' }), { mode: 0o600 });
    const pubFile = path.join(fx.dir, 'count.pub');
    fs.writeFileSync(pubFile, configureTpmKey(keyFile, { tcti: tpm.tcti }).publicKey.export({ type: 'spki', format: 'pem' }));
    const certFile = path.join(fx.dir, 'count.crt');
    execFileSync('openssl', ['x509', '-new', '-CA', fx.ca.certFile, '-CAkey', fx.ca.keyFile, '-force_pubkey', pubFile, '-subj', `/CN=${fx.user}`, '-days', '2', '-out', certFile], { stdio: 'ignore' });
    conf = path.join(fx.dir, 'count.conf');
    const lines = fs.readFileSync(fx.configFile, 'utf8').replace(/^CertFile .*$/m, `CertFile ${certFile}`).replace(/^KeyFile .*$/m, `KeyFile ${keyFile}`);
    fs.writeFileSync(conf, `${lines}PrivkeyEngine tpm\nTpmTcti ${proxy.tcti}\n`, { mode: 0o600 });
  });
  after(async () => {
    await proxy?.close();
    await tpm?.stop();
    await fx?.stop();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  async function login(): Promise<readonly string[]> {
    proxy.reset();
    const r = await runTlssh(['-c', conf, 'localhost', 'true'], { env: { ...process.env, LANG: 'C', HOME: home } });
    assert.equal(r.status, 0, r.stderr);
    return [...proxy.commands];
  }

  it('first login: only CreatePrimary and Load before the signature; the context is saved for the next', async () => {
    const cmds = await login();
    assert.deepEqual(cmds.slice(0, 3), ['CreatePrimary', 'Load', 'Sign'], cmds.join(' '));
    assert.deepEqual([...cmds.slice(3)].sort(), ['ContextSave', 'FlushContext', 'FlushContext'], cmds.join(' '));
    const saved = fs.readdirSync(path.join(home, '.tlssh', 'tpm-contexts'));
    assert.equal(saved.length, 1);
    assert.equal(fs.statSync(path.join(home, '.tlssh', 'tpm-contexts', saved[0] ?? '')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(home, '.tlssh', 'tpm-contexts')).mode & 0o777, 0o700);
  });

  it('next login: 3 TPM commands (ContextLoad, Sign, FlushContext)', async () => {
    assert.deepEqual(await login(), ['ContextLoad', 'Sign', 'FlushContext']);
  });

  it('a context the TPM refuses (after a TPM reset) falls back to loading the key, and is saved again', async () => {
    const dir = path.join(home, '.tlssh', 'tpm-contexts');
    const [name] = fs.readdirSync(dir);
    const file = path.join(dir, name ?? '');
    const blob = fs.readFileSync(file);
    // Flip a byte inside the TPM-protected part: the TPM's integrity check refuses it, as it
    // refuses a context saved before a reset or by another TPM.
    blob[30] = (blob[30] ?? 0) ^ 0xff; // in the integrity HMAC, past the TPMS_CONTEXT header
    fs.writeFileSync(file, blob, { mode: 0o600 });
    const cmds = await login();
    assert.deepEqual(cmds.slice(0, 4), ['ContextLoad', 'CreatePrimary', 'Load', 'Sign'], cmds.join(' '));
    assert.deepEqual(await login(), ['ContextLoad', 'Sign', 'FlushContext']);
  });

  it('with a slow TPM, a command that ends before the release still saves the context', async () => {
    // Each response held 300 ms: `true` ends long before ContextSave and the two flushes after
    // the signature (900 ms). A client that exits then leaves the flushes to its exit hook and
    // never writes the context, so every later login loads the key the long way.
    const slowHome = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpmslow-'));
    proxy.setDelay(300);
    try {
      const run = async (): Promise<readonly string[]> => {
        proxy.reset();
        const r = await runTlssh(['-c', conf, 'localhost', 'true'], { env: { ...process.env, LANG: 'C', HOME: slowHome } });
        assert.equal(r.status, 0, r.stderr);
        return [...proxy.commands];
      };
      const first = await run();
      assert.deepEqual(first.slice(0, 3), ['CreatePrimary', 'Load', 'Sign'], first.join(' '));
      assert.equal(fs.readdirSync(path.join(slowHome, '.tlssh', 'tpm-contexts')).length, 1);
      assert.deepEqual(await run(), ['ContextLoad', 'Sign', 'FlushContext']);
    } finally {
      proxy.setDelay(0);
      fs.rmSync(slowHome, { recursive: true, force: true });
    }
  });

  it('connects while the TPM is still loading the key', async () => {
    // The client's TPM answers nothing until the server has seen the TCP connection: a client
    // that loaded its key before connecting would never connect, and this test would fail at
    // its bound. The "server" only records the connection and hangs up.
    const stall = await startStallProxy(tpm.port);
    stall.stall();
    let sawConnection!: () => void;
    const connected = new Promise<void>((resolve) => {
      sawConnection = resolve;
    });
    let heldAtConnect = -1;
    const server = net.createServer((sock) => {
      heldAtConnect = stall.held;
      sawConnection();
      sock.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    const stallConf = path.join(fx.dir, 'stall.conf');
    const text = fs.readFileSync(conf, 'utf8').replace(/^TpmTcti .*$/m, `TpmTcti ${stall.tcti}`).replace(/^Port .*$/m, '');
    fs.writeFileSync(stallConf, `${text}Port ${port}\n`, { mode: 0o600 });
    try {
      const run = runTlssh(['-c', stallConf, 'localhost', 'true'], { env: { ...process.env, LANG: 'C', HOME: home }, killAfterMs: 60_000 });
      const bound = new Promise<'bound'>((resolve) => setTimeout(() => resolve('bound'), 30_000).unref());
      const first = await Promise.race([connected.then(() => 'connected' as const), bound]);
      // The load runs on the thread pool and may reach the TPM just after the connection does
      // (on a busy machine): what matters is that both are in flight at once, while it stalls.
      for (let i = 0; i < 400 && stall.held < 1; i++) await new Promise((r) => setTimeout(r, 25));
      heldAtConnect = Math.max(heldAtConnect, stall.held);
      stall.resume();
      const r = await run;
      assert.equal(first, 'connected', `no connection while the TPM was stalled: ${r.stderr}`);
      assert.ok(heldAtConnect >= 1, `the TPM got no command while the connection was open (${heldAtConnect})`);
      // The server hung up: the failure is the connection's, after the key had loaded.
      assert.equal(r.status, 255, r.stderr);
    } finally {
      stall.resume();
      server.close();
      await stall.close();
    }
  });
});
