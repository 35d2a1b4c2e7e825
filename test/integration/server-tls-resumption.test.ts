// A login needs the client's key in every handshake: a resumed TLS session (a ticket from an
// earlier connection) proves nothing about the key or the certificate's validity now. With
// WorkerForkServer yes every worker shares its parent's ticket key, so a ticket from one login
// would open the next one without the key: tlsshd issues no tickets, and a worker refuses a
// resumed session whatever the TLS layer did.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { encodeMessage } from '../../src/protocol/codec';
import { ALPN_TLSSH2 } from '../../src/protocol/messages';
import { loginUser, makeServerFixture, sessionRequest, startTlsshd, type ServerFixture, type TlsshdHandle } from '../helpers/server-harness';

const me = loginUser();

interface Outcome {
  /** What openssl printed: its session summary says "Reused" for a resumed session. */
  out: string;
}

/**
 * One connection with openssl s_client (a client that resumes whenever the server allows it) that
 * asks for `id -un`. `withKey`: the certificate is sent; `sessOut`/`sessIn`: the session is saved
 * or resumed.
 */
function attempt(port: number, fx: ServerFixture, withKey: boolean, sess: { out?: string; in?: string }, command = true): Promise<Outcome> {
  const id = fx.client(me.name);
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-alpn', ALPN_TLSSH2, '-CAfile', id.caFile, '-ign_eof',
    ...(withKey ? ['-cert', id.certFile, '-key', id.keyFile] : []),
    ...(sess.out ? ['-sess_out', sess.out] : []), ...(sess.in ? ['-sess_in', sess.in] : [])];
  return new Promise((resolve) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    if (command) child.stdin.write(Buffer.concat([encodeMessage(sessionRequest({ command: 'id -un' })), encodeMessage({ type: 'eof', stream: 0 })]));
    // Long enough for the command and for the tickets that follow a handshake.
    setTimeout(() => child.stdin.end(), 1500).unref();
    setTimeout(() => child.kill(), 20_000).unref();
    child.on('close', () => resolve({ out: Buffer.concat(chunks).toString('latin1') }));
  });
}

for (const forkServer of [false, true]) {
  describe(forkServer ? 'WorkerForkServer yes' : 'a worker per connection (the default)', () => {
    const fx = makeServerFixture(`tlsshd-resume-${forkServer ? 'fork' : 'exec'}`);
    let d: TlsshdHandle | undefined;
    after(async () => {
      await d?.stop();
      fs.rmSync(fx.dir, { recursive: true, force: true });
    });

    it('a session from an earlier login does not log in again without the key', async () => {
      d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, WorkerForkServer: forkServer ? 'yes' : 'no' } });
      const saved = `${fx.dir}/session.pem`;
      const login = await attempt(d.port, fx, true, {});
      assert.match(login.out, new RegExp(`\\b${me.name}\\n`), login.out.slice(-2000));
      // A handshake with the key, and nothing more: the session openssl keeps from it.
      await attempt(d.port, fx, true, { out: saved }, false);
      const again = await attempt(d.port, fx, false, fs.existsSync(saved) ? { in: saved } : {});
      assert.doesNotMatch(again.out, /^Reused,/m, 'the TLS session was resumed');
      assert.doesNotMatch(again.out, new RegExp(`\\b${me.name}\\n`), 'a command ran without the key');
      assert.match(again.out, /TLSSH_ERR_CLIENT_CERT_MISSING/);
    });
  });
}
