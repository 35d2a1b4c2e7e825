// 100 MB each way through a remote command, unchanged: the floor for bulk transfers.
// The bytes are AES-CTR keystream, so every byte value occurs, nothing repeats in a way that
// could hide a duplicated or dropped chunk, and both ends can make the same stream without a
// temporary file.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { TLSSH, startFixture, type ClientFixture } from './client-fixture';

const SIZE = 100 * 1024 * 1024;
const KEY_HEX = '000102030405060708090a0b0c0d0e0f';
const IV_HEX = 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff';

/** SIZE bytes of AES-128-CTR keystream, the same as `openssl enc -aes-128-ctr` over zeros. */
function keystream(): Readable {
  const cipher = createCipheriv('aes-128-ctr', Buffer.from(KEY_HEX, 'hex'), Buffer.from(IV_HEX, 'hex'));
  const zeros = Buffer.alloc(1024 * 1024);
  let left = SIZE;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, zeros.length);
      left -= n;
      this.push(cipher.update(zeros.subarray(0, n)));
    },
  });
}

async function sha256Of(stream: Readable): Promise<{ hex: string; bytes: number; head: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  let head = '';
  for await (const chunk of stream) {
    if (bytes < 4096) head += (chunk as Buffer).toString('latin1');
    bytes += (chunk as Buffer).length;
    h.update(chunk as Buffer);
  }
  return { hex: h.digest('hex'), bytes, head };
}

interface Result {
  status: number | null;
  stdout: { hex: string; bytes: number };
  /** The first few KB of stdout, as text: for commands whose output is a short report. */
  head: string;
  stderr: string;
}

function runWith(args: string[], input: Readable | null): Promise<Result> {
  const child = spawn(process.execPath, [TLSSH, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.on('error', () => undefined);
  if (input) input.pipe(child.stdin);
  else child.stdin.end();
  const out = sha256Of(child.stdout);
  const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  return new Promise((resolve) => {
    child.once('close', async (status) => {
      clearTimeout(killer);
      const o = await out;
      resolve({ status, stdout: o, head: o.head, stderr });
    });
  });
}

describe('100 MB each way', () => {
  let fx: ClientFixture;
  let expected: string;
  before(async () => {
    fx = await startFixture();
    expected = (await sha256Of(keystream())).hex;
  });
  after(() => fx.stop());

  it('upload: stdin reaches the remote command unchanged', async () => {
    // The remote side hashes what it read; equal hashes mean equal bytes, length included.
    const r = await runWith(['-c', fx.configFile, 'localhost', 'sha256sum'], keystream());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.head.split(/\s+/)[0], expected);
  });

  it('download: the remote command\'s stdout arrives unchanged', async () => {
    const cmd = `head -c ${SIZE} /dev/zero | openssl enc -aes-128-ctr -nosalt -K ${KEY_HEX} -iv ${IV_HEX}`;
    const r = await runWith(['-c', fx.configFile, 'localhost', cmd], null);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.bytes, SIZE);
    assert.equal(r.stdout.hex, expected);
  });

  // In a shell pipeline tlssh's stdin and stdout are real pipes (above, Node's spawn gives
  // sockets): tlssh then reads and writes its own non-blocking descriptions of them, and writes
  // what one turn of its event loop received in one go.
  const openssl = `openssl enc -aes-128-ctr -nosalt -K ${KEY_HEX} -iv ${IV_HEX}`;
  const pipeline = (script: string): Promise<{ out: string; err: string; code: number }> =>
    new Promise((resolve) => {
      execFile('bash', ['-o', 'pipefail', '-c', script, 'bash', process.execPath, TLSSH, fx.configFile], { timeout: 240_000 }, (e, out, err) => {
        resolve({ out, err, code: e ? (typeof e.code === 'number' ? e.code : -1) : 0 });
      });
    });

  it('upload from a pipe: stdin reaches the remote command unchanged', async () => {
    const r = await pipeline(`head -c ${SIZE} /dev/zero | ${openssl} | "$1" "$2" -c "$3" localhost sha256sum`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.split(/\s+/)[0], expected);
  });

  it('download into a pipe: the remote command\'s stdout arrives unchanged', async () => {
    const r = await pipeline(`"$1" "$2" -c "$3" localhost 'head -c ${SIZE} /dev/zero | ${openssl}' | sha256sum`);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.split(/\s+/)[0], expected);
  });
});
