// A TPM that stops answering must not hang logins: tlsshd's key agent gives each signature a
// deadline (TpmTimeout), fails the handshakes waiting on the TPM with TLSSH_ERR_TPM_TIMEOUT (the
// client, which cannot be told more before the server has authenticated, gets a TLS alert), says
// so in one log line naming the TCTI, and serves logins again once the TPM answers. A real
// swtpm sits behind a proxy that holds its answers on command; the client is the real bin/tlssh.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueCert, makeCa, makeTempDir, type Ca } from '../helpers/ca';
import { startTlsshd, type TlsshdHandle } from '../helpers/server-harness';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { startStallProxy, type StallProxy } from '../helpers/tpm-stall-proxy';
import { codeOf, runTlssh, tpmIdentity } from './tpm-login-fixture';

describe('tlsshd with a stalled TPM', () => {
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
    await server.waitForLog(/handshake .* failed: server key: TLSSH_ERR_TPM_TIMEOUT/);
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
