// The fork server's worker line (src/server/line-channel.ts) over a real Unix socket: messages
// split or joined by the transport come out whole, and a line that is too long or not JSON ends
// the channel (the listener's end reads a worker that may be the user by then).

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { LineChannel, MAX_LINE_BYTES } from '../../src/server/line-channel';
import { parseForkServerMessage, parseLineMessage } from '../../src/server/ipc-messages';

async function pair(): Promise<{ ours: LineChannel; raw: net.Socket; done: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'line-channel-'));
  const file = path.join(dir, 's');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(file, r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const raw = net.connect(file);
  const ours = new LineChannel(await accepted);
  return { ours, raw, done: () => { raw.destroy(); ours.close(); server.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

const closed = (c: LineChannel): Promise<void> => new Promise((r) => (c.connected ? c.on('close', () => r()) : r()));

describe('LineChannel', () => {
  it('gives whole messages however the bytes arrive', async () => {
    const { ours, raw, done } = await pair();
    try {
      const got: unknown[] = [];
      const three = new Promise<void>((r) => ours.on('message', (m) => { got.push(m); if (got.length === 3) r(); }));
      raw.write('{"t":"a","n":1}\n{"t":');
      await new Promise((r) => setTimeout(r, 20));
      raw.write('"b"}\n');
      raw.write(`${JSON.stringify({ t: 'c', s: 'x'.repeat(100_000) })}\n`);
      await three;
      assert.deepEqual(got.slice(0, 2), [{ t: 'a', n: 1 }, { t: 'b' }]);
      assert.equal((got[2] as { s: string }).s.length, 100_000);
      assert.ok(ours.connected);
    } finally {
      done();
    }
  });

  it('ends at a line longer than the bound, even one never finished', { timeout: 10_000 }, async () => {
    const { ours, raw, done } = await pair();
    try {
      const seen: unknown[] = [];
      ours.on('message', (m) => seen.push(m));
      raw.write('"x'.padEnd(MAX_LINE_BYTES + 10, 'y'));
      await closed(ours);
      assert.deepEqual(seen, []);
      assert.equal(ours.send({ t: 'kill' }), false);
    } finally {
      done();
    }
  });

  it('ends at a line that is not JSON', { timeout: 10_000 }, async () => {
    const { ours, raw, done } = await pair();
    try {
      raw.write('{"t":"ok"}\nnot json\n{"t":"after"}\n');
      const seen: unknown[] = [];
      ours.on('message', (m) => seen.push(m));
      await closed(ours);
      assert.deepEqual(seen, [{ t: 'ok' }]);
    } finally {
      done();
    }
  });

  it('sends one JSON line per message', async () => {
    const { ours, raw, done } = await pair();
    try {
      let text = '';
      const two = new Promise<void>((r) => raw.on('data', (b: Buffer) => { text += b.toString(); if (text.split('\n').length === 3) r(); }));
      assert.equal(ours.send({ t: 'kill', message: 'a\nb' }), true);
      ours.send({ t: 'x' });
      await two;
      assert.deepEqual(text.split('\n').slice(0, 2).map((l) => JSON.parse(l) as unknown), [{ t: 'kill', message: 'a\nb' }, { t: 'x' }]);
    } finally {
      done();
    }
  });
});

describe('fork server messages', () => {
  it('accepts what the fork server sends and nothing else', () => {
    assert.deepEqual(parseForkServerMessage({ t: 'forked', ref: 3, pid: 1234 }), { t: 'forked', ref: 3, pid: 1234 });
    assert.deepEqual(parseForkServerMessage({ t: 'exited', pid: 9, code: null, signal: 'SIGSEGV' }), { t: 'exited', pid: 9, code: null, signal: 'SIGSEGV' });
    assert.deepEqual(parseForkServerMessage({ t: 'fork-failed', ref: 1, why: 'fork: EAGAIN' }), { t: 'fork-failed', ref: 1, why: 'fork: EAGAIN' });
    for (const bad of [{ t: 'forked', ref: 1, pid: 1 }, { t: 'forked', ref: -1, pid: 50 }, { t: 'exited', pid: 9, code: 'x', signal: null },
      { t: 'exited', pid: 9, code: null, signal: 'rm -rf' }, { t: 'fork-failed', ref: 1, why: 'x'.repeat(600) }, null, 'forked']) {
      assert.equal(parseForkServerMessage(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(parseLineMessage({ t: 'line', ref: 4 }), 4);
    assert.equal(parseLineMessage({ t: 'line', ref: 1.5 }), undefined);
  });
});
