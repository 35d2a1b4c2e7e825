// The connection-sharing master: owns the authenticated connection to one server and serves
// sessions over it to tlssh clients that connect to its ControlPath socket (doc/MUX.md).
// It knows nothing of TLS: sessions are opened through `openSession`, so the same master runs
// over a multiplexed tlssh/2 connection or, with a server that does not multiplex, one
// connection per session.
//
// Lifetime, as ssh's ControlPersist: "no" ends the master when its last session ends; a TIME
// ends it that long after its last session ends (or after it started, if none came); "yes"
// keeps it until `-O exit`, `-O stop` or the connection is lost.

import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { TlsshError, describeError, isTlsshError } from '../errors';
import { claimControlSocket, releaseControlSocket } from './control-socket';
import {
  MUX, MuxDecoder, encodeFrame, encodeJson, parseHello, parseSignal, parseWindow,
  type MuxExit, type MuxFrame, type MuxSessionRequest,
} from './mux-frames';
import { peerAllowed, peerCredentials, type PeerCredentials } from './peer-credentials';
import type { Log } from './stderr-log';

/** One shared session as the master's client sees it: its streams and what it can ask for. */
export interface SharedSessionIo {
  /** stdin from the client; ends at the client's EOF. */
  input: Readable;
  /** Writes complete once the bytes are in the client's socket (flow control follows the client). */
  stdout: Writable;
  stderr: Writable;
  /** Window changes and signals from the client. */
  onWindow(listener: (size: { cols: number; rows: number }) => void): void;
  onSignal(listener: (name: string) => void): void;
}

export type SharedSessionEnd = { kind: 'exit'; status: MuxExit } | { kind: 'failed'; error: TlsshError };

export interface SharedSession {
  /** Settles once the session runs (the remote side started it) or could not start. */
  started: Promise<void>;
  ended: Promise<SharedSessionEnd>;
  /** The client went away (~., killed): end this session only. */
  abort(): void;
}

export type OpenSession = (request: MuxSessionRequest, io: SharedSessionIo) => SharedSession;

export interface MasterOptions {
  socketPath: string;
  host: string;
  persist: 'no' | 'yes' | number;
  /** ControlMaster ask/autoask: each new session, and -O exit and stop, confirmed through SSH_ASKPASS. */
  confirm: boolean;
  /** The token of the client that started this master: its one session is not confirmed. */
  ownToken?: string;
  openSession: OpenSession;
  log: Pick<Log, 'debug' | 'info'>;
  /** Called once, when the master has ended (its socket is gone). */
  onEnd: (why: string) => void;
}

export class MuxMaster {
  private readonly server: net.Server;
  private ino: number | undefined;
  private readonly clients = new Set<ClientLink>();
  private sessions = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private ended = false;
  private readonly uid = process.getuid?.() ?? 0;

  private ownToken: string | undefined;

