// The client's side of a shared connection (tlssh/2+mux, doc/PROTOCOL.md section 12): what a
// connection master uses to run several sessions over the one TLS connection it authenticated.
//
//   const socket = await connectTls(cfg, { host, port, alpn: MUX_ALPN });
//   const conn = openMuxConnection(socket, { keepalive: cfg.Keepalive });
//   const s = await conn.openSession(request, { stdout, stderr });   // at session-started
//   s.stdin.write(data); s.stdin.end();                            // eof on stdin
//   s.windowChange(cols, rows); s.signal('INT');
//   const end = await s.done;   // { kind: 'exit', status } | { kind: 'failed', error }
//   conn.close();
//
// Each session keeps the rules of a direct one (windows, eof, exit status), because it runs as
// a Channel of its own. A server without the extension selects plain tlssh/2: the connection
// then carries exactly one session (`multiplexing` is false) and ends with it.

import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { TlsshError, isErrorCode } from '../errors';
import { negotiated, requestFor } from '../protocol/alpn';
import { STREAM, type ExitStatus, type Message, type SessionRequest } from '../protocol/messages';
import { Channel } from '../transport/channel';
import { MuxChannel } from '../transport/mux-channel';

/** What a connection master offers in ALPN (connectTls's `alpn`): multiplexed first, tlssh/3 before tlssh/2. */
export { MUX_ALPN } from '../protocol/alpn';

export interface MuxConnectionOptions {
  /** Seconds between connection-wide keepalive pings (the Keepalive keyword); 0: off. */
  keepalive: number;
  /** Unanswered pings after which the server is taken as gone (ServerAliveCountMax); 3 by default. */
  keepaliveMaxMissed?: number;
  debug?: (line: string) => void;
}

/**
 * Where a session's output goes. Credit goes back to the server only as these accept the bytes,
 * so a slow reader slows that session alone. They are not ended by the session. Omitted, the
 * output comes as 'stdout'/'stderr' events and credit is returned at once.
 */
export interface MuxSessionIo {
  stdout?: Writable;
  stderr?: Writable;
}

export type MuxSessionEnd =
  | { kind: 'exit'; status: ExitStatus }
  | { kind: 'failed'; error: TlsshError };

export interface MuxSessionEvents {
  stdout: [Buffer];
  stderr: [Buffer];
  'exit-status': [ExitStatus];
  /** The session failed (session-error from the server, or the connection failed). */
  error: [TlsshError];
  close: [MuxSessionEnd];
}

export interface MuxSession extends EventEmitter<MuxSessionEvents> {
  /** The session id on the wire (1 for the one session of a plain tlssh/2 connection). */
  readonly id: number;
  /** The user the session runs as (from session-started). */
  readonly user: string;
  /** The remote stdin, within the server's window; end() sends eof. */
  readonly stdin: Writable;
  /** The local terminal's new size (PTY sessions; ignored by the server otherwise). */
  windowChange(cols: number, rows: number): void;
  /** A signal for the remote process, without SIG ("INT", "TERM", ...). */
  signal(name: string): void;
  /** Abandons the session: the server hangs it up (SIGHUP), as when a direct connection is lost. */
  close(): void;
  /** How the session ended; never rejects. */
  readonly done: Promise<MuxSessionEnd>;
}

export interface MuxConnectionEvents {
  close: [TlsshError | undefined];
}

export interface MuxConnection extends EventEmitter<MuxConnectionEvents> {
  /** False when the server chose plain tlssh/2: one session, and the connection ends with it. */
  readonly multiplexing: boolean;
  /** Sessions opened and not yet ended. */
  readonly sessions: number;
  /**
   * Sends a session-request and resolves once the server started the session. Rejects with the
   * server's code (TLSSH_ERR_MAX_SESSIONS, TLSSH_ERR_USER_MISMATCH, ...) when it refuses that
   * session, which leaves the connection and the other sessions as they are; or with the
   * connection's error when the connection fails.
   */
  openSession(request: SessionRequest, io?: MuxSessionIo): Promise<MuxSession>;
  /** Ends the connection (close_notify); the server hangs up sessions still open. */
  close(): void;
  readonly isClosed: boolean;
  /**
   * Resolves when the server has logged the connection in (its first ping, section 12.5);
   * rejects with the server's error when it refuses the login, or when the connection ends
   * first. Only a multiplexed connection logs in before a session.
   */
  readonly loggedIn: Promise<void>;
}

export function openMuxConnection(socket: TLSSocket, options: MuxConnectionOptions): MuxConnection {
  return new MuxConnectionImpl(socket, options);
}

class MuxConnectionImpl extends EventEmitter<MuxConnectionEvents> implements MuxConnection {
  readonly multiplexing: boolean;
  private readonly mux: MuxChannel | undefined;
  private plainUsed = false;
  private live = 0;
  private closed = false;
  readonly loggedIn: Promise<void>;

  constructor(
    private readonly socket: TLSSocket,
    private readonly options: MuxConnectionOptions,
  ) {
    super();
    this.multiplexing = negotiated(socket.alpnProtocol)?.multiplexed === true;
    let settle: { resolve: () => void; reject: (e: TlsshError) => void } | undefined;
    this.loggedIn = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // Nobody may be waiting: a master that runs sessions learns of a refusal from them.
    this.loggedIn.catch(() => undefined);
    if (this.multiplexing) {
      const mux = new MuxChannel(socket, { role: 'client', keepalive: options.keepalive, keepaliveMaxMissed: options.keepaliveMaxMissed ?? 3, ...(options.debug ? { debug: options.debug } : {}) });
      this.mux = mux;
      mux.once('logged-in', () => settle?.resolve());
      mux.on('close', (err) => {
        settle?.reject(err ?? new TlsshError('TLSSH_ERR_CONNECTION_LOST', 'the server closed the connection before logging it in'));
        this.ended(err);
      });
    } else {
      settle?.reject(new TlsshError('TLSSH_ERR_ALPN', 'the server does not share connections (it chose tlssh/2): it logs a connection in only with a session'));
      this.mux = undefined;
      socket.once('close', () => this.ended(undefined));
    }
  }

