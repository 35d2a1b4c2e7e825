// tlsshctl's sessions table: a shared connection's sessions as ID.N rows, its certificate once.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionsTable } from '../../src/ctl/format';
import type { SessionView } from '../../src/server/control-protocol';

const base: SessionView = {
  id: 7, pid: 100, user: 'alice', remote: '192.0.2.7 port 5000', started: '2026-11-27T12:00:00.000Z',
  bytesIn: 0, bytesOut: 0, idle: 0, fingerprint: 'AB:CD', serial: '01', subject: 'CN=alice',
};

test('a shared connection shows a row per session, numbered ID.N, and its fingerprint once', () => {
  const text = sessionsTable([
    { ...base, session: 1, kind: 'shell', command: '', tty: 'pts/3' },
    { ...base, session: 2, kind: 'command', command: 'make' },
    { ...base, id: 8, kind: 'command', command: 'uptime' },
  ], new Date('2026-11-27T12:01:00.000Z'));
  const lines = text.split('\n');
  assert.match(lines[1] ?? '', /^7\.1\s+alice\s+pts\/3\s/);
  assert.match(lines[2] ?? '', /^7\.2\s+alice\s+make\s/);
  assert.match(lines[3] ?? '', /^8\s+alice\s+uptime\s/);
  assert.equal(text.split('\n').filter((l) => l.includes('7: fingerprint')).length, 1);
});

test('a shared connection with no session open says so', () => {
  const text = sessionsTable([{ ...base, kind: 'shared', command: '' }], new Date('2026-11-27T12:01:00.000Z'));
  assert.match(text.split('\n')[1] ?? '', /^7\s+alice\s+\(shared, idle\)\s/);
});
