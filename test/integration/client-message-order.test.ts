// The client enforces the server's side of PROTOCOL.md section 6: the real bin/tlssh against a
// fake tlssh/2 server that breaks the order on purpose. Each case must end tlssh with status 255
// and TLSSH_ERR_PROTOCOL_STATE, and tell the server so with an error frame.
// The same fake server's certificate also serves a TLS 1.2-only server, which tlssh must refuse.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';
import { ALPN_TLSSH2, type Message } from '../../src/protocol/messages';
import { issueCert, makeCa, makeTempDir } from '../helpers/ca';
import { errorCodeOf, runTlssh } from './client-fixture';

let dir = '';
let server: tls.Server;
let configFile = '';
/** What the fake server sends once it has the session request. */
let script: Message[] = [];
/** What the fake server received, per connection, in order. */
let received: Message[] = [];

before(async () => {
  dir = makeTempDir('tlssh-client-order');
  const ca = makeCa(dir);
  const srv = issueCert(ca, { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'], eku: 'serverAuth', fileStem: 'server' });
  const cli = issueCert(ca, { cn: os.userInfo().username, eku: 'clientAuth', fileStem: 'client' });
  server = tls.createServer({
    cert: fs.readFileSync(srv.certFile), key: fs.readFileSync(srv.keyFile), ca: fs.readFileSync(ca.certFile),
    requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', ALPNProtocols: [ALPN_TLSSH2],
  });
  server.on('secureConnection', (sock: tls.TLSSocket) => {
    const dec = new MessageDecoder();
    received = [];
    sock.on('error', () => undefined);
    sock.on('data', (c: Buffer) => {
      for (const m of dec.push(c)) {
        received.push(m);
        if (m.type === 'session-request') sock.write(Buffer.concat(script.map((s) => encodeMessage(s))));
      }
    });
    sock.on('end', () => sock.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  configFile = path.join(dir, 'tlssh.conf');
  const port = (server.address() as { port: number }).port;
  fs.writeFileSync(configFile, `Port ${port}\nServerCAFile ${ca.certFile}\nCertFile ${cli.certFile}\nKeyFile ${cli.keyFile}\nConnectTimeout 20\n`, { mode: 0o600 });
});
after(() => {
  server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const started: Message = { type: 'session-started', user: os.userInfo().username, window: 1024 * 1024 };

describe('tlssh refuses a server that breaks the message order', () => {
  const cases: Array<[string, Message[]]> = [
    ['stdin data from the server', [started, { type: 'data', stream: 0, data: Buffer.from('x') }]],
    ['a session request from the server', [started, { type: 'session-request', user: '', command: '', pty: false, term: '', cols: 0, rows: 0, env: [] }]],
    ['a signal from the server', [started, { type: 'signal', name: 'INT' }]],
    ['output before session-started', [{ type: 'data', stream: 1, data: Buffer.from('x') }, started]],
    ['a second session-started', [started, started]],
    ['data after exit-status', [started, { type: 'exit-status', code: 0, signal: null, coreDumped: false }, { type: 'data', stream: 1, data: Buffer.from('late') }]],
  ];
  for (const [name, frames] of cases) {
    it(name, async () => {
      script = frames;
      const r = await runTlssh(['-c', configFile, '-v', '127.0.0.1', 'true'], { killAfterMs: 30_000 });
      assert.equal(r.status, 255, r.stderr);
      assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_PROTOCOL_STATE', r.stderr);
      // After exit-status the client has already ended its side: nothing more can be said.
      if (!frames.some((f) => f.type === 'exit-status')) {
        const told = received.find((m) => m.type === 'error');
        assert.equal(told?.type === 'error' ? told.code : undefined, 'TLSSH_ERR_PROTOCOL_STATE');
      }
    });
  }
});

describe('tlssh and TLS 1.2', () => {
  it('refuses a server that offers no more than TLS 1.2: the handshake fails, and nothing is sent', async () => {
    const certs = {
      cert: fs.readFileSync(path.join(dir, 'server.crt')), key: fs.readFileSync(path.join(dir, 'server.key')),
    };
    const old = tls.createServer({ ...certs, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ALPNProtocols: [ALPN_TLSSH2] });
    let secured = 0;
    old.on('secureConnection', (sock: tls.TLSSocket) => {
      secured++;
      sock.destroy();
    });
    old.on('tlsClientError', () => undefined);
    old.listen(0, '127.0.0.1');
    await once(old, 'listening');
    try {
      const conf = path.join(dir, 'tlssh-tls12.conf');
      const port = (old.address() as { port: number }).port;
      fs.writeFileSync(conf, fs.readFileSync(configFile, 'utf8').replace(/^Port \d+$/m, `Port ${port}`), { mode: 0o600 });
      const r = await runTlssh(['-c', conf, '127.0.0.1', 'true'], { killAfterMs: 30_000 });
      assert.equal(r.status, 255, r.stderr);
      assert.equal(secured, 0, 'a TLS 1.2 connection was made');
    } finally {
      old.close();
    }
  });
});

describe('terminal modes and a tlssh/2 server', () => {
  it('tlssh on a local terminal sends its modes only over tlssh/3: this tlssh/2 server gets none', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodePty = require('node-pty') as typeof import('node-pty');
    script = [started, { type: 'exit-status', code: 0, signal: null, coreDumped: false }];
    received = [];
    const { TLSSH } = await import('./client-fixture');
    const term = nodePty.spawn(process.execPath, [TLSSH, '-c', configFile, '-t', '127.0.0.1', 'true'], {
      name: 'xterm', cols: 80, rows: 24, cwd: dir, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: dir, TERM: 'xterm' },
    });
    const status = await new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    assert.equal(status, 0);
    const req = received.find((m) => m.type === 'session-request');
    assert.ok(req?.type === 'session-request' && req.pty, JSON.stringify(received));
    assert.equal(req.modes, undefined);
  });
});
