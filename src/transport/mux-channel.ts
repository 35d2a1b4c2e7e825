// A tlssh/2+mux connection (doc/PROTOCOL.md section 12), shared by client and server: the
// session table with its ids, the open/close handshake, connection-wide keepalive and error,
// and the bounds on unsent output. Each session runs as its own Channel over a SessionLink, so
// it keeps every rule of a direct session; this file only routes frames and decides which
// failures belong to one session and which to the whole connection.

import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { TlsshError, categoryOf, isErrorCode, isTlsshError, type ErrorCode } from '../errors';
import { MessageDecoder, encodeMessage } from '../protocol/codec';
import { toErrorMessage } from '../protocol/error-message';
import { MSG, type Message } from '../protocol/messages';
import { MuxDecoder, encodeMuxFrame, muxFromPlain } from '../protocol/mux-codec';
import { MUX_LIMITS, MUX_MSG, type MuxFrame, type SessionMessage } from '../protocol/mux-messages';
import { Channel, OUTPUT_DATA_BOUND, OUTPUT_READ_BOUND } from './channel';
import { Keepalive } from './keepalive';
import { SessionLink } from './mux-link';
import { connectionLost, endFlushed } from './socket-end';

type Role = 'client' | 'server';

export interface MuxChannelOptions {
  role: Role;
  /** Seconds between connection-wide pings; 0 turns keepalive off. */
  keepalive: number;
  keepaliveMaxMissed?: number;
  /** Server: sessions open at once (MaxSessions); a request beyond is refused for itself only. */
  maxSessions?: number;
  /**
   * Server: sessions whose ids have ended here but whose processes still run (a session the
   * client abandoned, whose command ignores the hang-up). They keep their MaxSessions slot, as
   * sshd keeps a session's until its child exits.
   */
  lingering?: () => number;
  debug?: (line: string) => void;
}

interface SessionEntry {
  id: number;
  /** Undefined for a session refused before it had a Channel. */
  link: SessionLink | undefined;
  channel: Channel | undefined;
  /** We sent our final message for it (server: exit-status, session-error, session-close; client: session-close). */
  finalSent: boolean;
  /** The peer's final arrived. */
  finalReceived: boolean;
  /** Client: the session-request went out (a request the codec refused never did). */
  requested?: boolean;
}

export interface MuxChannelEvents {
  /** Server: a session-request opened `channel`; its first message (the request) follows. */
  session: [Channel, number];
  /** A session's id became free (both finals crossed). */
  'session-end': [number];
  close: [TlsshError | undefined];
  stalled: [number];
  /** Client: the server's first ping, which it sends as it logs the connection in (section 12.5). */
  'logged-in': [];
}

const FRAME_TYPE_OFFSET = 4;

export class MuxChannel extends EventEmitter<MuxChannelEvents> {
  readonly socket: TLSSocket;
  private readonly role: Role;
  private readonly decoder = new MuxDecoder();
  private readonly sessions = new Map<number, SessionEntry>();
  private readonly maxSessions: number;
  private readonly lingering: () => number;
  private readonly debug: ((line: string) => void) | undefined;
  private nextId = 1;
  /**
   * Keepalive starts once the first session-request has crossed, or on the server once the
   * connection has logged in, which a shared connection does at once (section 12.5).
   */
  private requested = false;
  private readonly keepalive = new Keepalive({
    mayPing: () => this.requested && !this.finalSent,
    sendPing: (cookie) => this.write(encodeMessage({ type: 'ping', cookie })),
    timedOut: (err) => this.destroy(err),
  });
  private pongs: Buffer[] = [];
  private readPaused = false;
  private readonly drainWaiters: Array<() => void> = [];
  private closed = false;
  /** The socket is corked until the end of this turn (write()). */
  private corked = false;
  private finalSent = false;
  private closeError: TlsshError | undefined;
  /** Client: a ping has come from the server, so it has logged this connection in. */
  private serverPinged = false;

