// What the listener accepts from a worker, and a worker from the listener, about pre-auth:
// penalties with a known reason only, and a ClientHello prefix within the pre-auth bound.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PREAUTH_BYTES } from '../../src/server/client-hello-framing';
import { isConnectionMessage, parseWorkerMessage } from '../../src/server/ipc-messages';

test('a penalty report carries one of the known reasons, or is ignored', () => {
  for (const reason of ['authfail', 'noauth', 'grace-exceeded'] as const) {
    assert.deepEqual(parseWorkerMessage({ t: 'penalty', reason, extra: 1 }), { t: 'penalty', reason });
  }
  // A worker cannot claim a crash (the listener sees those itself) or invent a reason.
  for (const reason of ['crash', 'max', '', 5, undefined]) assert.equal(parseWorkerMessage({ t: 'penalty', reason }), undefined);
});

test('a connection message carries at most the pre-auth bound of base64 prefix', () => {
  const base = { t: 'connection', id: 1, config: {}, logSink: 'stderr' };
  assert.equal(isConnectionMessage(base), true);
  assert.equal(isConnectionMessage({ ...base, prefix: Buffer.alloc(MAX_PREAUTH_BYTES, 1).toString('base64') }), true);
  assert.equal(isConnectionMessage({ ...base, prefix: Buffer.alloc(MAX_PREAUTH_BYTES + 3, 1).toString('base64') }), false);
  assert.equal(isConnectionMessage({ ...base, prefix: 'not base64!' }), false);
  assert.equal(isConnectionMessage({ ...base, prefix: 42 }), false);
});

test('the sessions of a shared connection: mux-session and logout are checked like the rest', () => {
  assert.deepEqual(parseWorkerMessage({ t: 'mux-session', session: 3, serial: 5, kind: 'shell', command: '', tty: 'pts/4', ended: false }),
    { t: 'mux-session', session: 3, serial: 5, kind: 'shell', command: '', tty: 'pts/4', ended: false });
  assert.deepEqual(parseWorkerMessage({ t: 'logout', line: 'pts/4' }), { t: 'logout', line: 'pts/4' });
  for (const bad of [
    { t: 'mux-session', session: 0, serial: 1, kind: 'shell', command: '', ended: false },
    { t: 'mux-session', session: 1.5, serial: 1, kind: 'shell', command: '', ended: false },
    { t: 'mux-session', session: 1, kind: 'shell', command: '', ended: false },
    { t: 'mux-session', session: 1, serial: 0, kind: 'shell', command: '', ended: false },
    { t: 'mux-session', session: 1, serial: 2.5, kind: 'shell', command: '', ended: false },
    { t: 'mux-session', session: 1, serial: 1, kind: 'root', command: '', ended: false },
    { t: 'mux-session', session: 1, serial: 1, kind: 'shell', command: '', tty: '../../etc/passwd', ended: false },
    { t: 'mux-session', session: 1, serial: 1, kind: 'shell', command: 'x'.repeat(4097), ended: false },
    { t: 'mux-session', session: 1, serial: 1, kind: 'shell', command: '' },
    { t: 'logout', line: 'tty1' },
  ]) assert.equal(parseWorkerMessage(bad), undefined, JSON.stringify(bad).slice(0, 80));
});
