// PROTOCOL.md section 6 against a real tlsshd, with raw frames: every message out of order ends
// the connection with TLSSH_ERR_PROTOCOL_STATE and a log line; an error frame from the client
// hangs the session up; signals and window changes right behind the request are applied; the
// signal allow-list holds; a connection without ALPN tlssh/2 is told so and logged.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { describe, test } from 'node:test';
import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';
import type { Message } from '../../src/protocol/messages';
import { connectClient, daemonForLoginUser, sessionRequest } from '../helpers/server-harness';

let markers: string;
const d = daemonForLoginUser('tlsshd-order', {}, (fx) => {
  // Markers written by the session's user; RuntimeDir's parent (fx.dir) must stay private.
  markers = path.join(fx.dir, 'markers');
  fs.mkdirSync(markers);
  fs.chmodSync(markers, 0o777);
});

/** Polls for a file the remote command writes; a bound against hangs, not a timing assertion. */
async function waitForFile(file: string, limitMs = 15_000): Promise<string> {
  for (let waited = 0; waited < limitMs; waited += 50) {
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8');
      if (text.length > 0) return text;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never appeared`);
}

/** A session that is running `command`, with `ready` printed; then `bad` is sent. */
async function violateAfterStart(bad: Message, logRe: RegExp): Promise<void> {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ command: 'echo ready; exec sleep 60' }));
  await s.waitForStdout((o) => o.includes('ready'));
  s.send(bad);
  const r = await s.result;
  assert.equal(r.error?.code, 'TLSSH_ERR_PROTOCOL_STATE', `error frame: ${JSON.stringify(r.error)}`);
  assert.equal(r.exit, undefined, 'no exit-status after a violation');
  await d.daemon.waitForLog(logRe);
}

describe('out-of-order messages from the client end the connection', () => {
  test('data before the session request', async () => {
    const s = connectClient(d.daemon.port, d.id, null);
    s.socket.once('secureConnect', () => s.write('early bytes\n'));
    const r = await s.result;
    assert.equal(r.error?.code, 'TLSSH_ERR_PROTOCOL_STATE');
    assert.equal(r.started, undefined);
    await d.daemon.waitForLog(/TLSSH_ERR_PROTOCOL_STATE: client sent data on stdin before the session request/);
  });

  test('a second session request', async () => {
    await violateAfterStart(sessionRequest({ command: 'id' }), /TLSSH_ERR_PROTOCOL_STATE: client sent a second session request/);
  });

  test('exit-status from the client', async () => {
    await violateAfterStart({ type: 'exit-status', code: 0, signal: null, coreDumped: false }, /TLSSH_ERR_PROTOCOL_STATE: client sent exit-status/);
  });

  test('client data on stdout', async () => {
    await violateAfterStart({ type: 'data', stream: 1, data: Buffer.from('x') }, /TLSSH_ERR_PROTOCOL_STATE: client sent data on stdout/);
  });

  test('client data on stderr', async () => {
    await violateAfterStart({ type: 'data', stream: 2, data: Buffer.from('x') }, /TLSSH_ERR_PROTOCOL_STATE: client sent data on stderr/);
  });

  test('a pong that answers no ping', async () => {
    await violateAfterStart({ type: 'pong', cookie: 12345 }, /TLSSH_ERR_PROTOCOL_STATE: peer sent a pong with cookie 12345/);
  });
});

describe('the session follows the client', () => {
  test('an error frame from the client ends the session and the command gets SIGHUP', async () => {
    const marker = path.join(markers, 'hup-after-error');
    const s = connectClient(d.daemon.port, d.id, sessionRequest({ command: `trap 'echo hup > ${marker}; exit 0' HUP; echo ready; sleep 60 & wait` }));
    await s.waitForStdout((o) => o.includes('ready'));
    s.send({ type: 'error', code: 'TLSSH_ERR_INTERNAL', message: 'client gave up' });
    // The connection stays open from our side: the server must act on the frame alone.
    assert.equal(await waitForFile(marker), 'hup\n');
    const r = await s.result;
    assert.equal(r.exit, undefined);
  });

  test('a signal right behind the session request reaches the command', async () => {
    const s = connectClient(d.daemon.port, d.id, null);
    s.socket.once('secureConnect', () => {
      // One write: the signal arrives while the server is still authorising the request.
      s.socket.write(Buffer.concat([
        encodeMessage(sessionRequest({ command: 'sleep 30; exit 7' })),
        encodeMessage({ type: 'signal', name: 'TERM' }),
        encodeMessage({ type: 'eof', stream: 0 }),
      ]));
    });
    const r = await s.result;
    assert.equal(r.exit?.signal, 'TERM', `exit: ${JSON.stringify(r.exit)}`);
  });

  test('a window change right behind the session request sizes the terminal', async () => {
    const s = connectClient(d.daemon.port, d.id, null);
    s.socket.once('secureConnect', () => {
      s.socket.write(Buffer.concat([
        encodeMessage(sessionRequest({ command: 'stty size', pty: true, term: 'xterm', cols: 80, rows: 24 })),
        encodeMessage({ type: 'window-change', cols: 123, rows: 45 }),
      ]));
    });
    const r = await s.result;
    assert.match(r.stdout.toString(), /^45 123\r?\n/);
  });

  test('signals outside the allow-list are ignored, allowed ones delivered', async () => {
    // WINCH is a real signal that bash can trap but is not on the list (RFC 4254's); BOGUS is
    // not a signal at all. Both must be ignored; USR1 (on the list) must arrive.
    const s = connectClient(d.daemon.port, d.id, sessionRequest({
      command: "trap 'echo got-winch' WINCH; trap 'echo got-usr1; exit 5' USR1; echo ready; while :; do sleep 0.05; done",
    }));
    await s.waitForStdout((o) => o.includes('ready'));
    s.send({ type: 'signal', name: 'WINCH' });
    s.send({ type: 'signal', name: 'BOGUS' });
    s.send({ type: 'signal', name: 'USR1' });
    const r = await s.result;
    assert.equal(r.exit?.code, 5, `exit: ${JSON.stringify(r.exit)}; stdout ${r.stdout.toString()}`);
    assert.doesNotMatch(r.stdout.toString(), /got-winch/);
    await d.daemon.waitForLog(/ignoring request for signal WINCH/);
  });
});

test('a connection without ALPN tlssh/2 is told TLSSH_ERR_ALPN and logged', async () => {
  const socket = tls.connect({
    host: '127.0.0.1', port: d.daemon.port, minVersion: 'TLSv1.3',
    ca: fs.readFileSync(d.id.caFile), cert: fs.readFileSync(d.id.certFile), key: fs.readFileSync(d.id.keyFile),
    checkServerIdentity: () => undefined,
  });
  const dec = new MessageDecoder();
  const got: Message[] = [];
  socket.on('data', (c: Buffer) => got.push(...dec.push(c)));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('close', resolve));
  assert.equal(got[0]?.type, 'error');
  assert.equal(got[0]?.type === 'error' ? got[0].code : '', 'TLSSH_ERR_ALPN');
  await d.daemon.waitForLog(/closed: TLSSH_ERR_ALPN/);
});

describe('terminal modes in the session request (tlssh/3 only)', () => {
  const withModes = sessionRequest({ pty: true, term: 'xterm', command: 'stty -a', modes: [[3, 8], [38, 0], [42, 1], [100, 7]] });

  test('the server selects tlssh/3 over tlssh/2, and tlssh/3+mux over both, in its own order', async () => {
    for (const [offered, chosen] of [
      [['tlssh/2', 'tlssh/3'], 'tlssh/3'],
      [['tlssh/2', 'tlssh/2+mux', 'tlssh/3', 'tlssh/3+mux'], 'tlssh/3+mux'],
      [['tlssh/2', 'tlssh/2+mux'], 'tlssh/2+mux'],
    ] as const) {
      const s = connectClient(d.daemon.port, d.id, null, offered);
      await new Promise((resolve) => s.socket.once('secureConnect', resolve));
      assert.equal(s.socket.alpnProtocol, chosen, offered.join(','));
      s.close();
    }
  });

  test('over tlssh/3 they are applied to the new terminal; an unknown opcode is skipped', async () => {
    const r = await connectClient(d.daemon.port, d.id, withModes, ['tlssh/3']).result;
    assert.equal(r.exit?.code, 0, JSON.stringify(r.error));
    const text = r.stdout.toString();
    assert.match(text, /\berase = \^H;/);
    assert.match(text, /(^|\s)-ixon(\s|$)/m);
    assert.match(text, /(^|\s)iutf8(\s|$)/m);
  });

  test("OpenSSH's set, with PENDIN and CS7 in it, still applies the rest", async () => {
    // Linux's stty knows no pendin, and a pty keeps cs8 (stty then says it could not set all).
    const openssh = sessionRequest({ pty: true, term: 'xterm', command: 'stty -a', modes: [[3, 8], [62, 0], [90, 1], [91, 0], [53, 0], [38, 0]] });
    const r = await connectClient(d.daemon.port, d.id, openssh, ['tlssh/3']).result;
    assert.equal(r.exit?.code, 0, JSON.stringify(r.error));
    const text = r.stdout.toString();
    assert.match(text, /\berase = \^H;/);
    assert.match(text, /(^|\s)-echo(\s|$)/m);
    assert.match(text, /(^|\s)-ixon(\s|$)/m);
  });

  test('over tlssh/2 the flag is a reserved bit: TLSSH_ERR_FRAME_MALFORMED, nothing runs', async () => {
    const r = await connectClient(d.daemon.port, d.id, withModes).result;
    assert.equal(r.error?.code, 'TLSSH_ERR_FRAME_MALFORMED', JSON.stringify(r.error));
    assert.equal(r.started, undefined);
    await d.daemon.waitForLog(/reserved flag bits set \(0x4\) under tlssh\/2/);
  });
});