  constructor(private readonly opts: MasterOptions) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.ownToken = opts.ownToken;
  }

  /** Claims the socket (refusing an unsafe directory or a live master) and starts serving. */
  async listen(): Promise<void> {
    this.ino = await claimControlSocket(this.server, this.opts.socketPath);
    this.opts.log.debug?.(`master listening on ${this.opts.socketPath}`);
    this.armIdle();
  }

  get sessionCount(): number {
    return this.sessions;
  }

  /** -O exit, or the connection is gone: end every session and the master. */
  end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    releaseControlSocket(this.opts.socketPath, this.ino);
    this.server.close();
    for (const c of this.clients) c.close(why);
    this.opts.onEnd(why);
  }

  /** -O stop: no new sessions; the master ends after the last one. */
  stop(): void {
    this.stopping = true;
    releaseControlSocket(this.opts.socketPath, this.ino);
    this.ino = undefined;
    this.server.close();
    if (this.sessions === 0) this.end('stopped');
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.sessions > 0 || this.ended) return;
    const persist = this.opts.persist;
    if (persist === 'yes') return;
    // "no": the master exists for the session that started it; give that client a moment to
    // connect, then end with the last session (the timer is re-armed at 0 after each end).
    const seconds = persist === 'no' ? (this.everHadSession ? 0 : 30) : persist;
    this.idleTimer = setTimeout(() => this.end(`no session for ${seconds} s (ControlPersist)`), seconds * 1000);
  }

  private everHadSession = false;

  private accept(socket: net.Socket): void {
    let peer: PeerCredentials;
    try {
      peer = peerCredentials(socket);
    } catch (err) {
      this.opts.log.debug?.(`control client refused: ${describeError(err)}`);
      socket.destroy();
      return;
    }
    if (!peerAllowed(peer, this.uid)) {
      // ssh's words; the client gets one reply saying why, then the door closes.
      this.opts.log.info(`multiplex uid mismatch: peer uid ${peer.uid} != uid ${this.uid} (pid ${peer.pid})`);
      socket.on('error', () => undefined);
      socket.end(encodeJson(MUX.reply, { ok: false, code: 'TLSSH_ERR_CONTROL_PEER', message: `this master serves only uid ${this.uid}` }));
      // Its bytes are never read; a peer that keeps its end open loses it anyway.
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const link = new ClientLink(socket, peer, this);
    this.clients.add(link);
    socket.once('close', () => this.clients.delete(link));
  }

  // ---- called by ClientLink ----

  /** @internal */
  get log(): Pick<Log, 'debug' | 'info'> {
    return this.opts.log;
  }

  /** @internal */
  get isStopping(): boolean {
    return this.stopping || this.ended;
  }

  /** @internal */
  openSession(request: MuxSessionRequest, io: SharedSessionIo, linkDone: Promise<void>): SharedSession {
    this.sessions += 1;
    this.everHadSession = true;
    this.armIdle();
    const s = this.opts.openSession(request, io);
    // Counted until the client's link has queued the exit status too (after the session's last
    // output, which a slow reader may hold for a while): a stopping master that ended first
    // would tell that client its session failed.
    void Promise.all([s.ended, linkDone]).then(() => setImmediate(() => {
      this.sessions -= 1;
      if (this.stopping && this.sessions === 0) this.end('stopped');
      else this.armIdle();
    }));
    return s;
  }

  /**
   * @internal ControlMaster ask: the user confirms each new session, as ssh does through
   * ssh-askpass, except the session of the client that started this master (its `own` token,
   * good once).
   */
  confirm(command: string, own: string | undefined): Promise<boolean> {
    if (own !== undefined && own === this.ownToken) {
      this.ownToken = undefined;
      return Promise.resolve(true);
    }
    return this.ask(`Allow shared connection to ${this.opts.host}? ${command === '' ? '(login shell)' : `(command: ${command.slice(0, 200)})`}`);
  }

  /** @internal ControlMaster ask: -O exit and -O stop are confirmed too, with ssh's questions. */
  confirmControl(op: 'check' | 'exit' | 'stop'): Promise<boolean> {
    if (op === 'exit') return this.ask(`Terminate shared connection to ${this.opts.host}?`);
    if (op === 'stop') return this.ask(`Disable further multiplexing on shared connection to ${this.opts.host}?`);
    return Promise.resolve(true);
  }

  private ask(prompt: string): Promise<boolean> {
    if (!this.opts.confirm) return Promise.resolve(true);
    const askpass = process.env['SSH_ASKPASS'] || 'ssh-askpass';
    return new Promise((resolve) => {
      execFile(askpass, [prompt], { env: { ...process.env, SSH_ASKPASS_PROMPT: 'confirm' }, timeout: 120_000 }, (err) => resolve(!err));
    });
  }

  /** @internal */
  controlRequest(op: 'check' | 'exit' | 'stop'): void {
    if (op === 'exit') setImmediate(() => this.end('exit requested'));
    else if (op === 'stop') setImmediate(() => this.stop());
  }
}

