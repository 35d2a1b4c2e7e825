// The root listener: binds Listen:Port, applies MaxStartups and the per-source limits and
// penalties, holds each new connection itself until a complete TLS ClientHello has arrived, then
// hands it to a worker process of its own, and keeps the login records (utmp/wtmp) its workers
// cannot write once they are the user. Of the network's bytes it only frames the ClientHello's
// record headers (client-hello-framing.ts); OpenSSL in the worker parses them.

import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { listenAddresses } from '../config/listen-address';
import type { ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import { NODE_TRUST_FLAG } from '../launcher/node-trust-flag';
import type { AgentStats } from '../tpm/agent-stats';
import { DEFAULT_KILL_MESSAGE, normaliseSerial, type ControlReply, type ControlRequest, type SessionView } from './control-protocol';
import { controlSocketAnswers, startControlSocket } from './control-socket';
import { FORK_SERVER_ARG, WORKER_EXIT_SETUP_FAILED, type ConnectionMessage, type SessionEndCode, type SessionInfoMessage, type SessionStatsMessage } from './ipc-messages';
import { loadClientTrust, recheckChain, type ClientTrust } from './session-recheck';
import { SessionViewsStore, isAlive, type StoredView } from './session-views-store';
import { DropLog } from './drop-log';
import { PerSourceTable, type PenaltyKind, type PerSourceSettings } from './per-source';
import { holdUntilClientHello, type HoldOutcome, type PreauthHold } from './preauth-hold';
import { parseWorkerMessage } from './ipc-messages';
import { LoginRecords, ttyOwner } from './login-records';
import type { Logger, LogSink } from './log';
import { shouldDrop } from './max-startups';
import { closePamSession, pamAtStart, pamServiceNote, type PamDecision } from './pam-session';
import { PamSessionRegistry } from './pam-session-registry';
import { checkRuntimeDir } from './runtime-dir';
import { openFileKey, startFileKey, type FileKeySigner } from './file-key';
import { connectionMessage, warmMessage } from './worker-config';
import { loadPipeBinding } from './command-pipes';
import { WorkerPool } from './worker-pool';
import { ForkServerHandle, type WorkerProcess } from './fork-server-handle';
import { ListenSockets, shownAddress, type BoundAddress } from './listen-sockets';
import { CRASH_SIGNALS } from './crash-signals';

export type { BoundAddress };

/**
 * Node's options for every tlsshd process the daemon starts (workers, and the listener it
 * detaches). The title names it tlsshd (title and comm) from its first instruction on, for ps
 * and pgrep -x; NODE_TRUST_FLAG keeps node from parsing its own CA list (transport/default-trust.ts).
 */
export const TLSSHD_EXEC_ARGV: readonly string[] = ['--title=tlsshd', NODE_TRUST_FLAG];

const WORKER_ENTRY = path.join(__dirname, 'worker-main.js');
/**
 * An ignored argument that only makes room: a process title is written over the original
 * command line and cut to its length, and "tlsshd: [accepted] <IPv6 address>" needs more than
 * "node .../worker-main.js" gives.
 */
const TITLE_ROOM = ' '.repeat(64);

/**
 * Seconds a new connection has to deliver its ClientHello (at most LoginGraceTime). Clients send
 * it right after TCP connects, so this only has to cover a slow network, not a slow human; like
 * sshd's pre-auth limits it is not a keyword.
 */
export const CLIENT_HELLO_DEADLINE = 10;

/** Sessions re-checked between two turns of the event loop after a reload. */
const RECHECK_SLICE = 64;

function perSourceSettings(cfg: ServerConfig): PerSourceSettings {
  return {
    maxStartups: cfg.PerSourceMaxStartups,
    netBlockSize: cfg.PerSourceNetBlockSize,
    penalties: cfg.PerSourcePenalties,
    exempt: cfg.PerSourcePenaltyExemptList,
  };
}

/** Settings the TPM key agent was started with; a reload cannot change them. */
const TPM_KEY_FIELDS = ['PrivkeyEngine', 'KeyFile', 'CertFile', 'TpmTcti', 'TpmSrkPassword', 'PrivkeyPassword', 'TpmTimeout'] as const;

export interface ListenerOptions {
  config: ServerConfig;
  log: Logger;
  logSink: LogSink;
  /** The workers' stderr: the daemon's own stderr, the syslog pipe, or LogFile's descriptor. */
  workerStderr: 'inherit' | Writable | number;
  /** Start-up check of the TPM key agent (it signs, the certificate verifies), before binding. */
  checkKeyAgent?: (socketPath: string) => Promise<void>;
  /** Overrides for tests. */
  utmpPath?: string;
  wtmpPath?: string;
  lastlogPath?: string;
  /** The worker script, for tests that play a misbehaving worker. */
  workerEntry?: string;
  /** What SIGHUP does (main.ts), for tlsshctl reload; throws when the old configuration stays. */
  reloadConfig?: () => Promise<void>;
}

interface WorkerState {
  child: WorkerProcess;
  id: number;
  remote: string;
  authenticated: boolean;
  user?: string;
  /** Client address, for PAM_RHOST. */
  host: string;
  /** PAM service the worker was configured with. */
  pamService: string;
  /** Counted against MaxStartups and its source: not logged in, not ended. */
  preauth: boolean;
  /** Peer address, for penalties. */
  address: string;
  /** The per-source slot this connection holds until it logs in or ends; undefined once given back. */
  block: string | undefined;
  /** What the worker reported against the peer before it ended. */
  penalty?: PenaltyKind;
  /** For tlsshctl: when it logged in, what it reported of its certificate and traffic, its tty. */
  started?: Date;
  info?: SessionInfoMessage;
  stats?: SessionStatsMessage;
  tty?: string;
  /** A shared connection's (tlssh/2+mux) sessions, by the worker's serial for them (MuxSessionMessage). */
  mux?: Map<number, { session: number; kind: 'shell' | 'command' | 'subsystem'; command: string; tty?: string; started: Date }>;
}

/** Sessions of one shared connection the listener keeps for tlsshctl; MaxSessions is at most 1024. */
const MAX_LISTED_MUX_SESSIONS = 1024;

export class Listener {
  private config: ServerConfig;
  private readonly log: Logger;
  private readonly sockets = new ListenSockets((s) => this.onConnection(s), (e) => this.log.error(`listener error: ${e.message}`));
  /** Reloads one after another: each binds, then commits, before the next reads the state. */
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly workers = new Map<number, WorkerState>();
  /** Warm workers (PreforkWorkers): forked and set up before their connection. */
  private readonly pool: WorkerPool;
  /** WorkerForkServer yes: workers are forked from it instead (fork-server.ts). */
  private forkServer: ForkServerHandle | undefined;
  private readonly records: LoginRecords;
  private readonly pamSessions: PamSessionRegistry;
  private readonly perSource: PerSourceTable;
  /** Which per-source refusals are logged at INFO (drop-log.ts). */
  private readonly dropLog = new DropLog();
  /** Connections held here until their ClientHello arrives. */
  private readonly held = new Set<PreauthHold>();
  /** Workers that have not logged in yet, for MaxStartups. */
  private unauthenticatedWorkers = 0;
  private nextId = 1;
  private stopping = false;
  private agentSocket: string | undefined;
  /** The listener decides whether PAM is on (UsePAM, root, the addon); workers follow it. */
  private pamOn = false;
  private agentStop: (() => Promise<void> | void) | undefined;
  private agentStats: (() => AgentStats) | undefined;
  /** A PEM server key, held here and used by the key agent only (file-key.ts): workers never see it. */
  private fileKey: FileKeySigner | undefined;
  private control: { close(): void } | undefined;
  private readonly startedAt = new Date();
  private logins = 0;
  /** What tlsshctl knows of each session, on disk for a listener that follows us. */
  private readonly views: SessionViewsStore;
  /** Sessions of an earlier listener whose workers still run (no IPC channel to them). */
  private adopted = new Map<number, StoredView>();
  /** Bumped by every reload: a re-check still running for an older one stops. */
  private recheckGeneration = 0;

  constructor(private readonly opts: ListenerOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.perSource = new PerSourceTable(perSourceSettings(this.config));
    this.pool = new WorkerPool({
      spawn: () => this.spawnWorker(),
      warmMessage: (generation) => warmMessage({
        generation, config: { ...this.config, UsePAM: this.pamOn }, logSink: opts.logSink, agentSocket: this.agentSocket,
      }),
      // The fork server replaces warm workers; without it (not started yet, or restarting) a
      // connection gets a worker of its own started then.
      policy: () => (this.config.WorkerForkServer ? { min: 0, max: 0, idleTimeoutMs: 0 } : {
        min: this.config.PreforkWorkers.min, max: this.config.PreforkWorkers.max, idleTimeoutMs: this.config.PreforkIdleTimeout * 1000,
      }),
      room: () => this.config.MaxStartups.full - this.held.size - this.unauthenticatedWorkers,
      log: (line) => this.log.verbose(line),
    });
    this.records = new LoginRecords({
      utmpPath: opts.utmpPath,
      wtmpPath: opts.wtmpPath,
      ...(opts.lastlogPath !== undefined ? { lastlogPath: opts.lastlogPath } : {}),
      stateDir: this.config.RuntimeDir ? path.join(this.config.RuntimeDir, 'sessions') : '',
      log: (level, message) => (level === 'error' ? this.log.error(message) : level === 'info' ? this.log.info(message) : this.log.debug(message)),
    });
    this.views = new SessionViewsStore(this.config.RuntimeDir ? path.join(this.config.RuntimeDir, 'control-sessions') : '', (level, message) => (level === 'error' ? this.log.error(message) : this.log.info(message)));
    // Workers drop root for good, so the root listener closes their PAM sessions
    // (src/server/pam-session.ts says why a fresh handle is enough).
    this.pamSessions = new PamSessionRegistry({
      stateDir: this.config.RuntimeDir ? path.join(this.config.RuntimeDir, 'pam-sessions') : '',
      close: closePamSession,
      log: (level, message) => (level === 'error' ? this.log.error(message) : level === 'info' ? this.log.info(message) : this.log.verbose(message)),
    });
  }

  /** Bind every Listen address; resolves with the real ports (Port 0 picks one). */
  start(): Promise<BoundAddress[]> {
    // A SIGHUP during start-up waits for it, and then binds against what it bound.
    const started = this.startNow();
    this.reloading = started.catch(() => undefined);
    return started;
  }

  private async startNow(): Promise<BoundAddress[]> {
    // Whatever the key: root writes session records there and trusts them later.
    if (this.config.RuntimeDir) {
      checkRuntimeDir(this.config.RuntimeDir);
      // Before anything is put there: a second listener would replace the first one's agent and
      // control sockets, and take its live sessions' records for a dead listener's.
      if (await controlSocketAnswers(this.config.RuntimeDir)) {
        throw new TlsshError('TLSSH_ERR_RUNTIME_DIR', `RuntimeDir ${this.config.RuntimeDir} is in use by another running tlsshd (its control socket answers): give each tlsshd its own RuntimeDir`);
      }
    }
    // Before the lines below: a key that cannot be opened must be the only line printed.
    if (this.config.PrivkeyEngine !== 'tpm') this.fileKey = await startFileKey(this.config, (line) => this.log.info(line));
    // After the checks that refuse to start, so that a refusal is the only line printed.
    this.applyPam(this.pamFor(this.config));
    const pipes = loadPipeBinding();
    if ('error' in pipes) this.log.info(`commands get sockets, not pipes, for stdin, stdout and stderr: ${pipes.error}`);
    await this.startKeyAgent();
    if (this.agentSocket) await this.opts.checkKeyAgent?.(this.agentSocket);
    // Before "listening": whoever waits for that line may use tlsshctl at once.
    if (this.config.RuntimeDir) {
      privateRuntimeDir(this.config.RuntimeDir);
      this.control = await startControlSocket(this.config.RuntimeDir, (r) => this.onControl(r), (m) => this.log.error(m));
      this.log.verbose(`control socket ${path.join(this.config.RuntimeDir, 'control.sock')}`);
    }
    try {
      const { added } = await this.sockets.listen(listenAddresses(this.config));
      for (const b of added) this.log.info(`listening on ${shownAddress(b)}`);
    } catch (e) {
      // Nothing of a daemon that did not start stays behind: the sockets in RuntimeDir go too.
      this.control?.close();
      await this.agentStop?.();
      throw e;
    }
    await this.records.adoptOrphans();
    this.pamSessions.adoptOrphans();
    this.adopted = this.views.adopt();
    // Connection numbers go on from the earlier listener's, so that an id names one session.
    for (const r of this.adopted.values()) this.nextId = Math.max(this.nextId, r.view.id + 1);
    this.startForkServer();
    this.pool.fill();
    return this.sockets.addresses();
  }

  /**
   * The log's descriptor changed (LogFile opened again on a reload): workers started from now on
   * write there. `refresh`: the warm workers and the fork server, started with the old one, are
   * replaced too (a successful reload replaces them anyway).
   */
  useWorkerStderr(fd: number, refresh: boolean): void {
    this.opts.workerStderr = fd;
    if (!refresh || this.stopping) return;
    this.pool.retire('set up before the log was opened again');
    this.startForkServer();
  }

  /** WorkerForkServer yes: (re)starts the fork server, whose workers are built for the current configuration. */
  private startForkServer(): void {
    this.forkServer?.stop();
    this.forkServer = undefined;
    if (!this.config.WorkerForkServer || this.stopping) return;
    try {
      this.forkServer = new ForkServerHandle({
        spawn: () => this.spawnWorker([FORK_SERVER_ARG], ['--single-threaded']),
        warmMessage: (generation) => warmMessage({
          generation, config: { ...this.config, UsePAM: this.pamOn }, logSink: this.opts.logSink, agentSocket: this.agentSocket,
        }),
        generation: () => this.pool.currentGeneration,
        log: (level, line) => (level === 'error' ? this.log.error(line) : level === 'info' ? this.log.info(line) : this.log.verbose(line)),
        loggedIn: (pid) => this.workers.get(pid)?.authenticated === true,
      });
    } catch (e) {
      this.log.error(`WorkerForkServer: ${e instanceof Error ? e.message : String(e)}; each connection gets a worker process of its own`);
    }
  }

  /**
   * New connections use `cfg` from now on, on its Listen/Port set. Throws, with the old
   * configuration and sockets in place, when a CA, CRL, key or address of the new one fails.
   * Resolves with the addresses now bound.
   */
  reload(cfg: ServerConfig): Promise<BoundAddress[]> {
    const run = this.reloading.then(() => this.reloadNow(cfg));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(cfg: ServerConfig): Promise<BoundAddress[]> {
    if (this.stopping) throw new TlsshError('TLSSH_ERR_LISTEN', 'tlsshd is stopping');
    // A TPM agent holds the key it was started with, and a file key's agent is no TPM agent: a
    // certificate for another key would fail every login. Between file keys, a reload may move.
    if ((this.config.PrivkeyEngine === 'tpm' || cfg.PrivkeyEngine === 'tpm') && TPM_KEY_FIELDS.some((k) => cfg[k] !== this.config[k])) {
      this.log.info(`${TPM_KEY_FIELDS.join('/')} changed: restart tlsshd to apply (keeping the key in use)`);
      const kept: Partial<ServerConfig> = {};
      for (const k of TPM_KEY_FIELDS) Object.assign(kept, { [k]: this.config[k] });
      cfg = { ...cfg, ...kept };
    }
    // Throws (keeping the old configuration) when a CA or CRL cannot be read or parsed.
    const trust = loadClientTrust(cfg);
    // Throws (keeping the old configuration) when the new key cannot be opened.
    const key = this.fileKey ? openFileKey(cfg) : undefined;
    const pam = this.pamFor(cfg);
    // Last, as the one step that waits: everything that can refuse the new configuration has.
    const moved = await this.sockets.listen(listenAddresses(cfg));
    for (const b of moved.added) this.log.info(`listening on ${shownAddress(b)}`);
    for (const b of moved.removed) this.log.info(`no longer listening on ${shownAddress(b)}; its sessions carry on`);
    this.config = cfg;
    this.applyPam(pam);
    if (key) this.fileKey?.install(cfg, key);
    this.perSource.update(perSourceSettings(cfg));
    // Warm workers built their TLS from the old configuration and files.
    this.pool.retire();
    // So did the fork server; a new one also gives new workers a fresh address-space layout.
    this.startForkServer();
    this.log.info('configuration reloaded');
    this.recheckSessions(trust, ++this.recheckGeneration).catch((e: unknown) => this.log.error(`re-checking sessions after the reload: ${e instanceof Error ? e.message : String(e)}`));
    return this.sockets.addresses();
  }

  /**
   * After a reload: end each session whose certificate the new ClientCRL/CA set no longer accepts.
   * About 0.5 ms a session (measured, ECDSA P-256): done in slices, so that a server with
   * thousands of sessions keeps accepting meanwhile; a newer reload takes over.
   */
  private async recheckSessions(trust: ClientTrust, generation: number): Promise<void> {
    const live = [...this.workers.entries()].filter(([, w]) => w.authenticated);
    const adopted = this.liveAdopted();
    let done = 0;
    const slice = async (): Promise<boolean> => {
      if (++done % RECHECK_SLICE !== 0) return true;
      await new Promise((r) => setImmediate(r));
      return generation === this.recheckGeneration && !this.stopping;
    };
    for (const [pid, w] of live) {
      if (!(await slice())) return;
      const chain = w.info?.chain;
      if (!chain) {
        this.log.verbose(`conn ${w.id}: no certificate reported; not re-checked`);
        continue;
      }
      if (!this.workers.has(pid)) continue;
      const r = recheckChain(chain, trust);
      if (r.ok) continue;
      this.log.info(`conn ${w.id}: ending the session of ${w.user ?? '?'} from ${w.remote} (worker ${pid}): ${r.code}: ${r.why}`);
      this.endSession(w, r.code, `${r.why}; session ended`);
    }
    for (const [pid, a] of adopted) {
      if (!(await slice())) return;
      const r = a.chain ? recheckChain(a.chain, trust) : { ok: true as const };
      if (r.ok || !this.adopted.has(pid)) continue;
      // No channel to say why: the client gets tlsshctl kill's code; the log has the reason.
      this.log.info(`conn ${a.view.id}: ending the session of ${a.view.user} from ${a.view.remote} (worker ${pid}, adopted): ${r.code}: ${r.why}`);
      signalAdopted(pid);
    }
  }

  /** Adopted sessions whose workers still run; the others are forgotten here. */
  private liveAdopted(): Array<[number, StoredView]> {
    for (const [pid, a] of this.adopted) {
      if (!isAlive(pid, a.startTime)) {
        this.adopted.delete(pid);
        this.views.remove(pid);
      }
    }
    return [...this.adopted.entries()];
  }

  /** Asks the worker to end its session; one that lost its IPC channel gets SIGTERM (its session hangs up). */
  private endSession(w: WorkerState, code: SessionEndCode, message: string): void {
    if (w.child.connected) w.child.send({ t: 'kill', message: message.slice(0, 512), ...(code === 'TLSSH_ERR_SESSION_KILLED' ? {} : { code }) });
    else w.child.kill('SIGTERM');
  }

  /** Stop accepting; running sessions (and their workers) carry on without us. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.sockets.close();
    this.control?.close();
    this.pool.stop();
    this.forkServer?.stop();
    for (const h of [...this.held]) h.abort();
    for (const w of this.workers.values()) {
      // Detach: their exit is no longer our business (a later listener picks the records up).
      w.child.removeAllListeners('exit');
      if (w.child.connected) w.child.disconnect();
    }
    this.records.stop();
    this.pamSessions.stop();
    await this.records.flush();
    await this.agentStop?.();
  }

  private onConnection(socket: net.Socket): void {
    const id = this.nextId++;
    const address = socket.remoteAddress ?? '';
    const remote = `${socket.remoteAddress ?? '?'} port ${socket.remotePort ?? '?'}`;
    if (this.stopping) return void socket.destroy();
    // sshd's order: penalties, then PerSourceMaxStartups, then MaxStartups. A refusal here costs
    // no more than the accept itself.
    const admitted = this.perSource.admit(address);
    if (!admitted.ok) {
      const why = admitted.why === 'penalty' ? `penalty: ${admitted.detail}` : `past PerSourceMaxStartups: ${admitted.detail}`;
      const line = `drop connection #${id} from ${remote}: ${why}`;
      const note = this.dropLog.note(admitted.block);
      if (!note.loud) this.log.verbose(line);
      else this.log.info(note.since > 0 ? `${line} (and ${note.since} more from ${admitted.block} since its last such line, logged at VERBOSE)` : line);
      return void socket.destroy();
    }
    const pending = this.held.size + this.unauthenticatedWorkers;
    if (shouldDrop(this.config.MaxStartups, pending)) {
      this.perSource.release(admitted.block);
      const m = this.config.MaxStartups;
      this.log.info(`drop connection #${id} from ${remote} past MaxStartups ${m.start}:${m.rate}:${m.full} (${pending} unauthenticated)`);
      return void socket.destroy();
    }
    this.log.verbose(`connection #${id} from ${remote}`);
    const grace = this.config.LoginGraceTime;
    const deadline = grace > 0 ? Math.min(grace, CLIENT_HELLO_DEADLINE) : CLIENT_HELLO_DEADLINE;
    const hold = holdUntilClientHello(socket, deadline * 1000, (o) => {
      this.held.delete(hold);
      this.onHoldOutcome(socket, o, { id, address, remote, block: admitted.block, deadline });
    });
    this.held.add(hold);
  }

  private onHoldOutcome(socket: net.Socket, o: HoldOutcome, c: { id: number; address: string; remote: string; block: string | undefined; deadline: number }): void {
    if (o.kind === 'hello' && !this.stopping) return this.handToWorker(socket, o.prefix, c);
    this.perSource.release(c.block);
    if (o.kind === 'hello' || this.stopping) return void socket.destroy();
    let kind: PenaltyKind;
    if (o.kind === 'garbage') {
      this.log.verbose(`connection #${c.id} from ${c.remote} is not TLS (${o.reason}); closed`);
      kind = 'noauth';
    } else if (o.kind === 'timeout') {
      this.log.verbose(`connection #${c.id} from ${c.remote}: no ClientHello within ${c.deadline}s (${o.received} bytes); closed`);
      kind = 'grace-exceeded';
    } else {
      this.log.verbose(`connection #${c.id} from ${c.remote} closed before its ClientHello (${o.received} bytes)`);
      kind = 'noauth';
    }
    this.penalise(c.address, kind);
  }

  private penaltySeconds(kind: PenaltyKind): number {
    return this.config.PerSourcePenalties[kind];
  }

  private penalise(address: string, kind: PenaltyKind): void {
    const started = this.perSource.penalise(address, kind);
    if (started) this.log.info(`penalty: ${started}`);
  }

  private handToWorker(socket: net.Socket, prefix: Buffer, c: { id: number; address: string; remote: string; block: string | undefined }): void {
    const msg = connectionMessage({
      id: c.id, config: { ...this.config, UsePAM: this.pamOn }, logSink: this.opts.logSink, agentSocket: this.agentSocket, prefix,
      generation: this.pool.currentGeneration,
    });
    if (this.forkServer?.available) return this.handToForkServer(this.forkServer, socket, msg, c);
    const taken = this.pool.take();
    const child = taken?.child ?? this.spawnWorker();
    const pid = child.pid;
    if (pid === undefined) {
      this.perSource.release(c.block);
      this.log.error(`cannot start a worker for connection #${c.id}`);
      return void socket.destroy();
    }
    this.registerWorker(child, pid, c);
    this.log.verbose(`connection #${c.id} from ${c.remote} -> worker ${pid}${taken ? (taken.warmed ? ' (warm)' : ' (prefork, still starting)') : ''}`);
    child.send(msg, socket, (err) => {
      if (err) {
        this.log.error(`cannot hand connection #${c.id} to worker ${pid}: ${err.message}`);
        socket.destroy();
        child.kill('SIGTERM');
      }
    });
  }

  /** A worker now serves connection `c`: it counts as unauthenticated until it reports a login. */
  private registerWorker(child: WorkerProcess, pid: number, c: { id: number; address: string; remote: string; block: string | undefined }): void {
    const state: WorkerState = {
      child, id: c.id, remote: c.remote, authenticated: false, preauth: true, address: c.address, block: c.block,
      host: c.address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ''),
      pamService: this.config.PAMServiceName,
    };
    this.workers.set(pid, state);
    this.unauthenticatedWorkers++;
    child.on('message', (m: unknown) => this.onWorkerMessage(state, m, c.address));
  }

  private handToForkServer(server: ForkServerHandle, socket: net.Socket, msg: ConnectionMessage, c: { id: number; address: string; remote: string; block: string | undefined }): void {
    // Counted from now, as a worker started for it would be: MaxStartups bounds the queue too.
    this.unauthenticatedWorkers++;
    server.handOff(msg, socket, (r) => {
      this.unauthenticatedWorkers--;
      if ('error' in r) {
        if (!r.socketLost && !this.stopping) {
          // The fork server is gone or stopping: a worker of its own, as without one.
          this.log.verbose(`connection #${c.id}: ${r.error}; starting a worker for it`);
          return this.handToWorker(socket, Buffer.from(msg.prefix ?? '', 'base64'), c);
        }
        this.perSource.release(c.block);
        this.log.error(`cannot hand connection #${c.id} to the fork server: ${r.error}`);
        return void socket.destroy();
      }
      const w = r.worker;
      this.registerWorker(w, w.pid, c);
      w.once('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onWorkerExit(w, code, signal));
      this.log.verbose(`connection #${c.id} from ${c.remote} -> worker ${w.pid} (forked)`);
    });
  }

  /** The connection logged in or ended: it no longer counts against MaxStartups or its source. */
  private leavePreauth(w: WorkerState): void {
    if (!w.preauth) return;
    w.preauth = false;
    this.unauthenticatedWorkers--;
    this.perSource.release(w.block);
    w.block = undefined;
  }

  private spawnWorker(args: readonly string[] = [], nodeFlags: readonly string[] = []): ChildProcess {
    const child = fork(this.opts.workerEntry ?? WORKER_ENTRY, [TITLE_ROOM, ...args], {
      // Its own process group: signals for the listener (a terminal's ^C) never reach sessions.
      detached: true,
      stdio: ['ignore', 'ignore', this.opts.workerStderr, 'ipc'],
      execArgv: [...TLSSHD_EXEC_ARGV, ...nodeFlags],
      serialization: 'json',
    });
    child.on('error', (e) => this.log.error(`worker: ${e.message}`));
    if (args.length === 0) child.once('exit', (code, signal) => this.onWorkerExit(child, code, signal));
    return child;
  }

  private onWorkerExit(child: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.pool.forget(child);
    const pid = child.pid;
    if (pid === undefined) return;
    const w = this.workers.get(pid);
    this.workers.delete(pid);
    if (w) {
      const how = signal ? `killed by ${signal}` : `exit ${code ?? '?'}`;
      this.log.verbose(`worker ${pid} for connection #${w.id} ended (${how})`);
      // The worker itself logs the session's end with its exit status and duration, unless it died.
      if (w.authenticated && w.user && (signal || code !== 0)) this.log.info(`conn ${w.id}: session of ${w.user} from ${w.remote} ended abnormally (${how})`);
      if (w.preauth) {
        this.leavePreauth(w);
        // A worker that died of a signal or an uncaught error on hostile input is sshd's "crash";
        // otherwise what it reported, or a connection that ended without logging in.
        const crashed = (signal !== null && CRASH_SIGNALS.has(signal)) || (code !== null && code !== 0 && code !== WORKER_EXIT_SETUP_FAILED);
        this.penalise(w.address, crashed ? 'crash' : w.penalty ?? 'noauth');
      }
    }
    this.pamSessions.ended(pid);
    this.views.remove(pid);
    void this.records.logout(pid);
  }

  private onWorkerMessage(w: WorkerState, raw: unknown, host: string): void {
    // `host` is the peer's address: the login records' host field.
    const m = parseWorkerMessage(raw);
    const pid = w.child.pid;
    if (!m || pid === undefined) return;
    if (m.t === 'authenticated') {
      if (w.authenticated) return;
      w.authenticated = true;
      this.leavePreauth(w);
      w.user = m.user;
      w.started = new Date();
      this.logins++;
    } else if (m.t === 'session-info') {
      if (w.authenticated && !w.info) {
        w.info = m;
        this.saveView(pid, w);
      }
    } else if (m.t === 'stats') {
      if (w.authenticated) w.stats = m;
    } else if (m.t === 'pam-session') {
      if (w.user) this.pamSessions.opened(pid, { service: w.pamService, user: w.user, rhost: w.host, tty: 'ssh' });
    } else if (m.t === 'penalty') {
      // Only the unauthenticated stage can earn one; a logged-in user's worker has no say. Of
      // two reports for one connection the one PerSourcePenalties makes longer stands.
      if (!w.authenticated && (w.penalty === undefined || this.penaltySeconds(m.reason) >= this.penaltySeconds(w.penalty))) w.penalty = m.reason;
    } else if (m.t === 'login') {
      this.pamSessions.setTty(pid, `/dev/${m.line}`);
      if (w.tty === undefined) {
        w.tty = m.line;
        this.saveView(pid, w);
      }
      if (!w.user || this.records.isOpen(pid, m.line)) return;
      void this.recordLogin(pid, w.user, m.line, host);
    } else if (m.t === 'mux-session') {
      if (!w.authenticated) return;
      w.mux ??= new Map();
      if (m.ended) w.mux.delete(m.serial);
      else {
        const known = w.mux.get(m.serial);
        if (!known && w.mux.size >= MAX_LISTED_MUX_SESSIONS) return;
        w.mux.set(m.serial, { session: m.session, kind: m.kind, command: m.command, ...(m.tty ? { tty: m.tty } : {}), started: known?.started ?? new Date() });
      }
    } else if (m.t === 'logout') {
      // One session of a shared connection ended; the worker (and its other sessions) go on.
      void this.records.logoutLine(pid, m.line);
    }
  }

  // --- The control socket (tlsshctl; doc/CONTROL.md) ---

  private async onControl(req: ControlRequest): Promise<ControlReply> {
    if (req.op === 'sessions') return { v: 1, ok: true, sessions: this.sessionViews() };
    if (req.op === 'status') return { v: 1, ok: true, status: this.statusView() };
    if (req.op === 'reload') {
      if (!this.opts.reloadConfig) return { v: 1, ok: false, error: 'reload-failed', message: 'this tlsshd cannot reload' };
      try {
        await this.opts.reloadConfig();
      } catch (e) {
        const why = `keeping the old configuration: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
        this.log.error(`tlsshctl reload: ${why}`);
        return { v: 1, ok: false, error: 'reload-failed', message: why };
      }
      return { v: 1, ok: true, reloaded: true };
    }
    const t = req.target;
    const victims = [...this.workers.entries()].filter(([, w]) => w.authenticated && (
      t.by === 'id' ? w.id === t.id : t.by === 'user' ? w.user === t.user : w.info !== undefined && normaliseSerial(w.info.serial) === t.serial));
    const adopted = this.liveAdopted().filter(([, a]) => (
      t.by === 'id' ? a.view.id === t.id : t.by === 'user' ? a.view.user === t.user : a.view.serial !== undefined && normaliseSerial(a.view.serial) === t.serial));
    if (victims.length === 0 && adopted.length === 0) return { v: 1, ok: false, error: 'no-such-session', message: 'no session matches' };
    for (const [pid, a] of adopted) {
      // Its own message cannot reach a worker of an earlier listener: it ends with the default one.
      this.log.info(`conn ${a.view.id}: tlsshctl kill: ending the session of ${a.view.user} from ${a.view.remote} (worker ${pid}, adopted)`);
      signalAdopted(pid);
    }
    for (const [pid, w] of victims) {
      this.log.info(`conn ${w.id}: tlsshctl kill: ending the session of ${w.user ?? '?'} from ${w.remote} (worker ${pid})`);
      this.endSession(w, 'TLSSH_ERR_SESSION_KILLED', req.message);
    }
    const killed = [...victims.map(([, w]) => w.id), ...adopted.map(([, a]) => a.view.id)];
    if (adopted.length > 0 && req.message !== DEFAULT_KILL_MESSAGE) return { v: 1, ok: true, killed, withoutMessage: adopted.map(([, a]) => a.view.id) };
    return { v: 1, ok: true, killed };
  }

  private sessionViews(): SessionView[] {
    const now = Date.now();
    const out: SessionView[] = [];
    for (const [pid, w] of this.workers) {
      const row = this.viewOf(pid, w, now);
      if (!row) continue;
      // A shared connection: a row per session (traffic and idle time are the connection's).
      if (w.mux && w.mux.size > 0) {
        const { tty: _tty, ...base } = row;
        for (const m of w.mux.values()) {
          out.push({ ...base, session: m.session, kind: m.kind, command: m.command, ...(m.tty ? { tty: m.tty } : {}), started: m.started.toISOString() });
        }
      } else out.push(row);
    }
    for (const [, a] of this.liveAdopted()) out.push({ ...a.view, bytesIn: 0, bytesOut: 0, idle: 0, adopted: true });
    return out.sort((a, b) => a.id - b.id || (a.session ?? 0) - (b.session ?? 0));
  }

  private viewOf(pid: number, w: WorkerState, now: number): SessionView | undefined {
    if (!w.authenticated || !w.user) return undefined;
    const i = w.info;
    const started = w.started ?? this.startedAt;
    return {
      id: w.id, pid, user: w.user, remote: w.remote,
      ...(w.tty ? { tty: w.tty } : {}),
      ...(i ? { kind: i.kind, command: i.command, subject: i.subject, serial: i.serial, fingerprint: i.fingerprint, notAfter: i.notAfter } : {}),
      started: started.toISOString(),
      bytesIn: w.stats?.bytesIn ?? 0,
      bytesOut: w.stats?.bytesOut ?? 0,
      idle: Math.max(0, Math.floor((now - (w.stats?.lastInput ?? started.getTime())) / 1000)),
    };
  }

  /** Keeps the session's record for a listener that may follow us. */
  private saveView(pid: number, w: WorkerState): void {
    const v = this.viewOf(pid, w, Date.now());
    if (v && w.info) this.views.save(pid, v, w.info.chain);
  }

  private statusView(): Record<string, unknown> {
    let sessions = this.liveAdopted().length;
    for (const w of this.workers.values()) if (w.authenticated) sessions++;
    return {
      pid: process.pid,
      started: this.startedAt.toISOString(),
      uptime: Math.floor((Date.now() - this.startedAt.getTime()) / 1000),
      sessions,
      logins: this.logins,
      preauthHeld: this.held.size,
      preauthWorkers: this.unauthenticatedWorkers,
      ...this.pool.view(),
      // WorkerForkServer yes: the fork server's pid while it takes connections, else null.
      forkServer: this.forkServer?.statusPid ?? null,
      penalties: this.perSource.penaltyViews(),
      // null: the server key is not in a TPM, so there is no agent.
      // A file key's agent answers in microseconds: its figures say nothing about a TPM.
      tpmAgent: this.fileKey ? null : this.agentStats?.() ?? null,
    };
  }

  /**
   * UsePAM at start: an explicit "UsePAM yes" that cannot be had stops the daemon here rather
   * than refusing every login; the other cases are said once in the log.
   */
  /** Whether PAM is on for `cfg`; throws when UsePAM yes cannot be honoured. Logs nothing. */
  private pamFor(cfg: ServerConfig): PamDecision {
    return pamAtStart(cfg, process.geteuid?.() ?? 0);
  }

  /** For the configuration now in force. */
  private applyPam(d: PamDecision): void {
    this.pamOn = d.on;
    // Off for a daemon not run as root is expected (it serves only its own user): no news.
    if (!d.on && this.config.UsePAM) (process.geteuid?.() === 0 ? this.log.info : this.log.verbose).call(this.log, `PAM is off: ${d.why}`);
    if (!d.on) return;
    const note = pamServiceNote(this.config.PAMServiceName);
    if (note) this.log.info(note);
  }

  /** The worker is the user by now: believe its tty only if that user really owns it. */
  private async recordLogin(pid: number, user: string, line: string, host: string): Promise<void> {
    try {
      const uid = await ttyOwner(user, line);
      if (uid === undefined) {
        this.log.error(`worker ${pid} reported tty ${line} which ${user} does not own; no login record`);
        return;
      }
      await this.records.login({ pid, line, user, host }, uid);
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
    const dir = this.config.RuntimeDir;
    privateRuntimeDir(dir);
    if (this.fileKey) {
      const socketPath = path.join(dir, 'key-agent.sock');
      const tpm = await import('../tpm');
      const agent = await tpm.startKeyAgent({
        socketPath, keys: [], fileKey: this.fileKey, check: false,
        log: (line) => (/: TLSSH_ERR_|refused|dropped/.test(line) ? this.log.error(line) : this.log.verbose(line)),
      });
      this.agentStop = () => agent.close();
      this.agentStats = () => agent.stats();
      this.agentSocket = socketPath;
      this.log.verbose(`key agent on ${socketPath}: workers sign with KeyFile ${this.fileKey.id} through it and never hold the key`);
      return;
    }
    if (this.config.PrivkeyEngine !== 'tpm') return;
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
    this.agentStats = () => agent.stats();
    this.agentSocket = socketPath;
    this.log.info(`TPM key agent on ${socketPath}`);
  }
}

/** SIGUSR2: how a worker of an earlier listener is told to end its session (worker-main.ts). */
function signalAdopted(pid: number): void {
  try {
    process.kill(pid, 'SIGUSR2');
  } catch {
    // gone meanwhile
  }
}

/** TPMA_OBJECT noDA (TPM 2.0 part 2, 8.3). */
const TPMA_OBJECT_NO_DA = 0x00000400;

/**
 * False when the key may have a password that a wrong guess would cost a lockout strike for:
 * the file says it has one and the key is not noDA. tpm2_encodeobject writes emptyAuth FALSE
 * even for keys without a password; a noDA key is tried with the empty password instead.
 * Unreadable files are the agent's to report.
 */
function keyFileSaysEmptyAuth(tpm: typeof import('../tpm'), keyFile: string): boolean {
  try {
    const key = tpm.parseTss2PrivateKey(fs.readFileSync(keyFile), keyFile);
    return key.emptyAuth || (key.public.attributes & TPMA_OBJECT_NO_DA) !== 0;
  } catch {
    return true;
  }
}

/**
 * RuntimeDir holds the key agent's socket: checkRuntimeDir() has made sure at start that it is a
 * real directory of ours that nobody else can write; nobody else may enter it either.
 */
function privateRuntimeDir(dir: string): void {
  try {
    if ((fs.lstatSync(dir).mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new TlsshError('TLSSH_ERR_TPM_AGENT', `RuntimeDir ${dir} cannot hold the control and TPM key agent sockets: ${why}`, { cause: e });
  }
}
