// A TPM that stops answering must not hang logins: tlsshd's key agent gives each signature a
// deadline (TpmTimeout), fails the handshakes waiting on the TPM with TLSSH_ERR_TPM_TIMEOUT (the
// client, which cannot be told more before the server has authenticated, gets a TLS alert), says
// so in one log line naming the TCTI, and serves logins again once the TPM answers. A real
// swtpm sits behind a proxy that holds its answers on command; the client is the real bin/tlssh.

import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { fork } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueCert, makeCa, makeTempDir, type Ca } from '../helpers/ca';
import { startTlsshd, type TlsshdHandle } from '../helpers/server-harness';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { startStallProxy, type StallProxy } from '../helpers/tpm-stall-proxy';
import { codeOf, runTlssh, tpmIdentity } from './tpm-login-fixture';
import { AGENT_OP, createTpmKey, decodeResponse, encodeRequest, flushAll, startKeyAgent } from '../../src/tpm';
import type { AgentResponse } from '../../src/tpm/agent-protocol';

describe('tlsshd with a stalled TPM', { skip: !!process.env['TLSSH_TEST_STALL_AGENT'] }, () => {
  let dir: string;
  let ca: Ca;
  let tpm: Swtpm;
  let proxy: StallProxy;
  let server: TlsshdHandle;
  let clientConfig: string;

  before(async () => {
    dir = makeTempDir('tlssh-tpm-stall');
    ca = makeCa(path.join(dir, 'ca'));
    tpm = await startSwtpm();
    proxy = await startStallProxy(tpm.port);
    const serverKey = tpmIdentity(ca, tpm, dir, 'server', { cn: 'localhost', server: true });
    const user = os.userInfo().username;
    const client = issueCert(ca, { cn: user, eku: 'clientAuth' });
    server = await startTlsshd({
      dir,
      config: {
        CertFile: serverKey.certFile,
        KeyFile: serverKey.keyFile,
        PrivkeyEngine: 'tpm',
        TpmTcti: proxy.tcti,
        // Short enough for a quick test, long enough for swtpm on a loaded machine.
        TpmTimeout: '3',
        ClientCAFile: ca.certFile,
        PermitRootLogin: 'yes',
      },
    });
    clientConfig = path.join(dir, 'tlssh.conf');
    fs.writeFileSync(
      clientConfig,
      `Port ${server.port}\nServerCAFile ${ca.certFile}\nCertFile ${client.certFile}\nKeyFile ${client.keyFile}\nConnectTimeout 60\n`,
      { mode: 0o600 },
    );
  });

  after(async () => {
    proxy?.resume();
    await server?.stop();
    await proxy?.close();
    await tpm?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('fails handshakes at once (TLSSH_ERR_TPM_TIMEOUT in the log) while the TPM is stalled, and serves logins again once it answers', { timeout: 90_000 }, async () => {
    const before = await runTlssh(['-c', clientConfig, 'localhost', 'echo before']);
    assert.equal(before.status, 0, before.stderr);
    assert.equal(before.stdout, 'before\n');

    proxy.stall();
    // The first login waits out TpmTimeout; the test's own timeout catches a hang.
    const first = await runTlssh(['-c', clientConfig, '-v', 'localhost', 'true']);
    assert.equal(first.status, 255, first.stderr);
    // The server cannot authenticate without its key, so all TLS lets it send is an alert.
    assert.equal(codeOf(first.stderr), 'TLSSH_ERR_TLS_HANDSHAKE', first.stderr);
    await server.waitForLog(/handshake.* failed: server key: TLSSH_ERR_TPM_TIMEOUT/);
    const stallLine = await server.waitForLog(/did not answer within/);
    assert.ok(stallLine.includes(proxy.tcti), stallLine);
    assert.equal(proxy.held, 1, 'the stalled command is still waiting for its answer');
    // While the stalled command has no answer, logins fail without asking the TPM again.
    const second = await runTlssh(['-c', clientConfig, '-v', 'localhost', 'true']);
    assert.equal(second.status, 255, second.stderr);
    assert.equal(codeOf(second.stderr), 'TLSSH_ERR_TLS_HANDSHAKE', second.stderr);
    assert.equal(server.logs().split('\n').filter((l) => /server key: TLSSH_ERR_TPM_TIMEOUT/.test(l)).length, 2, server.logs());
    assert.equal(server.logs().split('\n').filter((l) => /did not answer within/.test(l)).length, 1, 'one log line per stall');

    proxy.resume();
    await server.waitForLog(/answered again/);
    const afterwards = await runTlssh(['-c', clientConfig, 'localhost', 'echo after']);
    assert.equal(afterwards.status, 0, afterwards.stderr);
    assert.equal(afterwards.stdout, 'after\n');
    if (process.env['TLSSH_TEST_SHOW_LOGS']) console.log(server.logs());
  });

  it('stops on SIGTERM while a TPM command is stuck', { timeout: 60_000 }, async () => {
    proxy.stall();
    const r = await runTlssh(['-c', clientConfig, '-v', 'localhost', 'true']);
    assert.equal(r.status, 255, r.stderr);
    assert.equal(proxy.held, 1);
    // The stuck command holds the addon's TPM lock; the daemon must exit anyway.
    await server.stop();
  });
});

// The agent under test runs in a child process: its key flush at close is a synchronous TPM
// command, which would wait for ever on a proxy served by this process's blocked event loop.
const AGENT_CHILD = 'TLSSH_TEST_STALL_AGENT';
if (process.env[AGENT_CHILD]) {
  const cfg = JSON.parse(process.env[AGENT_CHILD] as string) as { socketPath: string; keyFile: string; tcti: string };
  void startKeyAgent({ socketPath: cfg.socketPath, keys: [{ keyFile: cfg.keyFile, tcti: cfg.tcti }], timeoutMs: 2000, log: (l) => process.send?.({ log: l }) }).then(
    (agent) => {
      process.send?.({ ready: true });
      process.on('message', () => void agent.close().then(() => process.exit(0)));
    },
    (e: unknown) => {
      process.send?.({ log: `start failed: ${String(e)}` });
      process.exit(1);
    },
  );
}

describe('the key agent with a stalled TPM', { skip: !!process.env[AGENT_CHILD] }, () => {
  let dir: string;
  let tpm: Swtpm;
  let proxy: StallProxy;

  before(async () => {
    dir = makeTempDir('tlssh-agent-stall');
    tpm = await startSwtpm();
    proxy = await startStallProxy(tpm.port);
  });
  after(async () => {
    proxy?.resume();
    await proxy?.close();
    await tpm?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function ask(socketPath: string, keyFile: string): Promise<AgentResponse> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      const parts: Buffer[] = [];
      s.on('data', (b: Buffer) => parts.push(b));
      s.on('error', reject);
      s.on('end', () => resolve(decodeResponse(Buffer.concat(parts))));
      s.write(encodeRequest({ op: AGENT_OP.ecdsaSign, keyId: keyFile, input: crypto.randomBytes(32) }));
    });
  }

  it('fails the stalled request and those queued behind it with TLSSH_ERR_TPM_TIMEOUT, logs once, and recovers', { timeout: 60_000 }, async () => {
    const keyFile = path.join(dir, 'agent.tss2');
    fs.writeFileSync(keyFile, await createTpmKey({ tcti: tpm.tcti, type: 'ecc' }), { mode: 0o600 });
    flushAll();
    const socketPath = path.join(dir, 'agent.sock');
    const lines: string[] = [];
    const child = fork(__filename, [], { env: { ...process.env, [AGENT_CHILD]: JSON.stringify({ socketPath, keyFile, tcti: proxy.tcti }) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const waitLine = async (re: RegExp): Promise<void> => {
      while (!lines.some((l) => re.test(l))) await new Promise((r) => setTimeout(r, 50));
    };
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: { log?: string; ready?: boolean }) => {
        if (m.log) lines.push(m.log);
        if (m.ready) resolve();
      });
      child.once('exit', (c) => reject(new Error(`the agent exited with ${String(c)}: ${lines.join('\n')}`)));
    });
    try {
      assert.equal((await ask(socketPath, keyFile)).ok, true);
      proxy.stall();
      const answers = await Promise.all([1, 2, 3].map(() => ask(socketPath, keyFile)));
      for (const a of answers) assert.equal(a.ok ? 'ok' : a.code, 'TLSSH_ERR_TPM_TIMEOUT');
      const later = await ask(socketPath, keyFile);
      assert.equal(later.ok ? 'ok' : later.code, 'TLSSH_ERR_TPM_TIMEOUT');
      assert.equal(proxy.held, 1, 'nothing more was sent to the stalled TPM');
      assert.equal(lines.filter((l) => /did not answer within 2 s/.test(l) && l.includes(proxy.tcti)).length, 1, lines.join('\n'));
      assert.equal(lines.filter((l) => /TLSSH_ERR_TPM_TIMEOUT/.test(l)).length, 1, 'no line per failed request');

      proxy.resume();
      await waitLine(/answered again/);
      const back = await ask(socketPath, keyFile);
      assert.equal(back.ok, true);
    } finally {
      proxy.resume();
      child.send('stop');
      await exited;
    }
  });
});
