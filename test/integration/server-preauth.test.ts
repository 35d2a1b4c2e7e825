// Before a worker exists, the listener is the only cost (DESIGN §1), and it is shared fairly
// between sources: floods of idle and half-ClientHello connections buy no process, a source's
// own limit keeps others' logins possible, and misbehaving sources are refused at accept.
// Sources are loopback addresses (127.0.0.2, ...), which Linux routes to the 127.0.0.1 listener.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { encodeMessage } from '../../src/protocol/codec';
import { ALPN_TLSSH2 } from '../../src/protocol/messages';
import { issueCert, makeCa } from '../helpers/ca';
import { captureClientHello } from '../helpers/client-hello';
import {
  loginUser, makeServerFixture, runCommand, sessionRequest, startTlsshd, type ClientIdentity, type ServerFixture, type TlsshdHandle,
} from '../helpers/server-harness';
import { pollUntil } from '../helpers/poll';

const TLSSH = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlssh');
const FLOOD_SOURCE = '127.0.0.2';
const IDLE = 500;
const HALF_HELLO = 200;

let fx: ServerFixture;
let id: ClientIdentity;
let hello: Buffer;
let clientConf: (port: number) => string;
const me = loginUser();
const open: net.Socket[] = [];

before(async () => {
  fx = makeServerFixture('tlsshd-preauth');
  id = fx.client(me.name);
  hello = await captureClientHello();
  clientConf = (port) => {
    const f = path.join(fx.dir, `tlssh-${port}.conf`);
    fs.writeFileSync(f, `Port ${port}\nServerCAFile ${fx.caFile}\nCertFile ${id.certFile}\nKeyFile ${id.keyFile}\nConnectTimeout 30\n`, { mode: 0o600 });
    return f;
  };
});
after(() => {
  for (const s of open.splice(0)) s.destroy();
});

/** Every descendant of `pid` (workers, their sessions). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c); }
  };
  walk(pid);
  return out;
}

/** Proportional set size in kB, or 0 for a process that is gone. */
function pssKb(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function treePssKb(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + pssKb(p), 0);
}

function socketsOf(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}

async function until(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  await pollUntil(what, () => {
    if (process.env['PREAUTH_DEBUG']) process.stderr.write(`waiting: ${what}\n`);
    return pred();
  }, { limitMs: timeoutMs });
}

/** Opens a TCP connection from `source`; resolves once connected (or closed, if refused). */
function connectFrom(port: number, source: string, first?: Buffer): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: source });
    open.push(s);
    s.on('error', () => undefined);
    s.once('connect', () => {
      if (first) s.write(first);
      resolve(s);
    });
    s.once('close', () => resolve(s));
  });
}

/** Opens `n` connections from `source`, a few at a time so the accept backlog never overflows. */
async function flood(port: number, source: string, n: number, first?: Buffer): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  for (let i = 0; i < n; i += 50) {
    out.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => connectFrom(port, source, first))));
  }
  return out;
}

/** Resolves true when the server closes the connection (with nothing sent back). */
function closedByServer(s: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve(true);
    s.once('end', () => resolve(true));
    s.once('close', () => resolve(true));
  });
}

/** Runs the real tlssh client; true when the command's output came back. */
function tlsshLogin(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TLSSH, '-c', clientConf(port), '127.0.0.1', 'echo preauth-ok'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LANG: 'C' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => process.stderr.write(`tlssh: ${b.toString()}`));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve(code === 0 && out === 'preauth-ok\n');
    });
  });
}

/** Runs the real tlssh client from the local address `source`; its status and stderr. */
function tlsshFrom(port: number, source: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [TLSSH, '-c', clientConf(port), '-b', source, '127.0.0.1', 'true'], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LANG: 'C' },
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stderr });
    });
  });
}

