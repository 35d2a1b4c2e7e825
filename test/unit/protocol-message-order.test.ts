// PROTOCOL.md section 6 as a table: what each side accepts in which phase. The live checks
// against a real tlsshd are in test/integration/server-message-order.test.ts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageOrder } from '../../src/protocol/message-order';
import type { Message } from '../../src/protocol/messages';

const request: Message = { type: 'session-request', user: '', command: '', pty: false, term: '', cols: 0, rows: 0, env: [] };
const started: Message = { type: 'session-started', user: 'alice', window: 1024 };
const exit: Message = { type: 'exit-status', code: 0, signal: null, coreDumped: false };
const data = (stream: 0 | 1 | 2): Message => ({ type: 'data', stream, data: Buffer.from('x') });
const eof = (stream: 0 | 1 | 2): Message => ({ type: 'eof', stream });
const adjust = (stream: 0 | 1 | 2): Message => ({ type: 'window-adjust', stream, bytes: 1 });
const error: Message = { type: 'error', code: 'TLSSH_ERR_INTERNAL', message: 'x' };

function refuses(order: MessageOrder, msg: Message): void {
  assert.throws(() => order.received(msg), (e: { code?: string }) => e.code === 'TLSSH_ERR_PROTOCOL_STATE', `${msg.type} accepted`);
}

describe('server side (messages from the client)', () => {
  const fresh = (): MessageOrder => new MessageOrder('server');
  const afterRequest = (): MessageOrder => {
    const o = fresh();
    o.received(request);
    return o;
  };

  test('nothing but the session request comes first', () => {
    for (const m of [data(0), eof(0), { type: 'signal', name: 'INT' } as Message, { type: 'window-change', cols: 1, rows: 1 } as Message, { type: 'ping', cookie: 1 } as Message]) {
      refuses(fresh(), m);
    }
    fresh().received(error);
    fresh().received(request);
  });

  test('stdin, window changes, signals and pings may follow the request at once', () => {
    const o = afterRequest();
    for (const m of [data(0), { type: 'window-change', cols: 1, rows: 1 } as Message, { type: 'signal', name: 'INT' } as Message, { type: 'ping', cookie: 1 } as Message, adjust(1), eof(0)]) {
      o.received(m);
    }
  });

  test('a second request, server-only messages and output streams are refused', () => {
    for (const m of [request, started, exit, data(1), data(2), eof(1), eof(2), adjust(0)]) refuses(afterRequest(), m);
  });

  test('nothing is sent after exit-status or an error', () => {
    const o = afterRequest();
    o.sent(started);
    assert.equal(o.maySend, true);
    o.sent(exit);
    assert.equal(o.maySend, false);
    const p = afterRequest();
    p.sent(error);
    assert.equal(p.maySend, false);
  });

  test('pings only once the request has arrived', () => {
    const o = fresh();
    assert.equal(o.pingsAllowed, false);
    o.received(request);
    assert.equal(o.pingsAllowed, true);
  });
});

describe('client side (messages from the server)', () => {
  const fresh = (): MessageOrder => {
    const o = new MessageOrder('client');
    o.sent(request);
    return o;
  };
  const afterStart = (): MessageOrder => {
    const o = fresh();
    o.received(started);
    return o;
  };

  test('before session-started only it, pings, pongs and errors', () => {
    for (const m of [data(1), eof(1), adjust(0), exit, request]) refuses(fresh(), m);
    for (const m of [{ type: 'ping', cookie: 1 } as Message, { type: 'pong', cookie: 1 } as Message, error, started]) fresh().received(m);
  });

  test('stdin from the server, client-only messages and a second start are refused', () => {
    for (const m of [data(0), eof(0), adjust(1), adjust(2), request, started, { type: 'signal', name: 'INT' } as Message, { type: 'window-change', cols: 1, rows: 1 } as Message]) {
      refuses(afterStart(), m);
    }
  });

  test('nothing but an error after exit-status', () => {
    const o = afterStart();
    o.received(data(1));
    o.received(exit);
    for (const m of [data(1), eof(2), { type: 'ping', cookie: 1 } as Message, exit]) refuses(o, m);
    o.received(error);
  });
});
