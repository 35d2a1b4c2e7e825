// A real tlsshd on 127.0.0.1 (Port 0) for integration tests, a small tlssh/2 client built on
// node:tls and the codec, and throw-away system users for the tests that need root.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import * as tls from 'node:tls';
import { after, before } from 'node:test';
import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';
import {
  ALPN_TLSSH2,
  LIMITS,
  type ErrorMessage,
  type ExitStatus,
  type Message,
  type SessionRequest,
  type SessionStarted,
  type StreamId,
} from '../../src/protocol/messages';
import { controlSocketAnswers } from '../../src/server/control-socket';
import { ensureBundles } from './bundles';
import { issueCert, makeCa, makeTempDir, type Ca } from './ca';

// bin/tlsshd runs dist/bundle: never one older than the compiled code.
ensureBundles();

const ROOT = path.resolve(__dirname, '..', '..', '..');
const TLSSHD = path.join(ROOT, 'bin', 'tlsshd');

export interface StartOptions {
  dir: string;
  /** Keyword -> value lines of the config file (Listen 127.0.0.1 and Port 0 unless given). */
  config?: Record<string, string>;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Run the daemon as this uid/gid (the harness makes `dir` theirs). */
  uid?: number;
  gid?: number;
}

export interface TlsshdHandle {
  port: number;
  pid: number;
  configFile: string;
  logs(): string;
  /** Resolves with the first log line matching `re` (already written or still to come). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Worker processes still running: the listener's children, and those of its fork server (WorkerForkServer yes). */
  workerPids(): number[];
  /** SIGTERM the listener and wait for it; unless keepSessions, SIGKILL its workers too. */
  stop(opts?: { keepSessions?: boolean }): Promise<void>;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The listener's children, and the workers of a fork server among them (which is listed too). */
function workersOf(listener: number): number[] {
  const out: number[] = [];
  for (const c of childrenOf(listener)) {
    out.push(c);
    let title = '';
    try {
      title = fs.readFileSync(`/proc/${c}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    if (title.startsWith('tlsshd: [fork server]')) out.push(...childrenOf(c));
  }
  return out;
}

/** Processes whose real uid is `uid`. */
export function processesOf(uid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = fs.readFileSync(`/proc/${name}/status`, 'latin1');
      if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops (SIGSTOP) every worker of `server`: their TCP connections stay up, but nothing behind them
 * answers, as with a hung server. `kill()` ends them afterwards (SIGKILL; a stopped process can
 * take nothing else).
 */
export function freezeWorkers(server: Pick<TlsshdHandle, 'workerPids'>): { kill(): void } {
  const frozen = server.workerPids();
  if (frozen.length === 0) throw new Error('no worker to freeze');
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  return {
    kill: () => {
      for (const pid of frozen) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bound, read, released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export function writeConfig(file: string, config: Record<string, string>): void {
  fs.writeFileSync(file, Object.entries(config).map(([k, v]) => `${k} ${v}\n`).join(''), { mode: 0o644 });
}

export async function startTlsshd(opts: StartOptions): Promise<TlsshdHandle> {
  const configFile = path.join(opts.dir, `tlsshd-${randomBytes(3).toString('hex')}.conf`);
  // dir/run, as a daemon restarted in the same fixture expects; but a daemon of the same fixture
  // still running there has it, and tlsshd refuses a RuntimeDir another one is using.
  const sharedRun = path.join(opts.dir, 'run');
  const runtimeDir = await controlSocketAnswers(sharedRun) ? path.join(opts.dir, `run-${randomBytes(3).toString('hex')}`) : sharedRun;
  writeConfig(configFile, {
    Listen: '127.0.0.1',
    Port: '0',
    RuntimeDir: runtimeDir,
    LogLevel: 'VERBOSE',
    // Tests make refused logins from 127.0.0.1 on purpose, many per daemon; PerSourcePenalties
    // would soon refuse that address. Penalty tests use other loopback sources (127.0.0.2, ...).
    PerSourcePenaltyExemptList: '127.0.0.1',
    // TLSSH_TEST_WORKER_FORK_SERVER=yes runs every daemon of the suite with the fork server (a
    // test that sets the keyword itself keeps its own value).
    ...(process.env['TLSSH_TEST_WORKER_FORK_SERVER'] === 'yes' ? { WorkerForkServer: 'yes' } : {}),
    ...opts.config,
  });
  if (opts.uid !== undefined) execFileSync('chown', ['-R', `${opts.uid}:${opts.gid ?? opts.uid}`, opts.dir]);
  // The daemon's output goes to a file, not a pipe: a test blocked in execFileSync (tlsshctl,
  // tlssh) stops reading a pipe, and a daemon blocked on a full pipe cannot answer it.
  const logFile = configFile.replace(/\.conf$/, '.log');
  const out = fs.openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [TLSSHD, '-f', '-c', configFile, ...(opts.extraArgs ?? [])], {
    stdio: ['ignore', out, out],
    env: opts.env ?? process.env,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  });
  fs.closeSync(out);
  // With LogFile the daemon's own lines go there, once it has opened the file.
  const watched = opts.config?.['LogFile'] ?? logFile;
  for (let i = 0; i < 300 && !fs.existsSync(watched); i++) await new Promise((r) => setTimeout(r, 50));
  const reader = fs.openSync(fs.existsSync(watched) ? watched : logFile, 'r');
  let text = '';
  let offset = 0;
  const chunk = Buffer.alloc(64 * 1024);
  const utf8 = new StringDecoder('utf8');
  /** Takes in what the daemon has written since the last call. */
  const catchUp = (): void => {
    for (let n; (n = fs.readSync(reader, chunk, 0, chunk.length, offset)) > 0; offset += n) text += utf8.write(chunk.subarray(0, n));
  };
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const scan = (): void => {
    catchUp();
    const lines = text.split('\n');
    for (const w of [...waiters]) {
      const line = lines.find((l) => w.re.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  // Only while someone waits for a line; a waiter's own timeout keeps the loop alive.
  const poll = setInterval(() => {
    if (waiters.length > 0) scan();
  }, 20);
  poll.unref();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    scan();
    resolve(code);
  }));

  const waitForLog = (re: RegExp, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        catchUp();
        reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; logs:\n${text}`));
      }, timeoutMs);
      waiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      scan();
    });

  const line = await Promise.race([
    waitForLog(/listening on 127\.0\.0\.1:\d+/),
    exited.then((code) => { throw new Error(`tlsshd exited with ${code} before listening; logs:\n${text}`); }),
  ]);
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
  const pid = child.pid!;
  return {
    port,
    pid,
    configFile,
    logs: () => {
      catchUp();
      return text;
    },
    waitForLog,
    workerPids: () => workersOf(pid),
    stop: async (o = {}) => {
      const workers = workersOf(pid);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      if (!o.keepSessions) for (const w of workers) try { process.kill(w, 'SIGKILL'); } catch { /* gone */ }
    },
  };
}