/** A TLS client connection from `source`. */
function tlsFrom(port: number, source: string, ident: ClientIdentity = id): tls.TLSSocket {
  const tcp = net.connect({ host: '127.0.0.1', port, localAddress: source });
  tcp.on('error', () => undefined);
  const s = tls.connect({
    socket: tcp, ca: fs.readFileSync(fx.caFile), cert: fs.readFileSync(ident.certFile), key: fs.readFileSync(ident.keyFile),
    ALPNProtocols: [ALPN_TLSSH2], checkServerIdentity: () => undefined,
  });
  s.on('error', () => undefined);
  open.push(s);
  return s;
}

/** A TLS handshake from `source`; true when it completed. */
function handshakeFrom(port: number, source: string, ident: ClientIdentity = id): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tlsFrom(port, source, ident);
    let ok = false;
    s.on('secureConnect', () => { ok = true; s.destroy(); });
    s.on('error', () => undefined);
    s.on('close', () => resolve(ok));
  });
}

function handOffs(d: TlsshdHandle, source: string): number {
  return d.logs().split('\n').filter((l) => l.includes(`from ${source} port`) && l.includes('-> worker')).length;
}

test('500 idle and 200 half-ClientHello connections from one source cost no worker; a login from another succeeds', async (t) => {
  // Room for the whole flood, so that the listener really holds every one of its connections.
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, MaxStartups: '1000:30:1000' } });
  try {
    const before = { listener: pssKb(d.pid), tree: treePssKb(d.pid), sockets: socketsOf(d.pid) };
    await flood(d.port, FLOOD_SOURCE, IDLE);
    await flood(d.port, FLOOD_SOURCE, HALF_HELLO, hello.subarray(0, Math.floor(hello.length / 2)));
    // On a loaded machine the ClientHello deadline may close some before they are all counted.
    await until(
      () => socketsOf(d.pid) >= before.sockets + IDLE + HALF_HELLO || /no ClientHello within/.test(d.logs()),
      `the listener holds the whole flood (${before.sockets} sockets before)`,
    );
    const held = { listener: pssKb(d.pid), tree: treePssKb(d.pid), sockets: socketsOf(d.pid) - before.sockets };
    const loggedIn = await tlsshLogin(d.port);
    const afterLogin = treePssKb(d.pid);
    const perConnection = (held.listener - before.listener) / held.sockets;
    t.diagnostic(`listener PSS ${before.listener} kB before, ${held.listener} kB holding ${held.sockets} connections: ${perConnection.toFixed(2)} kB each`);
    t.diagnostic(`tlsshd tree PSS: ${before.tree} kB idle, ${held.tree} kB during the flood, ${afterLogin} kB after the login; login ${loggedIn ? 'succeeded' : 'FAILED'}`);
    assert.equal(loggedIn, true, 'the login from 127.0.0.1 succeeds during the flood');
    assert.ok(Math.max(held.tree, afterLogin) < 150 * 1024, `tree PSS ${Math.max(held.tree, afterLogin)} kB is under 150 MB`);
    assert.equal(handOffs(d, FLOOD_SOURCE), 0, 'no worker for a connection without a complete ClientHello');
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});

test('PerSourceMaxStartups: a flood (and handshakes stuck in a worker) take only their own source\'s slots', async (t) => {
  // sshd's defaults but for the per-source limit: without it, 700 pending connections are far past
  // MaxStartups' "full" and every login would be dropped.
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, PerSourceMaxStartups: '3', LogLevel: 'VERBOSE' } });
  try {
    // Three connections that sent a whole ClientHello and then stall, as a handshake waiting on a
    // slow TPM does: each has a worker, and each holds one of its source's slots.
    const stuck = await flood(d.port, FLOOD_SOURCE, 3, hello);
    await until(() => handOffs(d, FLOOD_SOURCE) === 3, 'three workers for the stalled handshakes');
    const floodSockets = [...await flood(d.port, FLOOD_SOURCE, IDLE), ...await flood(d.port, FLOOD_SOURCE, HALF_HELLO, hello.subarray(0, 100))];
    await d.waitForLog(/past PerSourceMaxStartups/);
    let ok = 0;
    const tries = 5;
    for (let i = 0; i < tries; i++) if (await tlsshLogin(d.port)) ok++;
    const tree = treePssKb(d.pid);
    t.diagnostic(`logins from 127.0.0.1 during the flood: ${ok}/${tries}; tlsshd tree PSS ${tree} kB`);
    assert.equal(ok, tries, 'every login from another source succeeds');
    assert.ok(tree < 150 * 1024);
    // Still only the three stalled handshakes from the flooding source ever got a worker.
    assert.equal(handOffs(d, FLOOD_SOURCE), 3);
    assert.ok(floodSockets.length === IDLE + HALF_HELLO && stuck.length === 3);
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});

