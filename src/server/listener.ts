// The root listener: binds Listen:Port, applies MaxStartups, hands every accepted socket to a
// worker process of its own, and keeps the login records (utmp/wtmp) its workers cannot write
// once they are the user. It never parses a byte from the network itself.

import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { listenAddresses } from '../config/listen-address';
import type { ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import type { ConnectionMessage } from './ipc-messages';
import { parseWorkerMessage } from './ipc-messages';
import { LoginRecords } from './login-records';
import type { Logger, LogSink } from './log';
import { shouldDrop } from './max-startups';
import { lookupUser } from './passwd-lookup';

const WORKER_ENTRY = path.join(__dirname, 'worker-main.js');

/** Settings the TPM key agent was started with; a reload cannot change them. */
const TPM_KEY_FIELDS = ['PrivkeyEngine', 'KeyFile', 'CertFile', 'TpmTcti', 'TpmSrkPassword', 'PrivkeyPassword', 'TpmTimeout'] as const;

export interface ListenerOptions {
  config: ServerConfig;
  log: Logger;
  logSink: LogSink;
  /** The workers' stderr: the daemon's own stderr, or the syslog pipe. */
  workerStderr: 'inherit' | Writable;
  /** Warm workers kept ready; 0 forks one per connection. */
  prefork?: number;
  /** Overrides for tests. */
  utmpPath?: string;
  wtmpPath?: string;
}

interface WorkerState {
  child: ChildProcess;
  id: number;
  remote: string;
  authenticated: boolean;
  user?: string;
}

export interface BoundAddress {
  host: string;
  port: number;
}

export class Listener {
  private config: ServerConfig;
  private readonly log: Logger;
  private readonly servers: net.Server[] = [];
  private readonly workers = new Map<number, WorkerState>();
  private readonly warm: ChildProcess[] = [];
  private readonly records: LoginRecords;
  private nextId = 1;
  private stopping = false;
  private agentSocket: string | undefined;
  private agentStop: (() => Promise<void> | void) | undefined;

  constructor(private readonly opts: ListenerOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.records = new LoginRecords({
      utmpPath: opts.utmpPath,
      wtmpPath: opts.wtmpPath,
      stateDir: this.config.RuntimeDir ? path.join(this.config.RuntimeDir, 'sessions') : '',
      log: (level, message) => (level === 'error' ? this.log.error(message) : level === 'info' ? this.log.info(message) : this.log.debug(message)),
    });
  }

  /** Bind every Listen address; resolves with the real ports (Port 0 picks one). */
  async start(): Promise<BoundAddress[]> {
    await this.startKeyAgent();
    const bound: BoundAddress[] = [];
    for (const a of listenAddresses(this.config)) {
      const server = net.createServer({ pauseOnConnect: true, noDelay: true }, (s) => this.onConnection(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e) => reject(new TlsshError('TLSSH_ERR_LISTEN', `cannot listen on ${a.host} port ${a.port}: ${e.message}`, { cause: e })));
        server.listen({ host: a.host, port: a.port, ipv6Only: a.ipv6Only, backlog: 511 }, () => resolve());
      });
      server.on('error', (e) => this.log.error(`listener error: ${e.message}`));
      const addr = server.address() as net.AddressInfo;
      bound.push({ host: addr.address, port: addr.port });
      this.servers.push(server);
      this.log.info(`listening on ${net.isIPv6(addr.address) ? `[${addr.address}]` : addr.address}:${addr.port}`);
    }
    await this.records.adoptOrphans();
    this.fillPool();
    return bound;
  }

  /** New connections use `cfg` from now on; Listen/Port changes need a restart. */
  reload(cfg: ServerConfig): void {
    if (cfg.Listen.join() !== this.config.Listen.join()) this.log.info('Listen/Port changed: restart tlsshd to apply');
    if (this.agentSocket && TPM_KEY_FIELDS.some((k) => cfg[k] !== this.config[k])) {
      // The agent holds the key it was started with; a certificate for another key would fail every login.
      this.log.info(`${TPM_KEY_FIELDS.join('/')} changed: restart tlsshd to apply (keeping the TPM key in use)`);
      const kept: Partial<ServerConfig> = {};
      for (const k of TPM_KEY_FIELDS) Object.assign(kept, { [k]: this.config[k] });
      cfg = { ...cfg, ...kept };
    }
    this.config = cfg;
    this.log.info('configuration reloaded');
  }

  /** Stop accepting; running sessions (and their workers) carry on without us. */
  async stop(): Promise<void> {
    this.stopping = true;
    // close() stops listening at once; its callback would wait for connections already handed
    // to workers, which are not ours to wait for.
    for (const s of this.servers) s.close();
    for (const w of this.warm.splice(0)) w.kill('SIGTERM');
    for (const w of this.workers.values()) {
      // Detach: their exit is no longer our business (a later listener picks the records up).
      w.child.removeAllListeners('exit');
      if (w.child.connected) w.child.disconnect();
    }
    this.records.stop();
    await this.records.flush();
    await this.agentStop?.();
  }

  private onConnection(socket: net.Socket): void {
    const id = this.nextId++;
    const remote = `${socket.remoteAddress ?? '?'} port ${socket.remotePort ?? '?'}`;
    if (this.stopping) return void socket.destroy();
    const pending = [...this.workers.values()].filter((w) => !w.authenticated).length;
    if (shouldDrop(this.config.MaxStartups, pending)) {
      const m = this.config.MaxStartups;
      this.log.info(`drop connection #${id} from ${remote} past MaxStartups ${m.start}:${m.rate}:${m.full} (${pending} unauthenticated)`);
      return void socket.destroy();
    }
    const child = this.warm.shift() ?? this.spawnWorker();
    this.fillPool();
    const pid = child.pid;
    if (pid === undefined) {
      this.log.error(`cannot start a worker for connection #${id}`);
      return void socket.destroy();
    }
    const state: WorkerState = { child, id, remote, authenticated: false };
    this.workers.set(pid, state);
    child.on('message', (m: unknown) => this.onWorkerMessage(state, m, socket.remoteAddress ?? ''));
    const msg: ConnectionMessage = {
      t: 'connection', id, config: this.config, logSink: this.opts.logSink,
      ...(this.agentSocket ? { agentSocket: this.agentSocket } : {}),
    };
    this.log.verbose(`connection #${id} from ${remote} -> worker ${pid}`);
    child.send(msg, socket, (err) => {
      if (err) {
        this.log.error(`cannot hand connection #${id} to worker ${pid}: ${err.message}`);
        socket.destroy();
        child.kill('SIGTERM');
      }
    });
  }

  private spawnWorker(): ChildProcess {
    const child = fork(WORKER_ENTRY, [], {
      // Its own process group: signals for the listener (a terminal's ^C) never reach sessions.
      detached: true,
      stdio: ['ignore', 'ignore', this.opts.workerStderr, 'ipc'],
      execArgv: [],
      serialization: 'json',
    });
    child.on('error', (e) => this.log.error(`worker: ${e.message}`));
    child.once('exit', (code, signal) => this.onWorkerExit(child, code, signal));
    return child;
  }

  private fillPool(): void {
    const want = this.stopping ? 0 : this.opts.prefork ?? 0;
    while (this.warm.length < want) {
      const child = this.spawnWorker();
      this.warm.push(child);
    }
  }

  private onWorkerExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const i = this.warm.indexOf(child);
    if (i >= 0) this.warm.splice(i, 1);
    const pid = child.pid;
    if (pid === undefined) return;
    const w = this.workers.get(pid);
    this.workers.delete(pid);
    if (w) {
      const how = signal ? `killed by ${signal}` : `exit ${code ?? '?'}`;
      this.log.verbose(`worker ${pid} for connection #${w.id} ended (${how})`);
      if (w.authenticated && w.user) this.log.info(`session of ${w.user} from ${w.remote} closed`);
    }
    void this.records.logout(pid);
  }

  private onWorkerMessage(w: WorkerState, raw: unknown, host: string): void {
    const m = parseWorkerMessage(raw);
    const pid = w.child.pid;
    if (!m || pid === undefined) return;
    if (m.t === 'authenticated') {
      if (w.authenticated) return;
      w.authenticated = true;
      w.user = m.user;
    } else if (m.t === 'login') {
      if (!w.user || this.records.isOpen(pid)) return;
      void this.recordLogin(pid, w.user, m.line, host);
    }
  }

  /** The worker is the user by now: believe its tty only if that user really owns it. */
  private async recordLogin(pid: number, user: string, line: string, host: string): Promise<void> {
    try {
      const [acct, st] = await Promise.all([lookupUser(user), fs.promises.stat(`/dev/${line}`)]);
      if (!acct || st.uid !== acct.uid || !st.isCharacterDevice()) {
        this.log.error(`worker ${pid} reported tty ${line} which ${user} does not own; no login record`);
        return;
      }
      await this.records.login({ pid, line, user, host });
    } catch (e) {
      this.log.error(`login record for ${user} on ${line}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * With a TPM key the listener alone opens the TPM: its key agent signs for the workers over a
   * socket only this user can reach, so a worker (which parses network bytes) never holds the
   * TPM or a password. The agent signs once at start, so a wrong password or a missing TPM stops
   * the daemon here instead of failing every login.
   */
  private async startKeyAgent(): Promise<void> {
    if (this.config.PrivkeyEngine !== 'tpm') return;
    const dir = this.config.RuntimeDir;
    privateRuntimeDir(dir);
    const socketPath = path.join(dir, 'tpm-agent.sock');
    // Loaded only with a TPM key, so plain-key daemons never load the native addon.
    const tpm = await import('../tpm');
    const { configuredTcti } = await import('../transport/tpm-key');
    const cfg = this.config;
    if (cfg.PrivkeyPassword === undefined && !keyFileSaysEmptyAuth(tpm, cfg.KeyFile)) {
      // Trying "no password" would cost a dictionary-attack strike on every start.
      throw new TlsshError(
        'TLSSH_ERR_TPM_AUTH',
        `TPM key ${cfg.KeyFile} needs a password and tlsshd never prompts: set PrivkeyPassword in a config file of mode 0600 (an empty value if the key has none)`,
      );
    }
    const agent = await tpm.startKeyAgent({
      socketPath,
      keys: [{
        keyFile: cfg.KeyFile,
        tcti: tpm.resolveTcti(configuredTcti(cfg)),
        ...(cfg.TpmSrkPassword !== undefined ? { parentPassword: cfg.TpmSrkPassword } : {}),
        ...(cfg.PrivkeyPassword !== undefined ? { keyPassword: cfg.PrivkeyPassword } : {}),
      }],
      timeoutMs: cfg.TpmTimeout * 1000,
      // A signature the agent could not make is a login that failed: the administrator must see it.
      log: (line) => (/: TLSSH_ERR_|refused|dropped/.test(line) ? this.log.error(line) : this.log.verbose(line)),
    });
    this.agentStop = () => agent.close();
    this.agentSocket = socketPath;
    this.log.info(`TPM key agent on ${socketPath}`);
  }
}

/** False when the key file says the key has a password; unreadable files are the agent's to report. */
function keyFileSaysEmptyAuth(tpm: typeof import('../tpm'), keyFile: string): boolean {
  try {
    return tpm.parseTss2PrivateKey(fs.readFileSync(keyFile), keyFile).emptyAuth;
  } catch {
    return true;
  }
}

/**
 * RuntimeDir holds the key agent's socket: it must be a real directory of ours that nobody else
 * can enter, whatever state a previous run or an administrator left it in.
 */
function privateRuntimeDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    const euid = process.geteuid?.() ?? st.uid;
    if (!st.isDirectory()) throw new Error('not a directory');
    if (st.uid !== euid) throw new Error(`owned by uid ${st.uid}, not ${euid}`);
    if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  } catch (e) {
    if (e instanceof TlsshError) throw e;
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new TlsshError('TLSSH_ERR_TPM_AGENT', `RuntimeDir ${dir} cannot hold the TPM key agent socket: ${why}`, { cause: e });
  }
}