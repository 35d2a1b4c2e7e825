// The control socket's request parser (doc/CONTROL.md) and the IPC messages behind it: every
// malformed request is an error reply with its stable code, and a worker's session report is
// taken only when every field is of the right shape.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { DEFAULT_KILL_MESSAGE, parseControlRequest } from '../../src/server/control-protocol';
import { parseKillMessage, parseWorkerMessage } from '../../src/server/ipc-messages';

const errorOf = (line: string): string | undefined => {
  const r = parseControlRequest(line);
  return 'ok' in r && !r.ok ? r.error : undefined;
};

test('valid requests parse', () => {
  assert.deepEqual(parseControlRequest('{"v":1,"op":"sessions"}'), { op: 'sessions' });
  assert.deepEqual(parseControlRequest('{"v":1,"op":"kill","id":3}'), { op: 'kill', target: { by: 'id', id: 3 }, message: DEFAULT_KILL_MESSAGE });
  assert.deepEqual(parseControlRequest('{"v":1,"op":"kill","serial":"00:0a:Bc","message":"bye"}'), { op: 'kill', target: { by: 'serial', serial: 'ABC' }, message: 'bye' });
});

test('malformed requests get their error code', () => {
  assert.equal(errorOf('{'), 'bad-json');
  assert.equal(errorOf('"str"'), 'bad-request');
  assert.equal(errorOf('null'), 'bad-request');
  assert.equal(errorOf('{"op":"status"}'), 'bad-version');
  assert.equal(errorOf('{"v":"1","op":"status"}'), 'bad-version');
  assert.equal(errorOf('{"v":1,"op":"__proto__"}'), 'unknown-op');
  assert.equal(errorOf('{"v":1,"op":"kill"}'), 'bad-request');
  assert.equal(errorOf('{"v":1,"op":"kill","id":1,"user":"a"}'), 'bad-request');
  assert.equal(errorOf('{"v":1,"op":"kill","id":1.5}'), 'bad-request');
  assert.equal(errorOf('{"v":1,"op":"kill","user":""}'), 'bad-request');
  assert.equal(errorOf('{"v":1,"op":"kill","serial":"xyz"}'), 'bad-request');
  assert.equal(errorOf(`{"v":1,"op":"kill","id":1,"message":"${'m'.repeat(513)}"}`), 'bad-request');
});

test('IPC: session reports and kill orders are validated', () => {
  const good = { t: 'session-info', subject: 'CN=a', serial: '0A', fingerprint: 'AB:CD', notAfter: '2027-01-01T00:00:00.000Z', kind: 'shell', command: '' };
  assert.deepEqual(parseWorkerMessage(good), good);
  // A shared connection reports itself at its login, before any session.
  assert.deepEqual(parseWorkerMessage({ ...good, kind: 'shared' }), { ...good, kind: 'shared' });
  for (const bad of [{ serial: 'zz' }, { fingerprint: 'ab;cd' }, { kind: 'other' }, { subject: 'x'.repeat(2000) }, { command: 5 }]) {
    assert.equal(parseWorkerMessage({ ...good, ...bad }), undefined, JSON.stringify(bad));
  }
  assert.deepEqual(parseWorkerMessage({ t: 'stats', bytesIn: 1, bytesOut: 2, lastInput: 3 }), { t: 'stats', bytesIn: 1, bytesOut: 2, lastInput: 3 });
  assert.equal(parseWorkerMessage({ t: 'stats', bytesIn: -1, bytesOut: 2, lastInput: 3 }), undefined);
  assert.deepEqual(parseKillMessage({ t: 'kill', message: 'bye' }), { t: 'kill', message: 'bye' });
  assert.equal(parseKillMessage({ t: 'kill', message: 7 }), undefined);
  // A reload's certificate check ends sessions with its own codes; nothing else passes.
  assert.deepEqual(parseKillMessage({ t: 'kill', message: 'revoked', code: 'TLSSH_ERR_CERT_REVOKED_IN_SESSION' }), { t: 'kill', message: 'revoked', code: 'TLSSH_ERR_CERT_REVOKED_IN_SESSION' });
  assert.equal(parseKillMessage({ t: 'kill', message: 'x', code: 'TLSSH_ERR_INTERNAL' }), undefined);
  // The certificates the client presented, for that check: bounded base64 only.
  const chain = ['MIIB', 'MIIC=='];
  assert.deepEqual(parseWorkerMessage({ ...good, chain }), { ...good, chain });
  for (const bad of [[], ['not base64!'], Array(9).fill('MIIB'), ['A'.repeat(16 * 1024 + 4)], 'MIIB']) {
    assert.equal(parseWorkerMessage({ ...good, chain: bad }), undefined, JSON.stringify(bad).slice(0, 40));
  }
});
