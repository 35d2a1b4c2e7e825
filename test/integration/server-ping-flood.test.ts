// Bounded memory per connection, whatever the peer sends (issue: 54 MB of pings that were never
// read grew a worker to 1 GB). A logged-in client floods pings and never reads; another never
// reads a command's output. The worker must stop reading rather than queue pongs or output, so
// its memory stays bounded, and other logins still work. Figures are printed; the assertion is
// a generous bound, never a time.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';
import { connectTestTls, daemonForLoginUser, runCommand, sessionRequest } from '../helpers/server-harness';

const FLOOD_BYTES = 24 * 1024 * 1024;
/**
 * Growth of the worker's RSS allowed during a flood: generous. Measured: 10-21 MB (pongs queued
 * up to the read bound, TLS buffers, the decoded pings' garbage not yet collected); reading
 * without a bound grows with the flood (57 MB for 24 MB of pings here, 1 GB for 54 MB in the
 * issue), and fails the 'stalled' check first. A pong written per ping (not batched) cost
 * 50-70 MB; the channel's unit test counts those writes exactly.
 */
const GROWTH_BOUND = 48 * 1024 * 1024;

const d = daemonForLoginUser('tlsshd-flood', { LogLevel: 'VERBOSE' });

function memoryOf(pid: number): { rss: number; pss: number } {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Logs in, reads up to session-started, then never reads again; resolves with the worker's pid. */
async function loggedInNonReader(command: string, tag: string): Promise<{ socket: ReturnType<typeof connectTestTls>; pid: number }> {
  const socket = connectTestTls(d.daemon.port, d.id);
  socket.on('error', () => undefined);
  const dec = new MessageDecoder();
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => socket.write(encodeMessage(sessionRequest({ command }))));
    const onData = (c: Buffer): void => {
      for (const m of dec.push(c)) {
        if (m.type === 'session-started') {
          socket.off('data', onData);
          socket.pause();
          return resolve();
        }
        if (m.type === 'error') return reject(new Error(`refused: ${m.code}`));
      }
    };
    socket.on('data', onData);
  });
  // The worker that runs `command`: the parent of the process whose command line has the tag.
  for (let tries = 0; tries < 200; tries++) {
    for (const w of d.daemon.workerPids()) {
      const kids = fs.readFileSync(`/proc/${w}/task/${w}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      for (const k of kids) {
        try {
          if (fs.readFileSync(`/proc/${k}/cmdline`, 'utf8').includes(tag)) return { socket, pid: w };
        } catch {
          // gone
        }
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('worker not found');
}

test('a client that floods pings and never reads cannot grow the worker', async () => {
  const { socket, pid } = await loggedInNonReader('sleep 120 # ping-flood', 'ping-flood');
  const before = memoryOf(pid);
  const stalled = d.daemon.waitForLog(/is not reading \(\d+ bytes unsent\); reading paused/, 120_000).then(() => 'stalled' as const);
  const ping = encodeMessage({ type: 'ping', cookie: 1 });
  const batch = Buffer.concat(Array.from({ length: 7000 }, () => ping));
  let written = 0;
  // Writes the whole flood, as fast as the server takes it; resolves once all of it has left
  // this process (only possible if the server read it all) — or never.
  const flooded = new Promise<'all read'>((resolve) => {
    const pump = (): void => {
      while (written < FLOOD_BYTES) {
        written += batch.length;
        if (!socket.write(batch)) return void socket.once('drain', pump);
      }
      if (socket.writableLength === 0) resolve('all read');
      else socket.once('drain', () => resolve('all read'));
    };
    pump();
  });
  const outcome = await Promise.race([stalled, flooded]);
  const during = memoryOf(pid);
  const login = await runCommand(d.daemon.port, d.id, 'echo still-serving');
  console.log(`ping flood: ${mb(written)} of pings offered, outcome: ${outcome}; worker RSS ${mb(before.rss)} -> ${mb(during.rss)}, PSS ${mb(before.pss)} -> ${mb(during.pss)}; another login: ${login.stdout.toString().trim() || 'failed'}`);
  socket.destroy();
  assert.equal(outcome, 'stalled', 'the worker read the whole flood instead of pausing');
  assert.ok(during.rss - before.rss < GROWTH_BOUND, `worker RSS grew by ${mb(during.rss - before.rss)}, over ${mb(GROWTH_BOUND)}`);
  assert.equal(login.stdout.toString(), 'still-serving\n');
});

test('a client that never reads a command\'s output holds the worker to the window', async () => {
  const { socket, pid } = await loggedInNonReader('head -c 200000000 /dev/zero # slow-reader', 'slow-reader');
  const before = memoryOf(pid);
  // Nothing marks the moment the worker has filled the window and the socket: sample for a
  // while (a bound on the samples, not a timing assertion).
  let last = before;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = memoryOf(pid);
  }
  const login = await runCommand(d.daemon.port, d.id, 'echo still-serving');
  console.log(`slow reader: worker RSS ${mb(before.rss)} -> ${mb(last.rss)}, PSS ${mb(before.pss)} -> ${mb(last.pss)}; another login: ${login.stdout.toString().trim() || 'failed'}`);
  socket.destroy();
  assert.ok(last.rss - before.rss < GROWTH_BOUND, `worker RSS grew by ${mb(last.rss - before.rss)}, over ${mb(GROWTH_BOUND)}`);
  assert.equal(login.stdout.toString(), 'still-serving\n');
});
