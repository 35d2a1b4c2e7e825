// WorkerForkServer yes against a real tlsshd: each connection gets a worker forked from the fork
// server (one process that loaded a worker's code and built the TLS context), which serves the
// login as a worker started on its own would; no worker holds another connection's socket; the
// listener hears of every worker's reports and end over its private line; and the fork server's
// death or a reload leaves sessions running and logins working.

import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { SessionView } from '../../src/server/control-protocol';
import { captureClientHello } from '../helpers/client-hello';
import { createTestUser, isRoot, makeServerFixture, runCommand, startTlsshd } from '../helpers/server-harness';
import { TLSSH, runTlssh, renewServerCertInPlace, serverSerial, startFixture, type ClientFixture } from './client-fixture';

const TLSSHCTL = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshctl');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ctl(fx: ClientFixture, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [TLSSHCTL, '-c', fx.server.configFile, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tlsshctl ${args.join(' ')}: ${stderr}`));
      else resolve(stdout);
    });
  });
}

const sessions = async (fx: ClientFixture): Promise<SessionView[]> => (JSON.parse(await ctl(fx, ['sessions', '--json'])) as { sessions: SessionView[] }).sessions;

function ppidOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The fork server: the listener's child titled so. */
function forkServerOf(fx: ClientFixture): number | undefined {
  return fx.server.workerPids().find((p) => {
    try {
      return ppidOf(p) === fx.server.pid && fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').startsWith('tlsshd: [fork server]');
    } catch {
      return false;
    }
  });
}

async function waitFor<T>(what: string, fx: ClientFixture, probe: () => T | undefined | false): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    await sleep(100);
  }
  assert.fail(`never: ${what}\n${fx.server.logs()}`);
}

/** Socket inodes a process holds. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) out.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * What in a process could carry bytes into a loop: pipes by inode, eventfds by their id, and how
 * many epoll instances it holds.
 */
