// The master's frames to one of its clients come in the order the client insists on: the reply
// first, then the session's output, then its end. A server's first output can arrive in the same
// read as its session-started, before the master has run the code that sends the reply; a
// client then saw output before its reply and gave up ("output before the session started").
// A real MuxMaster on a real socket, with a session opened by a stand-in for the server.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { MUX, MUX_VERSION, MuxDecoder, encodeJson, type MuxFrame } from '../../src/client/mux-frames';
import { MuxMaster, type OpenSession, type SharedSessionEnd } from '../../src/client/mux-master';
import { TlsshError } from '../../src/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-mux-order-'));
fs.chmodSync(dir, 0o700);
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function hello(command: string): Buffer {
  return encodeJson(MUX.hello, {
    v: MUX_VERSION, op: 'session',
    session: { command, subsystem: false, pty: false, term: '', cols: 0, rows: 0, env: [] },
  });
}

/** A master on `socketPath` whose sessions `openSession` makes, as a server would start them. */
async function listeningMaster(socketPath: string, openSession: OpenSession): Promise<MuxMaster> {
  const master = new MuxMaster({
    socketPath, host: 'h', persist: 'yes', confirm: false,
    log: { debug: undefined, info: () => undefined },
    onEnd: () => undefined,
    openSession,
  });
  await master.listen();
  return master;
}

/** Connects, sends `first`, and collects frames until the master closes the connection. */
function client(socketPath: string, first: Buffer): Promise<MuxFrame[]> {
  return new Promise((resolve, reject) => {
    const frames: MuxFrame[] = [];
    const decoder = new MuxDecoder();
    const socket = net.connect(socketPath, () => socket.write(first));
    socket.on('data', (chunk: Buffer) => frames.push(...decoder.push(chunk)));
    socket.on('error', reject);
    socket.on('close', () => resolve(frames));
  });
}

test('output the session has before its start is reported comes after the reply, and the exit after both', async () => {
  const socketPath = path.join(dir, 'order');
  let finish: ((end: SharedSessionEnd) => void) | undefined;
  const master = await listeningMaster(socketPath, (_req, io) => {
    // As when the server's first output shares a read with its session-started: written
    // before `started` has settled.
    io.stdout.write(Buffer.from('early out'));
    io.stderr.write(Buffer.from('early err'));
    return {
      started: Promise.resolve(),
      ended: new Promise<SharedSessionEnd>((resolve) => { finish = resolve; }),
      abort: () => undefined,
    };
  });
  try {
    const got = client(socketPath, hello('anything'));
    while (!finish) await new Promise((r) => setTimeout(r, 5));
    setTimeout(() => finish?.({ kind: 'exit', status: { code: 3, signal: null } }), 50);
    const frames = await got;
    const types = frames.map((f) => f.type);
    assert.equal(types[0], MUX.reply, `first frame 0x${types[0]?.toString(16)}`);
    assert.deepEqual(frames.filter((f) => f.type === MUX.stdout).map((f) => f.payload.toString()), ['early out']);
    assert.deepEqual(frames.filter((f) => f.type === MUX.stderr).map((f) => f.payload.toString()), ['early err']);
    assert.equal(types[types.length - 1], MUX.exit);
    assert.deepEqual(JSON.parse(frames[frames.length - 1]!.payload.toString()), { code: 3, signal: null });
  } finally {
    master.end('test over');
  }
});

test('a session that cannot start still gets its output out before the failure', async () => {
  const socketPath = path.join(dir, 'failed');
  const master = await listeningMaster(socketPath, (_req, io) => {
    io.stderr.write(Buffer.from('why'));
    const failed = Promise.reject(new Error('refused'));
    failed.catch(() => undefined);
    return {
      started: failed,
      ended: Promise.resolve({ kind: 'failed', error: new TlsshError('TLSSH_ERR_SPAWN', 'refused') }),
      abort: () => undefined,
    };
  });
  try {
    const frames = await client(socketPath, hello('anything'));
    assert.deepEqual(frames.map((f) => f.type), [MUX.stderr, MUX.failure]);
    assert.equal(frames[0]!.payload.toString(), 'why');
  } finally {
    master.end('test over');
  }
});