  constructor(socket: TLSSocket, options: MuxChannelOptions) {
    super();
    this.socket = socket;
    this.role = options.role;
    this.maxSessions = options.maxSessions ?? 10;
    this.lingering = options.lingering ?? ((): number => 0);
    this.debug = options.debug;
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error) => (this.closeError ??= connectionLost(err)));
    socket.on('close', () => this.finish());
    socket.on('drain', () => this.onDrain());
    if (options.keepalive > 0) this.keepalive.start(options.keepalive, options.keepaliveMaxMissed ?? 3);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sessions whose id is in use, refused ones waiting for the client's session-close included. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions that run (have a Channel and no final from the server yet). */
  get openSessions(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.channel && !(this.role === 'server' ? s.finalSent : s.finalReceived)) n++;
    return n;
  }

  /**
   * Client: a new session's Channel, with a fresh id. The caller sends the session-request on it
   * (channel.send(request)) and then uses it as a direct session's Channel.
   */
  open(): { id: number; channel: Channel } {
    if (this.role !== 'client') throw new TlsshError('TLSSH_ERR_INTERNAL', 'only a client opens sessions');
    if (this.closed) throw this.closeError ?? new TlsshError('TLSSH_ERR_CONNECTION_LOST', 'the connection is closed');
    let id = this.nextId;
    while (this.sessions.has(id)) id = id >= MUX_LIMITS.maxSessionId ? 1 : id + 1;
    this.nextId = id >= MUX_LIMITS.maxSessionId ? 1 : id + 1;
    const entry = this.addSession(id);
    this.requested = true;
    return { id, channel: entry.channel! };
  }

  /**
   * Server: the connection has logged in (before any session): keepalive may start, and a first
   * ping goes out at once, which is how a client that asks for no session (tlssh -N) learns
   * that its login was accepted; a refused one gets error instead.
   */
  loggedIn(): void {
    if (this.role !== 'server') throw new TlsshError('TLSSH_ERR_INTERNAL', 'only a server logs a connection in');
    this.requested = true;
    if (!this.closed) this.keepalive.pingNow();
  }

  /** Ends the whole connection with an error frame; every session gets `code`. */
  fail(code: ErrorCode, message: string): void {
    if (this.closed) return;
    const err = new TlsshError(code, message);
    this.closeError ??= err;
    this.sendFinal(toErrorMessage(code, message));
    this.endSessions(err);
    this.close();
  }

  /** Flushes and ends the TLS stream (close_notify); sessions still open end as on a lost connection. */
  close(): void {
    this.keepalive.stop();
    if (!endFlushed(this.socket)) this.finish();
  }

  destroy(err?: TlsshError): void {
    if (err) this.closeError ??= err;
    this.keepalive.stop();
    this.socket.destroy();
    this.finish();
  }

  /* ---------------------------------------------------------------------------------------- */

  private addSession(id: number): SessionEntry {
    const entry: SessionEntry = { id, link: undefined, channel: undefined, finalSent: false, finalReceived: false };
    const link = new SessionLink({
      send: (frame) => this.fromSession(entry, frame),
      backedUp: () => this.socket.writableLength >= OUTPUT_DATA_BOUND,
      onceDrained: (fn) => {
        if (this.closed || this.socket.writableLength < OUTPUT_DATA_BOUND) fn();
        else this.drainWaiters.push(fn);
      },
      ended: () => this.sessionEnded(entry),
    });
    entry.link = link;
    entry.channel = new Channel(link, {
      role: this.role,
      keepalive: 0,
      // The link takes one frame per write (mux-link.ts).
      wholeFrames: true,
      ...(this.debug ? { debug: (line: string) => this.debug?.(`session ${id}: ${line}`) } : {}),
    });
    this.sessions.set(id, entry);
    return entry;
  }

  /**
   * The frames of one event-loop turn leave as one write, so one TLS record: the socket is corked
   * from the turn's first frame until setImmediate, which runs right after the turn's I/O
   * callbacks and before the loop waits again, so no frame waits for a later turn. A session's
   * end is three frames (its two streams' ends and the exit status): as three records they woke
   * the peer, and a master relaying them, up to three times (bench/RESULTS.md, row 8). end()
   * uncorks before it ends; destroy() drops them, as it drops whatever the socket still holds.
   * A session's exit status flushes at once (fromSession).
   */
  private write(frame: Buffer): void {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded || this.finalSent) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.endOfTurn);
    }
    this.socket.write(frame);
  }

  private readonly endOfTurn = (): void => this.flush();

  private flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  private sendFrame(f: MuxFrame): void {
    this.debug?.(`send ${f.message.type}${f.session !== null ? ` (session ${f.session})` : ''}`);
    this.write(encodeMuxFrame(f));
  }

  /** A connection-wide error: the last thing this side sends. */
  private sendFinal(msg: Message): void {
    if (this.finalSent) return;
    try {
      this.write(encodeMessage(msg));
    } catch {
      // The reason is still reported locally.
    }
    this.finalSent = true;
  }

  /** A frame a session's Channel wrote: tag it with the id, or turn it into what it means here. */
  private fromSession(entry: SessionEntry, frame: Buffer): void {
    if (this.closed || entry.finalSent || this.sessions.get(entry.id) !== entry) return;
    const type = frame[FRAME_TYPE_OFFSET];
    if (type === MSG.error) return this.sessionFailed(entry, frame);
    if (type === MSG.ping || type === MSG.pong) return; // keepalive is connection-wide
    if (type === MSG.sessionRequest) {
      this.requested = true;
      entry.requested = true;
    }
    this.debug?.(`send type 0x${(type ?? 0).toString(16)} (session ${entry.id})`);
    this.write(muxFromPlain(entry.id, frame));
    if (this.role === 'server' && type === MSG.exitStatus) {
      // A session's last frame, which its client waits for: handed to TLS now rather than at the
      // end of the turn, after the session's log line and report. (A write still in flight, such
      // as the stream ends of the turn before, goes first: Node sends one write at a time.)
      this.flush();
      this.markFinalSent(entry);
    }
  }

  /**
   * A session's Channel gave up with an error. A protocol violation means the peer cannot be
   * trusted in any session: the connection ends. Anything else (a refusal, a spawn failure, a
   * kill) ends this session only: session-error from the server, session-close from the client.
   */
  private sessionFailed(entry: SessionEntry, frame: Buffer): void {
    let msg: Message | undefined;
    try {
      msg = new MessageDecoder().push(frame)[0];
    } catch {
      msg = undefined;
    }
    const code = msg?.type === 'error' && isErrorCode(msg.code) ? msg.code : 'TLSSH_ERR_INTERNAL';
    const text = msg?.type === 'error' ? msg.message : 'session failed';
    if (categoryOf(code) === 'protocol') return this.fail(code, `session ${entry.id}: ${text}`);
    if (this.role === 'server') {
      this.debug?.(`send session-error ${code} (session ${entry.id})`);
      this.write(muxFromPlain(entry.id, frame, MUX_MSG.sessionError));
    } else {
      this.sendFrame({ session: entry.id, message: { type: 'session-close' } });
    }
    this.markFinalSent(entry);
  }

  /** The session's Channel ended or was destroyed: make sure our final went out. */
  private sessionEnded(entry: SessionEntry): void {
    if (this.closed || entry.finalSent || this.sessions.get(entry.id) !== entry) return;
    if (this.role === 'client' && !entry.requested) {
      // The server never heard of it: nothing to close.
      this.sessions.delete(entry.id);
      return;
    }
    this.sendFrame({ session: entry.id, message: { type: 'session-close' } });
    this.markFinalSent(entry);
  }

  private markFinalSent(entry: SessionEntry): void {
    entry.finalSent = true;
    this.maybeFree(entry);
  }

  private maybeFree(entry: SessionEntry): void {
    if (!entry.finalSent || !entry.finalReceived) return;
    if (this.sessions.get(entry.id) === entry) this.sessions.delete(entry.id);
    this.emit('session-end', entry.id);
  }

  /* ---------------------------------------------------------------------------------------- */

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    let frames: MuxFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      return this.violation(err);
    }
    for (const f of frames) {
      if (this.closed || this.finalSent) return;
      try {
        if (f.session === null) this.onConnectionWide(f.message);
        else this.onSessionFrame(f.session, f.message);
      } catch (err) {
        this.pongs = [];
        return this.violation(err);
      }
    }
    this.writePongs();
    if (!this.readPaused && !this.closed && this.socket.writableLength > OUTPUT_READ_BOUND) {
      this.readPaused = true;
      this.socket.pause();
      this.emit('stalled', this.socket.writableLength);
    }
  }

  private onConnectionWide(m: MuxFrame['message']): void {
    switch (m.type) {
      case 'ping':
        // A server pings from its login on, which may come before our first session-request.
        if (!this.requested && this.role === 'server') throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', 'peer sent ping before the first session-request');
        this.pongs.push(encodeMessage({ type: 'pong', cookie: m.cookie }));
        if (this.role === 'client' && !this.serverPinged) {
          this.serverPinged = true;
          this.emit('logged-in');
        }
        return;
      case 'pong':
        return this.keepalive.pong(m.cookie);
      case 'error': {
        this.debug?.(`recv error ${m.code}`);
        const err = new TlsshError(isErrorCode(m.code) ? m.code : 'TLSSH_ERR_REMOTE', m.message);
        this.closeError ??= err;
        this.finalSent = true; // never answer an error with an error
        this.endSessions(err);
        this.close();
        return;
      }
      default:
        throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `${m.type} without a session id`);
    }
  }

  private onSessionFrame(id: number, m: SessionMessage): void {
    this.debug?.(`recv ${m.type} (session ${id})`);
    if (m.type === 'session-request') {
      if (this.role !== 'server') throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', 'server sent a session-request');
      return this.onRequest(id, m);
    }
    const entry = this.sessions.get(id);
    if (!entry) throw new TlsshError('TLSSH_ERR_SESSION_ID', `${m.type} for session ${id}, which is not open`);
    if (this.role === 'server') this.fromClient(entry, m);
    else this.fromServer(entry, m);
  }

  private onRequest(id: number, m: SessionMessage & { type: 'session-request' }): void {
    if (this.sessions.has(id)) throw new TlsshError('TLSSH_ERR_SESSION_ID', `session-request for session ${id}, which is already open`);
    this.requested = true;
    // Every id the server still remembers counts here: running sessions, and ended or refused
    // ones whose session-close has not come. Checked on every request, so a client that never
    // closes what ended (exited or refused sessions alike) cannot make the worker remember ids
    // without end (PROTOCOL.md 12.5).
    if (this.sessions.size >= this.maxSessions + MUX_LIMITS.maxUnacknowledged) {
      throw new TlsshError('TLSSH_ERR_MAX_SESSIONS', `more than ${MUX_LIMITS.maxUnacknowledged} ended or refused sessions not closed by the client`);
    }
    if (this.openSessions + this.lingering() >= this.maxSessions) {
      this.sessions.set(id, { id, link: undefined, channel: undefined, finalSent: true, finalReceived: false });
      const why = toErrorMessage('TLSSH_ERR_MAX_SESSIONS', `MaxSessions ${this.maxSessions} reached on this connection`);
      this.sendFrame({ session: id, message: { type: 'session-error', code: why.code, message: why.message } });
      return;
    }
    const entry = this.addSession(id);
    this.emit('session', entry.channel!, id);
    entry.link!.deliver(encodeMessage(m));
  }

  private fromClient(entry: SessionEntry, m: SessionMessage): void {
    switch (m.type) {
      case 'session-close':
        entry.finalReceived = true;
        if (!entry.finalSent) {
          // Abandoned: hang the session up as a lost connection would, and answer with our final.
          this.sendFrame({ session: entry.id, message: { type: 'session-close' } });
          entry.finalSent = true;
          entry.channel?.destroy(new TlsshError('TLSSH_ERR_CONNECTION_LOST', `client closed session ${entry.id}`));
        }
        return this.maybeFree(entry);
      case 'session-error':
      case 'session-started':
      case 'exit-status':
        throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `client sent ${m.type}, which only the server sends`);
      default:
        // Crossed our final in flight: nothing to do with it.
        if (entry.finalSent) return;
        entry.link?.deliver(encodeMessage(m));
    }
  }

  private fromServer(entry: SessionEntry, m: SessionMessage): void {
    const final = m.type === 'exit-status' || m.type === 'session-error' || m.type === 'session-close';
    if (entry.finalReceived) throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `server sent ${m.type} for session ${entry.id} after its final message`);
    if (final) entry.finalReceived = true;
    if (entry.finalSent) {
      // We abandoned it: whatever crossed our session-close is dropped.
      return this.maybeFree(entry);
    }
    if (m.type === 'session-close') {
      entry.channel?.destroy(new TlsshError('TLSSH_ERR_CONNECTION_LOST', `server closed session ${entry.id}`));
    } else if (m.type === 'session-error') {
      entry.link?.deliver(encodeMessage({ type: 'error', code: m.code, message: m.message }));
    } else {
      entry.link?.deliver(encodeMessage(m as Message));
    }
    if (final) this.sessionEnded(entry);
  }

  private writePongs(): void {
    if (this.pongs.length === 0) return;
    const frames = this.pongs;
    this.pongs = [];
    this.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  private onDrain(): void {
    if (this.readPaused && !this.closed) {
      this.readPaused = false;
      this.socket.resume();
    }
    for (const fn of this.drainWaiters.splice(0)) fn();
  }

  private violation(err: unknown): void {
    const e = isTlsshError(err) ? err : new TlsshError('TLSSH_ERR_FRAME_MALFORMED', String(err), { cause: err });
    this.debug?.(`protocol error ${e.code}: ${e.message}`);
    this.fail(e.code, e.message);
  }

  /** Every session still open ends with `err` (its process hung up, on the server). */
  private endSessions(err: TlsshError): void {
    for (const entry of [...this.sessions.values()]) {
      entry.finalSent = true;
      entry.finalReceived = true;
      entry.channel?.destroy(err);
    }
    this.sessions.clear();
  }

  private onEnd(): void {
    try {
      this.decoder.finish();
    } catch (err) {
      if (isTlsshError(err)) this.closeError ??= err;
    }
    if (!this.socket.writableEnded) this.socket.end();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.keepalive.stop();
    for (const fn of this.drainWaiters.splice(0)) fn();
    this.endSessions(this.closeError ?? new TlsshError('TLSSH_ERR_CONNECTION_LOST', 'connection closed'));
    this.emit('close', this.closeError);
  }
}
