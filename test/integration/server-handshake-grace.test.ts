// A handshake stalled in a worker is ended by LoginGraceTime and earns grace-exceeded. Node's
// tls.Server ends a handshake after 120 s by itself; it used to do so at the same moment as the
// default grace timer and be reported after it, as a plain TLS failure (noauth, 1 s), so stalled
// handshakes never added up to a refusal and ten addresses could hold MaxStartups full. It needs
// the default LoginGraceTime, 120 s, so this file waits about two minutes, alone.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { test } from 'node:test';
import { captureClientHello } from '../helpers/client-hello';
import { loginUser, makeServerFixture, startTlsshd } from '../helpers/server-harness';

test('a handshake stalled for the default LoginGraceTime (120 s, Node\'s own timeout too) earns grace-exceeded', async () => {
  const fx = makeServerFixture('tlsshd-grace');
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...loginUser().config, PerSourcePenalties: 'grace-exceeded:30s noauth:1s' } });
  const hello = await captureClientHello();
  // A whole ClientHello, then silence, from an address of its own.
  const stalled = net.connect({ host: '127.0.0.1', port: d.port, localAddress: '127.0.0.7' }, () => stalled.write(hello));
  stalled.on('error', () => undefined);
  try {
    await d.waitForLog(/penalty: 127\.0\.0\.7\/32 refused for 30s \(grace-exceeded\)/, 150_000);
    assert.match(d.logs(), /timeout before authentication/);
  } finally {
    stalled.destroy();
    await d.stop();
    fs.rmSync(fx.dir, { recursive: true, force: true });
  }
});
