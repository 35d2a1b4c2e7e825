// Warm workers (PreforkWorkers, PreforkIdleTimeout) against a real tlsshd: a login is served by a
// worker forked and set up before the connection, the pool refills, grows when a connection
// finds nothing ready and shrinks after the idle timeout, and neither a reload nor a certificate
// replaced on disk leaves a login with what a warm worker prepared before.

import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { SessionView } from '../../src/server/control-protocol';
import { issueCert } from '../helpers/ca';
import { isAlive, writeConfig } from '../helpers/server-harness';
import { TLSSH, runTlssh, renewServerCertInPlace, serverSerial, startFixture, type ClientFixture } from './client-fixture';

const TLSSHCTL = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshctl');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ctlJson<T>(fx: ClientFixture, args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [TLSSHCTL, '-c', fx.server.configFile, ...args, '--json'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tlsshctl ${args.join(' ')}: ${stderr}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}

interface PoolStatus {
  warmWorkers: number;
  warmReady: number;
  warmTarget: number;
}

const status = async (fx: ClientFixture): Promise<PoolStatus> => (await ctlJson<{ status: PoolStatus }>(fx, ['status'])).status;

/** Polls (bounded by a count, not timed) until the pool's status satisfies `pred`. */
async function waitForPool(fx: ClientFixture, what: string, pred: (s: PoolStatus) => boolean): Promise<PoolStatus> {
  let last: PoolStatus | undefined;
  for (let i = 0; i < 300; i++) {
    last = await status(fx);
    if (pred(last)) return last;
    await sleep(100);
  }
  assert.fail(`pool never had ${what}: ${JSON.stringify(last)}\n${fx.server.logs()}`);
}

/** The worker pids the listener logged as taking a connection warm. */
function warmHandOffs(fx: ClientFixture): number[] {
  return [...fx.server.logs().matchAll(/-> worker (\d+) \(warm\)/g)].map((m) => Number(m[1]));
}

function longSession(fx: ClientFixture): { child: ChildProcess; ready: Promise<void>; ended: Promise<void> } {
  const child = spawn(process.execPath, [TLSSH, '-c', fx.configFile, 'localhost', 'echo ready; exec sleep 1000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise<void>((resolve) => child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('ready\n')) resolve();
  }));
  const ended = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, ready, ended };
}