/** One client of the master: its hello, then either a control answer or one shared session. */
class ClientLink {
  private readonly decoder = new MuxDecoder();
  private state: 'hello' | 'confirming' | 'session' | 'closed' = 'hello';
  private session: SharedSession | undefined;
  private input: Readable | undefined;
  /** Frames that came with the hello, before the session was confirmed (stdin, stdin-eof). */
  private early: MuxFrame[] = [];
  private windowListeners: Array<(size: { cols: number; rows: number }) => void> = [];
  private signalListeners: Array<(name: string) => void> = [];
  private resolveFinished!: () => void;
  /** Resolves once this client is done with: its last frame queued, or its socket gone. */
  private readonly finished = new Promise<void>((resolve) => {
    this.resolveFinished = resolve;
  });

  private markClosed(): void {
    this.state = 'closed';
    this.resolveFinished();
  }

  constructor(
    private readonly socket: net.Socket,
    private readonly peer: PeerCredentials,
    private readonly master: MuxMaster,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => this.onClose());
    // A client says what it wants at once; one that never does would hold a descriptor forever.
    const helloTimer = setTimeout(() => {
      if (this.state === 'hello') this.protocolFailure(new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', 'no hello within 30 s'));
    }, 30_000);
    helloTimer.unref();
    socket.once('close', () => clearTimeout(helloTimer));
  }

  close(why: string): void {
    if (this.state === 'closed') return;
    if (this.session) this.send(encodeJson(MUX.failure, { code: 'TLSSH_ERR_MASTER_LOST', message: why }));
    this.markClosed();
    this.session?.abort();
    this.socket.end();
  }