  get sessions(): number {
    return this.live;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  openSession(request: SessionRequest, io: MuxSessionIo = {}): Promise<MuxSession> {
    let id: number;
    let channel: Channel;
    try {
      if (this.closed) throw new TlsshError('TLSSH_ERR_CONNECTION_LOST', 'the shared connection is closed');
      if (this.mux) {
        ({ id, channel } = this.mux.open());
      } else {
        if (this.plainUsed) throw new TlsshError('TLSSH_ERR_MAX_SESSIONS', 'the server does not share connections (it chose tlssh/2): one session only');
        this.plainUsed = true;
        id = 1;
        channel = new Channel(this.socket, { role: 'client', keepalive: this.options.keepalive, keepaliveMaxMissed: this.options.keepaliveMaxMissed ?? 3, ...(this.options.debug ? { debug: this.options.debug } : {}) });
      }
    } catch (e) {
      return Promise.reject(e instanceof TlsshError ? e : new TlsshError('TLSSH_ERR_INTERNAL', String(e), { cause: e }));
    }
    let session: MuxSessionImpl;
    try {
      session = new MuxSessionImpl(id, channel, requestFor(this.socket.alpnProtocol, request), io);
    } catch (e) {
      // A request the codec refuses (a field over its limit, say) never left: give the id back.
      const err = e instanceof TlsshError ? e : new TlsshError('TLSSH_ERR_INTERNAL', String(e), { cause: e });
      channel.destroy(err);
      return Promise.reject(err);
    }
    this.live++;
    void session.done.then(() => {
      this.live--;
    });
    return session.opened;
  }

  close(): void {
    if (this.mux) this.mux.close();
    else if (!this.socket.destroyed) this.socket.end();
  }

  private ended(err: TlsshError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', err);
  }
}

/** A Writable that turns output into events and accepts at once (no back-pressure). */
function eventSink(emit: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, callback) {
      emit(chunk);
      callback();
    },
  });
}

class MuxSessionImpl extends EventEmitter<MuxSessionEvents> implements MuxSession {
  user = '';
  stdin!: Writable;
  readonly done: Promise<MuxSessionEnd>;
  readonly opened: Promise<MuxSession>;
  private resolveDone!: (end: MuxSessionEnd) => void;
  private resolveOpened!: (s: MuxSession) => void;
  private rejectOpened!: (e: TlsshError) => void;
  private started = false;
  private exitStatus: ExitStatus | undefined;
  private remoteError: TlsshError | undefined;

  constructor(
    readonly id: number,
    private readonly channel: Channel,
    request: SessionRequest,
    io: MuxSessionIo,
  ) {
    super();
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    // An unhandled rejection must not kill a master whose caller only watches `done`.
    this.opened.catch(() => undefined);
    channel.on('message', (m) => this.onMessage(m, io));
    channel.once('close', (err) => this.onClose(err));
    channel.send(request);
  }

  windowChange(cols: number, rows: number): void {
    if (this.started && !this.channel.isClosed) this.channel.send({ type: 'window-change', cols, rows });
  }

  signal(name: string): void {
    if (this.started && !this.channel.isClosed) this.channel.send({ type: 'signal', name });
  }

  close(): void {
    this.channel.destroy(new TlsshError('TLSSH_ERR_CONNECTION_LOST', `session ${this.id} closed by the client`));
  }

  private onMessage(m: Message, io: MuxSessionIo): void {
    switch (m.type) {
      case 'session-started': {
        this.started = true;
        this.user = m.user;
        this.channel.incoming(STREAM.stdout, io.stdout ?? eventSink((b) => this.emit('stdout', b)), { end: false });
        this.channel.incoming(STREAM.stderr, io.stderr ?? eventSink((b) => this.emit('stderr', b)), { end: false });
        this.stdin = this.channel.outgoing(STREAM.stdin, m.window);
        this.stdin.on('error', () => undefined);
        this.resolveOpened(this);
        return;
      }
      case 'exit-status':
        this.exitStatus = m;
        this.emit('exit-status', m);
        // The server sent its last message for this session; closing our side acknowledges it.
        this.channel.close();
        return;
      case 'error':
        this.remoteError = new TlsshError(isErrorCode(m.code) ? m.code : 'TLSSH_ERR_REMOTE', m.message);
        return;
      default:
        this.channel.fail('TLSSH_ERR_PROTOCOL_STATE', `unexpected ${m.type} message from server`);
    }
  }

  private onClose(err: TlsshError | undefined): void {
    const violation = err !== undefined && err.category === 'protocol' && err.code !== 'TLSSH_ERR_REMOTE';
    let end: MuxSessionEnd;
    if (this.exitStatus && !violation) end = { kind: 'exit', status: this.exitStatus };
    else {
      const error = (err && err.code !== 'TLSSH_ERR_CONNECTION_LOST' ? err : undefined) ?? this.remoteError ?? err
        ?? new TlsshError('TLSSH_ERR_CONNECTION_LOST', `session ${this.id} ended without an exit status`);
      end = { kind: 'failed', error };
      if (!this.started) this.rejectOpened(error);
      // 'error' without a listener would throw: a caller watching `done` need not listen.
      else if (this.listenerCount('error') > 0) this.emit('error', error);
    }
    this.resolveDone(end);
    this.emit('close', end);
  }
}