describe('warm workers', () => {
  const fixtures: ClientFixture[] = [];
  after(async () => {
    for (const fx of fixtures) await fx.stop();
  });
  const fixture = async (serverConfig: Record<string, string>): Promise<ClientFixture> => {
    const fx = await startFixture({ serverConfig });
    fixtures.push(fx);
    return fx;
  };

  it('serves a login with a worker started and set up before the connection, then refills', async () => {
    const fx = await fixture({ PreforkWorkers: '1:4' });
    await waitForPool(fx, 'a ready worker', (s) => s.warmReady === 1);
    const before = fx.server.workerPids();
    assert.equal(before.length, 1, `one warm worker: ${before.join(' ')}`);
    // node-pty's native module is loaded while it waits, not during the login.
    const maps = (): string => fs.readFileSync(`/proc/${before[0]}/maps`, 'latin1');
    for (let i = 0; i < 100 && !/\/pty\.node$/m.test(maps()); i++) await sleep(100);
    assert.match(maps(), /\/pty\.node$/m);
    const s = longSession(fx);
    try {
      await s.ready;
      const [v] = await ctlJson<{ sessions: SessionView[] }>(fx, ['sessions']).then((r) => r.sessions);
      assert.ok(v, 'a session is listed');
      assert.equal(v.pid, before[0], 'the session runs in the worker that was waiting');
      assert.deepEqual(warmHandOffs(fx), [v.pid]);
      // The worker used the TLS context it built while waiting.
      assert.match(fx.server.logs(), new RegExp(`conn ${v.id} from .*TLS set up before the connection \\(warm worker\\)`));
      // Another one is ready for the next login.
      await waitForPool(fx, 'a new ready worker', (st) => st.warmReady === 1);
      const now = fx.server.workerPids();
      assert.equal(now.length, 2, `the session's worker and a new warm one: ${now.join(' ')}`);
    } finally {
      s.child.kill('SIGKILL');
      await s.ended;
    }
    const r = await runTlssh(['-c', fx.configFile, 'localhost', 'echo second']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'second\n');
    assert.equal(warmHandOffs(fx).length, 2, 'the second login was served warm too');
  });

  it('grows when a connection finds no worker ready, and shrinks back after PreforkIdleTimeout', async () => {
    const fx = await fixture({ PreforkWorkers: '0:2', PreforkIdleTimeout: '1' });
    const idle = await status(fx);
    assert.equal(idle.warmWorkers, 0);
    assert.equal(idle.warmTarget, 0);
    assert.deepEqual(fx.server.workerPids(), []);
    const r = await runTlssh(['-c', fx.configFile, 'localhost', 'true']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(fx.server.logs(), /prefork: no warm worker was ready; keeping 1 ready/);
    // The login found none, so one is kept ready from then on, until a second passes without a
    // connection (which may already have happened on a loaded machine: only the end is awaited).
    await waitForPool(fx, 'shrunk back to none', (s) => s.warmTarget === 0 && s.warmWorkers === 0);
    await fx.server.waitForLog(/prefork: 1s without a connection; 1 idle warm worker\(s\) ended, 0 kept ready/);
    // The session's worker has ended, and so has the extra warm one.
    for (let i = 0; i < 100 && fx.server.workerPids().length > 0; i++) await sleep(100);
    assert.deepEqual(fx.server.workerPids(), []);
  });

  it('replaces warm workers on reload: the next login uses the new certificate', async () => {
    const fx = await fixture({ PreforkWorkers: '2:2' });
    await waitForPool(fx, 'two ready workers', (s) => s.warmReady === 2);
    const first = await serverSerial(fx);
    await waitForPool(fx, 'two ready workers again', (s) => s.warmReady === 2);
    const old = fx.server.workerPids();
    assert.equal(old.length, 2);
    const servedBefore = warmHandOffs(fx).length;
    // A new certificate for the same key, in a new file the config now names.
    const cfgText = fs.readFileSync(fx.server.configFile, 'utf8');
    const oldCert = /^CertFile (.*)$/m.exec(cfgText)?.[1] ?? '';
    const oldKey = /^KeyFile (.*)$/m.exec(cfgText)?.[1] ?? '';
    const renewed = issueCert(fx.ca, { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'], eku: 'serverAuth', fileStem: 'server-renewed', keyFile: oldKey });
    assert.notEqual(renewed.serial.toUpperCase(), first);
    const lines = Object.fromEntries(cfgText.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
    writeConfig(fx.server.configFile, { ...lines, CertFile: renewed.certFile });
    assert.notEqual(renewed.certFile, oldCert);
    await ctlJson(fx, ['reload']);
    await fx.server.waitForLog(/reload: 2 warm worker\(s\) of the old configuration retired/);
    for (let i = 0; i < 100 && old.some(isAlive); i++) await sleep(100);
    assert.ok(!old.some(isAlive), `the old warm workers ${old.join(' ')} exited`);
    await waitForPool(fx, 'two new ready workers', (s) => s.warmReady === 2);
    assert.equal(await serverSerial(fx), renewed.serial.toUpperCase());
    const since = warmHandOffs(fx).slice(servedBefore);
    assert.equal(since.length, 1, 'the login after the reload was served warm');
    assert.ok(!since.some((p) => old.includes(p)), 'by a worker warmed for the new configuration');
    const r = await runTlssh(['-c', fx.configFile, 'localhost', 'echo renewed']);
    assert.equal(r.status, 0, r.stderr);
  });

  it('a certificate replaced on disk without a reload is used at the next login, as without warm workers', async () => {
    const fx = await fixture({ PreforkWorkers: '1:1' });
    await waitForPool(fx, 'a ready worker', (s) => s.warmReady === 1);
    const first = await serverSerial(fx);
    await waitForPool(fx, 'a ready worker again', (s) => s.warmReady === 1);
    const renewed = renewServerCertInPlace(fx);
    const second = await serverSerial(fx);
    assert.notEqual(second, first);
    assert.equal(second, renewed);
    // It was a warm worker all the same: only its prepared context was set aside.
    assert.equal(warmHandOffs(fx).length, 2, fx.server.logs());
  });
});