  private send(frame: Buffer, cb?: () => void): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) {
      cb?.();
      return true;
    }
    return this.socket.write(frame, cb ? () => cb() : undefined);
  }

  private onData(chunk: Buffer): void {
    let frames: MuxFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      return this.protocolFailure(err);
    }
    for (const f of frames) {
      if (this.state === 'closed') return;
      try {
        this.onFrame(f);
      } catch (err) {
        return this.protocolFailure(err);
      }
    }
  }

  /** Bad bytes from a client end that client only; the master and the other sessions go on. */
  private protocolFailure(err: unknown): void {
    const e = isTlsshError(err) ? err : new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', describeError(err), { cause: err });
    this.master.log.debug?.(`control client pid ${this.peer.pid}: ${e.message}`);
    if (this.state !== 'closed') this.send(encodeJson(MUX.failure, { code: e.code, message: e.message }));
    this.markClosed();
    this.session?.abort();
    this.socket.end();
    this.socket.destroySoon();
  }

  private onFrame(f: MuxFrame): void {
    if (this.state === 'hello') {
      if (f.type !== MUX.hello) throw new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', 'the first frame must be hello');
      const hello = parseHello(f.payload);
      if (hello.op !== 'session') {
        const op = hello.op;
        this.master.log.debug?.(`control request ${op} from pid ${this.peer.pid}`);
        this.state = 'confirming';
        // Nothing else is due on this socket; nothing is read while SSH_ASKPASS asks.
        this.socket.pause();
        void this.master.confirmControl(op).then((allowed) => {
          if (this.state !== 'confirming') return;
          this.send(encodeJson(MUX.reply, allowed
            ? { ok: true, pid: process.pid }
            : { ok: false, code: 'TLSSH_ERR_CONTROL_PEER', message: `${op} request refused (ControlMaster ask: not confirmed)` }));
          this.markClosed();
          this.socket.end();
          if (allowed) this.master.controlRequest(op);
        });
        return;
      }
      if (this.master.isStopping) {
        this.send(encodeJson(MUX.reply, { ok: false, code: 'TLSSH_ERR_CONTROL_SOCKET', message: 'the master is stopping and takes no new sessions' }));
        this.markClosed();
        this.socket.end();
        return;
      }
      this.state = 'confirming';
      // A client sends its stdin (or its end) right behind the hello, in the same write, so a
      // command that reads stdin does not wait a round trip for the reply. Those frames wait
      // here; the socket is paused meanwhile, so at most one read's worth can wait.
      this.socket.pause();
      const request = hello.session!;
      void this.master.confirm(request.command, hello.own).then((allowed) => {
        if (this.state !== 'confirming') return;
        const early = this.early.splice(0);
        if (!allowed) {
          this.send(encodeJson(MUX.reply, { ok: false, code: 'TLSSH_ERR_CONTROL_PEER', message: 'shared session refused (ControlMaster ask: not confirmed)' }));
          this.markClosed();
          this.socket.end();
          return;
        }
        this.startSession(request);
        this.socket.resume();
        try {
          for (const f of early) {
            if ((this.state as string) !== 'session') return;
            this.onFrame(f);
          }
        } catch (err) {
          this.protocolFailure(err);
        }
      });
      return;
    }
    if (this.state === 'confirming') {
      this.early.push({ type: f.type, payload: Buffer.from(f.payload) });
      return;
    }
    switch (f.type) {
      case MUX.stdin:
        if (this.input && !this.input.readableEnded && !this.input.push(Buffer.from(f.payload))) this.socket.pause();
        return;
      case MUX.stdinEof:
        this.input?.push(null);
        return;
      case MUX.window: {
        const size = parseWindow(f.payload);
        for (const l of this.windowListeners) l(size);
        return;
      }
      case MUX.signal: {
        const name = parseSignal(f.payload);
        for (const l of this.signalListeners) l(name);
        return;
      }
      default:
        throw new TlsshError('TLSSH_ERR_CONTROL_PROTOCOL', `frame type 0x${f.type.toString(16)} is not one a client sends`);
    }
  }

  private startSession(request: MuxSessionRequest): void {
    this.state = 'session';
    const socket = this.socket;
    this.input = new Readable({ highWaterMark: 64 * 1024, read: () => socket.resume() });
    const output = (type: typeof MUX.stdout | typeof MUX.stderr): Writable =>
      new Writable({
        highWaterMark: 64 * 1024,
        write: (chunk: Buffer, _enc, cb) => {
          // The master's own frames stay under the limit the client enforces.
          for (let off = 0; off < chunk.length; off += 32 * 1024) {
            const piece = chunk.subarray(off, off + 32 * 1024);
            const last = off + 32 * 1024 >= chunk.length;
            this.send(encodeFrame(type, piece), last ? () => cb() : undefined);
          }
          if (chunk.length === 0) cb();
        },
      });
    const io: SharedSessionIo = {
      input: this.input,
      stdout: output(MUX.stdout),
      stderr: output(MUX.stderr),
      onWindow: (l) => void this.windowListeners.push(l),
      onSignal: (l) => void this.signalListeners.push(l),
    };
    // The reply goes first: output can reach these streams in the same read as the server's
    // session-started, before the promise below has run, and a client refuses output that comes
    // before its reply. Held (corked) until then; end() in the failure path lets it go.
    io.stdout.cork();
    io.stderr.cork();
    const session = this.master.openSession(request, io, this.finished);
    this.session = session;
    session.started.then(
      () => {
        this.send(encodeJson(MUX.reply, { ok: true, pid: process.pid }));
        io.stdout.uncork();
        io.stderr.uncork();
      },
      () => undefined,
    );
    void session.ended.then(async (end) => {
      if (this.state === 'closed') return;
      // The exit status goes after the last output: the session's end can come while output the
      // client has not yet taken is still queued in these streams (a slow reader).
      await Promise.all([io.stdout, io.stderr].map((w) => new Promise<void>((resolve) => {
        if (w.writableFinished || w.destroyed) return resolve();
        w.once('finish', () => resolve());
        w.once('close', () => resolve());
        w.end();
      })));
      // The client may have gone meanwhile (the await above lets its close run).
      if ((this.state as string) === 'closed') return;
      this.markClosed();
      const frame = end.kind === 'exit'
        ? encodeJson(MUX.exit, end.status)
        : encodeJson(MUX.failure, { code: end.error.code, message: end.error.message });
      this.socket.end(frame);
    });
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    this.markClosed();
    // ~. in the client, or the client was killed: this session only.
    this.session?.abort();
  }
}