test('at the default LogLevel a refused source is logged once a minute, with how many more were refused, and the rest at VERBOSE', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, PerSourceMaxStartups: '2', LogLevel: 'INFO' } });
  try {
    // Two idle connections take the source's slots; the next five are refused at accept.
    await flood(d.port, FLOOD_SOURCE, 2);
    const refused = await flood(d.port, FLOOD_SOURCE, 5);
    await Promise.all(refused.map(closedByServer));
    await d.waitForLog(/drop connection #\d+ from 127\.0\.0\.\d+ port \d+: past PerSourceMaxStartups: 2 unauthenticated connections from /);
    // The daemon logs what it refused in order; give the last refusals time to be written.
    await new Promise((r) => setTimeout(r, 500));
    const drops = d.logs().split('\n').filter((l) => l.includes('drop connection'));
    assert.equal(drops.length, 1, drops.join('\n'));
    assert.doesNotMatch(drops[0]!, /more from/);
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});

test('by default one source holds at most 10 connections before login: stalled handshakes from it get no more workers', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, LogLevel: 'VERBOSE' } });
  try {
    // 15 whole ClientHellos that then stall: a worker each, up to the default limit of 10.
    const stuck = await flood(d.port, FLOOD_SOURCE, 15, hello);
    await d.waitForLog(/past PerSourceMaxStartups/);
    await until(() => handOffs(d, FLOOD_SOURCE) === 10, 'ten workers for the stalled handshakes');
    assert.equal(handOffs(d, FLOOD_SOURCE), 10, 'the five past the limit were closed without a worker');
    // Another source still logs in (MaxStartups' random refusals start at 10 in all, so a try may
    // be refused; one of several gets through).
    let ok = 0;
    for (let i = 0; i < 10 && ok === 0; i++) if (await tlsshLogin(d.port)) ok++;
    assert.equal(ok, 1, 'a login from another source');
    assert.equal(stuck.length, 15);
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});