/* ------------------------------------------------------------------------------------------ */
/* A test client: tls + the codec, nothing else.                                              */

export interface ClientIdentity {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface SessionResult {
  started: SessionStarted | undefined;
  stdout: Buffer;
  stderr: Buffer;
  exit: ExitStatus | undefined;
  error: ErrorMessage | undefined;
  /** Set when TLS itself failed or the connection broke without an error frame. */
  transportError: Error | undefined;
}

export interface TestSession {
  socket: tls.TLSSocket;
  send(msg: Message): void;
  /** Write stdin (split into frames). */
  write(data: Buffer | string): void;
  endStdin(): void;
  /** Resolves once `pred` holds for the stdout collected so far. */
  waitForStdout(pred: (s: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves at the first message of `type`. */
  waitFor<T extends Message['type']>(type: T, timeoutMs?: number): Promise<Extract<Message, { type: T }>>;
  result: Promise<SessionResult>;
  close(): void;
}

export function sessionRequest(r: Partial<SessionRequest> = {}): SessionRequest {
  return { type: 'session-request', user: '', command: '', pty: false, term: '', cols: 80, rows: 24, env: [], ...r };
}

/** A raw TLS 1.3 connection to the daemon on 127.0.0.1 with the given client identity. */
export function connectTestTls(port: number, id: ClientIdentity, alpn: readonly string[] = [ALPN_TLSSH2]): tls.TLSSocket {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    ca: fs.readFileSync(id.caFile),
    cert: fs.readFileSync(id.certFile),
    key: fs.readFileSync(id.keyFile),
    minVersion: 'TLSv1.3',
    ALPNProtocols: [...alpn],
    // The server certificate is checked by the chain; its name is not what these tests are about.
    checkServerIdentity: () => undefined,
  });
  socket.setNoDelay(true);
  return socket;
}

export function connectClient(port: number, id: ClientIdentity, request?: SessionRequest | null, alpn?: readonly string[]): TestSession {
  const socket = connectTestTls(port, id, alpn);
  const decoder = new MessageDecoder();
  const out: SessionResult = { started: undefined, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exit: undefined, error: undefined, transportError: undefined };
  const stdoutChunks: Buffer[] = [];
  const stderrChunks: Buffer[] = [];
  const listeners = new Set<(m: Message | null) => void>();
  const send = (m: Message): void => {
    if (!socket.destroyed) socket.write(encodeMessage(m));
  };
  socket.on('secureConnect', () => {
    if (request) send(request);
  });
  socket.on('data', (chunk: Buffer) => {
    let msgs: Message[];
    try {
      msgs = decoder.push(chunk);
    } catch (e) {
      out.transportError = e as Error;
      socket.destroy();
      return;
    }
    for (const m of msgs) {
      if (m.type === 'data') {
        (m.stream === 2 ? stderrChunks : stdoutChunks).push(Buffer.from(m.data));
        send({ type: 'window-adjust', stream: m.stream, bytes: m.data.length });
      } else if (m.type === 'ping') send({ type: 'pong', cookie: m.cookie });
      else if (m.type === 'session-started') out.started = m;
      else if (m.type === 'exit-status') out.exit = m;
      else if (m.type === 'error') out.error = m;
      for (const l of [...listeners]) l(m);
    }
  });
  socket.on('error', (e) => {
    out.transportError ??= e;
  });
  const result = new Promise<SessionResult>((resolve) => {
    socket.once('close', () => {
      out.stdout = Buffer.concat(stdoutChunks);
      out.stderr = Buffer.concat(stderrChunks);
      for (const l of [...listeners]) l(null);
      resolve(out);
    });
  });
  const waitFor = <T extends Message['type']>(type: T, timeoutMs = 15_000): Promise<Extract<Message, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => { listeners.delete(l); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
      const l = (m: Message | null): void => {
        if (m === null) {
          clearTimeout(timer);
          listeners.delete(l);
          reject(new Error(`connection closed before ${type}${out.error ? ` (error ${out.error.code})` : ''}`));
        } else if (m.type === type) {
          clearTimeout(timer);
          listeners.delete(l);
          resolve(m as Extract<Message, { type: T }>);
        }
      };
      listeners.add(l);
    });
  const waitForStdout = (pred: (s: string) => boolean, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const current = (): string => Buffer.concat(stdoutChunks).toString('utf8');
      if (pred(current())) return resolve(current());
      const timer = setTimeout(() => { listeners.delete(l); reject(new Error(`stdout never matched; got ${JSON.stringify(current())}`)); }, timeoutMs);
      const l = (m: Message | null): void => {
        const s = current();
        if (pred(s)) {
          clearTimeout(timer);
          listeners.delete(l);
          resolve(s);
        } else if (m === null) {
          clearTimeout(timer);
          listeners.delete(l);
          reject(new Error(`connection closed; stdout ${JSON.stringify(s)}`));
        }
      };
      listeners.add(l);
    });
  return {
    socket,
    send,
    write: (data) => {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < buf.length; off += LIMITS.maxDataChunk) {
        send({ type: 'data', stream: 0 as StreamId, data: buf.subarray(off, off + LIMITS.maxDataChunk) });
      }
    },
    endStdin: () => send({ type: 'eof', stream: 0 }),
    waitFor,
    waitForStdout,
    result,
    close: () => socket.destroy(),
  };
}