function loopDescriptors(pid: number): { pipes: Set<string>; eventfds: Set<string>; epolls: number } {
  const out = { pipes: new Set<string>(), eventfds: new Set<string>(), epolls: 0 };
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      const pipe = /^pipe:\[(\d+)\]$/.exec(target);
      if (pipe?.[1]) out.pipes.add(pipe[1]);
      if (target === 'anon_inode:[eventpoll]') out.epolls++;
      if (target === 'anon_inode:[eventfd]') {
        const id = /^eventfd-id:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1'))?.[1];
        if (id) out.eventfds.add(id);
      }
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** The inode of the server side of the TCP connection from local port `clientPort`, from /proc/net/tcp. */
function tcpInode(serverPort: number, clientPort: number): string | undefined {
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hex(serverPort)}`) && f[2]?.endsWith(`:${hex(clientPort)}`)) return f[9];
  }
  return undefined;
}

interface LongSession { child: ChildProcess; ready: Promise<string>; ended: Promise<number | null>; stderr: () => string }

/** A session that prints its worker's pid and the client's port, then waits for stdin to close. */
function longSession(fx: ClientFixture): LongSession {
  const child = spawn(process.execPath, [TLSSH, '-c', fx.configFile, 'localhost', 'echo "$PPID ${SSH_CLIENT:-x}"; exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  const ready = new Promise<string>((resolve) => child.stdout?.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
  }));
  const ended = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, ready, ended, stderr: () => err };
}

describe('WorkerForkServer yes', () => {
  const fixtures: ClientFixture[] = [];
  after(async () => {
    for (const fx of fixtures) await fx.stop();
  });
  const fixture = async (): Promise<ClientFixture> => {
    const fx = await startFixture({ serverConfig: { WorkerForkServer: 'yes' } });
    fixtures.push(fx);
    await fx.server.waitForLog(/fork server \d+ ready/);
    return fx;
  };

  it('serves each login from a worker forked by the fork server, which exits with the session', async () => {
    const fx = await fixture();
    const fsPid = forkServerOf(fx);
    assert.ok(fsPid, `a fork server runs: ${fx.server.workerPids().join(' ')}`);
    // tlsshctl status names it, in both forms.
    assert.equal((JSON.parse(await ctl(fx, ['status', '--json'])) as { status: { forkServer: unknown } }).status.forkServer, fsPid);
    assert.match(await ctl(fx, ['status']), new RegExp(`workers forked by the fork server, pid ${fsPid}`));
    const r = await runTlssh(['-c', fx.configFile, 'localhost', 'echo $PPID; id -u; exit 7']);
    assert.equal(r.status, 7, r.stderr);
    const [worker, uid] = r.stdout.toString().trim().split('\n').map(Number);
    assert.equal(uid, process.getuid?.());
    await fx.server.waitForLog(new RegExp(`-> worker ${worker} \\(forked\\)`));
    // It logs under its own pid, not the fork server's.
    assert.match(fx.server.logs(), new RegExp(`tlsshd\\[${worker}\\]: conn \\d+ `));
    // The listener heard of its end from the fork server, with its status.
    await fx.server.waitForLog(new RegExp(`worker ${worker} for connection #\\d+ ended \\(exit 0\\)`));
    // No worker is left behind, and the fork server is the same one.
    await waitFor('only the fork server left', fx, () => fx.server.workerPids().length === 1);
    assert.equal(forkServerOf(fx), fsPid);
    // Without the keyword's effect a worker would be the listener's own child.
    assert.doesNotMatch(fx.server.logs(), /-> worker \d+ \((warm|prefork)/);
  });

  it('gives no worker another connection\'s socket, and keeps none in the fork server', async () => {
    const fx = await fixture();
    const a = longSession(fx);
    const b = longSession(fx);
    try {
      const [lineA, lineB] = await Promise.all([a.ready, b.ready]);
      const [pidA, , portA] = (lineA ?? '').split(' ');
      const [pidB, , portB] = (lineB ?? '').split(' ');
      const inodeA = tcpInode(fx.server.port, Number(portA));
      const inodeB = tcpInode(fx.server.port, Number(portB));
      assert.ok(inodeA && inodeB, `both connections in /proc/net/tcp: ${lineA} / ${lineB}`);
      const fsPid = forkServerOf(fx);
      assert.ok(fsPid);
      assert.equal(ppidOf(Number(pidA)), fsPid, 'forked by the fork server');
      assert.equal(ppidOf(Number(pidB)), fsPid, 'forked by the fork server');
      assert.ok(socketInodes(Number(pidA)).has(inodeA), 'worker A holds its connection');
      // Its own comm (process-title.ts), not written through the fork server's descriptor.
      assert.equal(fs.readFileSync(`/proc/${pidA}/comm`, 'latin1').trim(), 'tlsshd');
      assert.ok(!socketInodes(Number(pidA)).has(inodeB), 'worker A does not hold B\'s connection');
      assert.ok(!socketInodes(Number(pidB)).has(inodeA), 'worker B does not hold A\'s connection');
      assert.ok(!socketInodes(fsPid).has(inodeA) && !socketInodes(fsPid).has(inodeB), 'the fork server keeps no connection');
      // Nor any way into the fork server's event loops, which run as root: Node's internal
      // loops' epoll, eventfds and signal pipes are severed in the child (native/fork-server.cc).
      const server = loopDescriptors(fsPid);
      assert.ok(server.epolls > 1 && server.pipes.size > 0 && server.eventfds.size > 0, `the fork server has loops to share: ${JSON.stringify({ ...server, pipes: [...server.pipes], eventfds: [...server.eventfds] })}`);
      for (const pid of [Number(pidA), Number(pidB)]) {
        const worker = loopDescriptors(pid);
        assert.deepEqual([...worker.pipes].filter((i) => server.pipes.has(i)), [], `worker ${pid} shares no pipe with the fork server`);
        assert.deepEqual([...worker.eventfds].filter((i) => server.eventfds.has(i)), [], `worker ${pid} shares no eventfd with the fork server`);
        assert.equal(worker.epolls, 1, `worker ${pid} holds its own loop's epoll only`);
      }
      // Each worker has a line of its own to the listener: the listener lists both sessions.
      const views = await sessions(fx);
      assert.deepEqual(views.map((v) => v.pid).sort(), [Number(pidA), Number(pidB)].sort());
      // tlsshctl kill reaches one worker over its line, with the text given.
      const victim = views.find((v) => v.pid === Number(pidA));
      assert.ok(victim);
      await ctl(fx, ['kill', String(victim.id), '--message', 'maintenance now']);
      assert.equal(await a.ended, 255);
      assert.match(a.stderr(), /maintenance now/);
      b.child.stdin?.end('bye\n');
      assert.equal(await b.ended, 0);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  });

  it('keeps sessions when the fork server dies, starts a new one, and logs in meanwhile', async () => {
    const fx = await fixture();
    const s = longSession(fx);
    try {
      const [pid] = (await s.ready).split(' ');
      const first = forkServerOf(fx);
      assert.ok(first);
      process.kill(first, 'SIGKILL');
      await fx.server.waitForLog(new RegExp(`fork server ${first} ended \\(killed by SIGKILL\\)`));
      // A login right away: a worker of its own, or the new fork server's, but a login.
      const r = await runTlssh(['-c', fx.configFile, 'localhost', 'echo up']);
      assert.equal(r.status, 0, r.stderr);
      const second = await waitFor('a new fork server', fx, () => {
        const p = forkServerOf(fx);
        return p !== undefined && p !== first ? p : undefined;
      });
      await fx.server.waitForLog(new RegExp(`fork server ${second} ready`));
      // The orphaned session still works, and its end is still noticed.
      s.child.stdin?.write('still here\n');
      s.child.stdin?.end();
      assert.equal(await s.ended, 0);
      await fx.server.waitForLog(new RegExp(`worker ${pid} for connection #\\d+ ended`));
      const after = await runTlssh(['-c', fx.configFile, 'localhost', 'echo again']);
      assert.equal(after.status, 0, after.stderr);
      assert.equal(after.stdout.toString(), 'again\n');
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  it('replaces the fork server when a worker crashes (SIGSEGV) before login, not when one is killed or a user\'s own ends so', async () => {
    const fx = await fixture();
    const first = forkServerOf(fx);
    assert.ok(first);
    // SIGKILL is how an administrator or the OOM killer ends a worker: no crash, no new layout.
    const killed = longSession(fx);
    const [killedPid] = (await killed.ready).split(' ');
    process.kill(Number(killedPid), 'SIGKILL');
    await killed.ended;
    await fx.server.waitForLog(new RegExp(`worker ${killedPid} for connection #\\d+ ended \\(killed by SIGKILL\\)`));
    assert.equal(forkServerOf(fx), first);
    assert.doesNotMatch(fx.server.logs(), /crashed/);
    // A logged-in user's worker runs as that user, who may send it SIGSEGV: that tells nobody
    // anything, and must not let a user make the daemon start fork servers on demand.
    const usersOwn = longSession(fx);
    const [usersPid] = (await usersOwn.ready).split(' ');
    process.kill(Number(usersPid), 'SIGSEGV');
    assert.equal(await usersOwn.ended, 255);
    await fx.server.waitForLog(new RegExp(`worker ${usersPid} of a logged-in user ended by SIGSEGV; the fork server stays`));
    assert.equal(forkServerOf(fx), first);
    assert.doesNotMatch(fx.server.logs(), /crashed/);
    // A worker that dies of a bad memory access before login may be somebody probing the layout
    // every sibling shares: the next workers come from a new fork server. The worker is held in
    // its handshake (a ClientHello, then silence), from an address of its own: the crash
    // penalty it earns must not refuse this file's other logins from 127.0.0.1.
    const hello = await captureClientHello();
    const before = new Set(fx.server.workerPids());
    const stalled = net.connect({ port: fx.server.port, host: '127.0.0.1', localAddress: '127.0.0.2' }, () => stalled.write(hello));
    stalled.on('error', () => undefined);
    const crashedPid = await waitFor('a worker in its handshake', fx, () => fx.server.workerPids().find((p) => {
      try {
        return !before.has(p) && fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').startsWith('tlsshd: [accepted] 127.0.0.2');
      } catch {
        return false;
      }
    }));
    process.kill(crashedPid, 'SIGSEGV');
    await fx.server.waitForLog(new RegExp(`worker ${crashedPid} crashed \\(SIGSEGV\\): replacing fork server ${first}, so that later workers get a new address-space layout`));
    stalled.destroy();
    const second = await waitFor('a new fork server', fx, () => {
      const p = forkServerOf(fx);
      return p !== undefined && p !== first ? p : undefined;
    });
    await fx.server.waitForLog(new RegExp(`fork server ${second} ready`));
    // The old one leaves, as on a reload: nothing more is forked with its layout.
    await waitFor('the old fork server gone', fx, () => !fs.existsSync(`/proc/${first}`));
    const next = longSession(fx);
    try {
      const [nextPid] = (await next.ready).split(' ');
      assert.equal(ppidOf(Number(nextPid)), second, 'forked by the new fork server');
      next.child.stdin?.end();
      assert.equal(await next.ended, 0);
    } finally {
      next.child.kill('SIGKILL');
    }
  });

  it('does not let a logged-in user read the memory map of their worker, the layout its siblings share', { skip: !isRoot && 'needs root to create a user' }, async () => {
    // The worker dropped from root to the user with setuid, which leaves it non-dumpable: its
    // /proc maps and mem stay root's, though it now runs as the user. A user who could read them
    // would learn the layout of every worker the fork server makes, pre-authentication ones too.
    const user = createTestUser('tlssh-fork');
    const fixture = makeServerFixture('tlsshd-fork-maps');
    const daemon = await startTlsshd({ dir: fixture.dir, config: { ...fixture.config, WorkerForkServer: 'yes' } });
    try {
      await daemon.waitForLog(/fork server \d+ ready/);
      const r = await runCommand(daemon.port, fixture.client(user.name), 'id -un; echo $PPID; cat /proc/$PPID/maps >/dev/null; echo maps=$?; head -c 1 /proc/$PPID/mem >/dev/null; echo mem=$?');
      assert.equal(r.exit?.code, 0, r.stderr.toString());
      const [who, worker, maps, mem] = r.stdout.toString().trim().split('\n');
      assert.equal(who, user.name);
      await daemon.waitForLog(new RegExp(`-> worker ${worker} \\(forked\\)`));
      assert.equal(maps, 'maps=1', r.stderr.toString());
      assert.equal(mem, 'mem=1', r.stderr.toString());
      assert.match(r.stderr.toString(), /Permission denied/);
    } finally {
      await daemon.stop();
      user.remove();
      fs.rmSync(fixture.dir, { recursive: true, force: true });
    }
  });

  it('uses a certificate replaced on disk at the next login, without a reload', async () => {
    const fx = await fixture();
    const first = await serverSerial(fx);
    const renewed = renewServerCertInPlace(fx);
    const second = await serverSerial(fx);
    assert.notEqual(second, first);
    assert.equal(second, renewed);
  });

  it('kills a fork server that does not answer; connections queued behind it get workers of their own', async () => {
    const fx = await fixture();
    const stuck = forkServerOf(fx);
    assert.ok(stuck);
    process.kill(stuck, 'SIGSTOP');
    try {
      // One connection is handed to the stopped fork server and ends with it; the other waits
      // behind it, then gets a worker started for it.
      const runs = await Promise.all([1, 2].map(() => runTlssh(['-c', fx.configFile, 'localhost', 'echo served'])));
      runs.sort((x, y) => (x.status ?? 0) - (y.status ?? 0));
      const [ok, lost] = runs;
      assert.equal(ok?.status, 0, ok?.stderr);
      assert.equal(ok?.stdout.toString(), 'served\n');
      assert.equal(lost?.status, 255, 'the connection the stopped fork server had');
      assert.match(fx.server.logs(), /the fork server ended; starting a worker for it/);
      await fx.server.waitForLog(new RegExp(`fork server ${stuck} did not answer a hand-off within 5s; killing it`));
      await fx.server.waitForLog(new RegExp(`fork server ${stuck} ended \\(killed by SIGKILL\\)`));
    } finally {
      try { process.kill(stuck, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  it('starts a new fork server on reload', async () => {
    const fx = await fixture();
    const first = forkServerOf(fx);
    assert.ok(first);
    await ctl(fx, ['reload']);
    const second = await waitFor('a new fork server after the reload', fx, () => {
      const p = forkServerOf(fx);
      return p !== undefined && p !== first ? p : undefined;
    });
    await fx.server.waitForLog(new RegExp(`fork server ${second} ready`));
    const r = await runTlssh(['-c', fx.configFile, 'localhost', 'echo $PPID']);
    assert.equal(r.status, 0, r.stderr);
    await fx.server.waitForLog(new RegExp(`-> worker ${r.stdout.toString().trim()} \\(forked\\)`));
  });
});