test('penalties: garbage, a refused certificate, silence and a missing session request each get a source refused; the exempt list does not', async () => {
  const d = await startTlsshd({
    dir: fx.dir,
    config: {
      ...fx.config, ...me.config,
      // 30s each is past the 15s threshold, so one offence is enough to be refused.
      PerSourcePenalties: 'noauth:30s authfail:30s grace-exceeded:30s',
      PerSourcePenaltyExemptList: '127.0.0.3',
      LoginGraceTime: '2',
    },
  });
  try {
    // Garbage first bytes: closed without a worker.
    const garbage = await connectFrom(d.port, '127.0.0.2', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(await closedByServer(garbage), true);
    await d.waitForLog(/connection #\d+ from 127\.0\.0\.2 port \d+ is not TLS/);
    assert.equal(handOffs(d, '127.0.0.2'), 0, 'no worker for garbage');
    await d.waitForLog(/penalty: 127\.0\.0\.2\/32 refused for 30s \(noauth\)/);
    // Refused at accept from now on, even with a proper ClientHello.
    assert.equal(await handshakeFrom(d.port, '127.0.0.2'), false);
    await d.waitForLog(/drop connection #\d+ from 127\.0\.0\.2 port \d+: penalty/);
    // The refused user is told what may be going on, in tlssh's one line.
    const refused = await tlsshFrom(d.port, '127.0.0.2');
    assert.equal(refused.status, 255, refused.stderr);
    assert.equal(refused.stderr, `tlssh: connection to 127.0.0.1 port ${d.port} closed during the TLS handshake; the server may be refusing connections from this address for now (MaxStartups, PerSourceMaxStartups or PerSourcePenalties), and its log says why\n`);

    // A certificate that maps to no user: the worker reports an authentication failure.
    const stranger = fx.client('preauth-no-such-user');
    await new Promise<void>((resolve) => {
      const s = tlsFrom(d.port, '127.0.0.4', stranger);
      // The user is decided at the session request; the refusal ends the connection.
      s.on('secureConnect', () => s.write(encodeMessage(sessionRequest({ command: 'true' }))));
      s.resume();
      s.on('close', () => resolve());
    });
    await d.waitForLog(/from 127\.0\.0\.4 port \d+: refused /);
    await d.waitForLog(/penalty: 127\.0\.0\.4\/32 refused for 30s \(authfail\)/);

    // Silence: the listener's ClientHello deadline (LoginGraceTime 2 here) passes.
    const silent = await connectFrom(d.port, '127.0.0.5');
    assert.equal(await closedByServer(silent), true);
    await d.waitForLog(/penalty: 127\.0\.0\.5\/32 refused for 30s \(grace-exceeded\)/);
    // LoginGraceTime bounds the wait when it is shorter than the listener's own 10 s.
    assert.match(d.logs(), /from 127\.0\.0\.5 port \d+: no ClientHello within 2s/);
    assert.equal(handOffs(d, '127.0.0.5'), 0);

    // A TLS session that never asks for a session: the worker's LoginGraceTime.
    tlsFrom(d.port, '127.0.0.6');
    await d.waitForLog(/penalty: 127\.0\.0\.6\/32 refused for 30s \(grace-exceeded\)/);
    assert.equal(await handshakeFrom(d.port, '127.0.0.6'), false);

    // The exempt source: garbage, then a handshake that still completes.
    const exempt = await connectFrom(d.port, '127.0.0.3', Buffer.from('\x00\x01garbage'));
    assert.equal(await closedByServer(exempt), true);
    await d.waitForLog(/connection #\d+ from 127\.0\.0\.3 port \d+ is not TLS/);
    assert.equal(await handshakeFrom(d.port, '127.0.0.3'), true);
    assert.doesNotMatch(d.logs(), /penalty: 127\.0\.0\.3/);

    // Other sources log in as ever.
    const ok = await runCommand(d.port, id, 'echo fine');
    assert.equal(ok.stdout.toString(), 'fine\n');
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});

test('a ClientHello that arrives in pieces is put back together and the login works, ALPN included', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  // A relay that passes the client's first flight on in three pieces, with pauses between them.
  const relay = net.createServer({ noDelay: true }, (c) => {
    const up = net.connect({ host: '127.0.0.1', port: d.port, noDelay: true });
    let first = true;
    c.on('data', (b: Buffer) => {
      if (!first) return void up.write(b);
      first = false;
      c.pause();
      const cuts = [0, 3, Math.floor(b.length / 2), b.length];
      let i = 0;
      const next = (): void => {
        up.write(b.subarray(cuts[i], cuts[i + 1]));
        if (++i < cuts.length - 1) setTimeout(next, 100);
        else c.resume();
      };
      next();
    });
    up.on('data', (b: Buffer) => c.write(b));
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
    c.on('error', () => undefined);
    up.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  try {
    const r = await runCommand((relay.address() as net.AddressInfo).port, id, 'echo pieces');
    assert.equal(r.stdout.toString(), 'pieces\n');
    assert.equal(r.exit?.code, 0);
  } finally {
    relay.close();
    await d.stop();
  }
});

test('every crash signal earns the crash penalty; a worker stopped by SIGTERM or SIGKILL only noauth', async () => {
  // noauth is raised above `min` so that both kinds start a refusal, and the log says which.
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, PerSourcePenalties: 'crash:90s noauth:60s' } });
  const cases: [NodeJS.Signals, 'crash' | 'noauth'][] = [
    ['SIGSEGV', 'crash'], ['SIGBUS', 'crash'], ['SIGILL', 'crash'], ['SIGFPE', 'crash'],
    ['SIGABRT', 'crash'], ['SIGSYS', 'crash'], ['SIGTRAP', 'crash'],
    ['SIGTERM', 'noauth'], ['SIGKILL', 'noauth'],
  ];
  try {
    for (const [i, [signal, kind]] of cases.entries()) {
      const source = `127.0.1.${i + 1}`;
      await connectFrom(d.port, source, hello);
      const esc = source.replace(/\./g, '\\.');
      const line = await d.waitForLog(new RegExp(`connection #\\d+ from ${esc} port \\d+ -> worker \\d+`));
      process.kill(Number(/-> worker (\d+)/.exec(line)?.[1]), signal);
      const penalty = await d.waitForLog(new RegExp(`penalty: ${esc}/32 refused for \\d+s`));
      assert.match(penalty, new RegExp(`\\(${kind}\\)$`), `${signal}: ${penalty}`);
    }
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});

test('a client that refuses the server\'s certificate gave up before authenticating: noauth, not authfail', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, PerSourcePenalties: 'noauth:20s authfail:30s' } });
  try {
    // openssl with another CA than the server's: it ends the handshake with an "unknown ca" alert.
    const other = makeCa(path.join(fx.dir, 'client-side-ca'), 'preauth client side CA');
    const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${d.port}`, '-bind', '127.0.0.9:0', '-tls1_3', '-alpn', ALPN_TLSSH2,
      '-CAfile', other.certFile, '-verify_return_error', '-cert', id.certFile, '-key', id.keyFile], { input: '', encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(r.status, 0, 'openssl refused the server');
    await d.waitForLog(/from 127\.0\.0\.9 port \d+: TLS handshake failed: .*alert unknown ca/);
    await d.waitForLog(/penalty: 127\.0\.0\.9\/32 refused for 20s \(noauth\)/);
  } finally {
    await d.stop();
  }
});

test('a worker that crashes before login, and a certificate from an unknown CA, get their sources refused', async () => {
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, PerSourcePenalties: 'authfail:30s' } });
  try {
    // A whole ClientHello, then nothing: the worker waits in the handshake, and dies of SIGSEGV.
    await connectFrom(d.port, '127.0.0.7', hello);
    const line = await d.waitForLog(/connection #\d+ from 127\.0\.0\.7 port \d+ -> worker \d+/);
    process.kill(Number(/-> worker (\d+)/.exec(line)?.[1]), 'SIGSEGV');
    await d.waitForLog(/penalty: 127\.0\.0\.7\/32 refused for 90s \(crash\)/);
    assert.equal(await handshakeFrom(d.port, '127.0.0.7'), false);

    const other = makeCa(path.join(fx.dir, 'other-ca'), 'preauth other CA');
    const c = issueCert(other, { cn: me.name, eku: 'clientAuth' });
    await new Promise<void>((resolve) => {
      const s = tlsFrom(d.port, '127.0.0.8', { caFile: fx.caFile, certFile: c.certFile, keyFile: c.keyFile });
      s.on('secureConnect', () => s.write(encodeMessage(sessionRequest({ command: 'true' }))));
      s.resume();
      s.on('close', () => resolve());
    });
    await d.waitForLog(/penalty: 127\.0\.0\.8\/32 refused for 30s \(authfail\)/);
    assert.equal(await handshakeFrom(d.port, '127.0.0.8'), false);
  } finally {
    for (const s of open.splice(0)) s.destroy();
    await d.stop();
  }
});