/** Connect, run `command` without a pty (stdin closed at once unless given), and collect. */
export async function runCommand(port: number, id: ClientIdentity, command: string, r: Partial<SessionRequest> = {}, stdin?: Buffer): Promise<SessionResult> {
  const s = connectClient(port, id, sessionRequest({ command, ...r }));
  s.socket.once('secureConnect', () => {
    if (stdin) s.write(stdin);
    if (!r.pty) s.endStdin();
  });
  return s.result;
}

/* ------------------------------------------------------------------------------------------ */
/* System users for the tests that need root.                                                 */

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Supplementary group names. */
  groups: string[];
  remove(): void;
}

export const isRoot = process.getuid?.() === 0;

/**
 * A fresh user with two supplementary groups and a home made from /etc/skel; root only.
 * `prefix` keeps one test file's users apart from another's (and findable if left behind).
 */
export function createTestUser(prefix = 'tlssh-test'): TestUser {
  const tag = randomBytes(3).toString('hex');
  const name = `${prefix}-${tag}`;
  const groups = prefix === 'tlssh-test' ? [`tlssh-tg1-${tag}`, `tlssh-tg2-${tag}`] : [`${prefix}g1-${tag}`, `${prefix}g2-${tag}`];
  for (const g of groups) execFileSync('groupadd', [g]);
  execFileSync('useradd', ['-m', '-s', '/bin/bash', '-G', groups.join(','), name]);
  const entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return {
    name,
    uid: Number(entry[2]),
    gid: Number(entry[3]),
    home: entry[5] ?? '',
    groups,
    remove: () => {
      // userdel refuses while a process of the user lives (a killed one takes a moment to go),
      // and while another test file holds /etc/passwd's lock (two files run at once): a single
      // try left a user behind now and then. Kill, wait for the processes, and try again.
      const uid = Number(entry[2]);
      for (let attempt = 0; attempt < 5; attempt++) {
        for (const pid of processesOf(uid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        for (let i = 0; i < 20 && processesOf(uid).length > 0; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        try {
          execFileSync('userdel', ['-r', name], { stdio: 'ignore' });
          break;
        } catch {
          if (spawnSync('getent', ['passwd', name]).status !== 0) break;
        }
      }
      for (const g of groups) try { execFileSync('groupdel', [g], { stdio: 'ignore' }); } catch { /* already gone */ }
    },
  };
}

/* ------------------------------------------------------------------------------------------ */
/* Certificates for a daemon and its clients.                                                 */

export interface ServerFixture {
  dir: string;
  caFile: string;
  /** Config lines every daemon in the tests needs. */
  config: Record<string, string>;
  /** A client identity whose certificate has `cn` (clientAuth unless eku says otherwise). */
  client(cn: string, eku?: 'clientAuth' | 'serverAuth' | 'both' | 'none'): ClientIdentity & { fingerprint: string; serial: string };
  ca: Ca;
}

export function makeServerFixture(prefix: string): ServerFixture {
  const dir = makeTempDir(prefix);
  fs.chmodSync(dir, 0o755);
  const ca = makeCa(path.join(dir, 'ca'));
  const server = issueCert(ca, { cn: 'tlsshd test server', san: ['IP:127.0.0.1', 'DNS:localhost'], eku: 'serverAuth' });
  return {
    dir,
    caFile: ca.certFile,
    ca,
    config: { CertFile: server.certFile, KeyFile: server.keyFile, ClientCAFile: ca.certFile },
    client: (cn, eku = 'clientAuth') => {
      const c = issueCert(ca, { cn, eku });
      return { caFile: ca.certFile, certFile: c.certFile, keyFile: c.keyFile, fingerprint: c.fingerprint, serial: c.serial };
    },
  };
}

/** Who most tests log in as: root (PermitRootLogin yes) when tests run as root, else ourselves. */
export function loginUser(): { name: string; home: string; config: Record<string, string> } {
  const me = os.userInfo();
  return { name: me.username, home: me.homedir, config: isRoot ? { PermitRootLogin: 'yes' } : {} };
}

export interface LoginUserDaemon {
  readonly fx: ServerFixture;
  readonly daemon: TlsshdHandle;
  /** A client certificate for `me`. */
  readonly id: ClientIdentity;
  readonly me: ReturnType<typeof loginUser>;
}

/**
 * A tlsshd that `loginUser()` may log in to, started before the calling file's tests and stopped
 * after them; `prepare` runs on the fixture first and may add config lines.
 */
export function daemonForLoginUser(
  prefix: string,
  config: Record<string, string> = {},
  prepare?: (fx: ServerFixture) => Record<string, string> | void,
): LoginUserDaemon {
  const me = loginUser();
  let fx: ServerFixture | undefined;
  let daemon: TlsshdHandle | undefined;
  let id: ClientIdentity | undefined;
  before(async () => {
    fx = makeServerFixture(prefix);
    const extra = prepare?.(fx) ?? {};
    daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, ...config, ...extra } });
    id = fx.client(me.name);
  });
  after(async () => {
    await daemon?.stop();
    // The fixture's keys, configs and logs: a run leaves nothing in the temporary directory.
    if (fx) fs.rmSync(fx.dir, { recursive: true, force: true });
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('daemonForLoginUser: used before its before() hook ran');
    return v;
  };
  return {
    get fx() { return started(fx); },
    get daemon() { return started(daemon); },
    get id() { return started(id); },
    me,
  };
}
