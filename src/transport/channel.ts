// A tlssh/2 connection over an established TLS socket, shared by client and server: framing
// through the codec, per-stream flow control, keepalive, and orderly or failed shutdown.
//
// Flow control is credit based, as in SSH channels: TCP back-pressure alone would stall the
// whole connection (keepalive pongs included) behind a reader that stops draining stdout.
// A receiver grants LIMITS.defaultWindow bytes per stream up front and returns credit only once
// the bytes have left its process, so neither side buffers more than the window per stream.
//
// Control messages are not flow-controlled, and some are answers (a pong per ping): a peer that
// sends them and never reads would make us queue answers without end. So data frames go into
// the socket only while its unsent output is under OUTPUT_DATA_BOUND, and reading stops while
// it is over OUTPUT_READ_BOUND, until it drains. Legitimate data alone never reaches the second
// bound, so two sides moving bulk data both ways never both stop reading (no deadlock); only a
// backlog of control traffic the peer does not read does (doc/PROTOCOL.md section 7).

import { EventEmitter } from 'node:events';
import { Writable, type Duplex } from 'node:stream';
import { MessageDecoder, encodeDataHeader, encodeMessage } from '../protocol/codec';
import { toErrorMessage } from '../protocol/error-message';
import { LIMITS, type Message, type StreamId } from '../protocol/messages';
import { MessageOrder, type Role } from '../protocol/message-order';
import { TlsshError, isErrorCode, isTlsshError, type ErrorCode } from '../errors';
import { Keepalive } from './keepalive';
import { noteRelayed } from '../jit-tiering';
import { connectionLost, endFlushed } from './socket-end';

/** Data frames are handed to the socket only while its unsent output is below this. */
export const OUTPUT_DATA_BOUND = 256 * 1024;
/** Reading from the socket stops while its unsent output is above this (the most we queue). */
export const OUTPUT_READ_BOUND = 1024 * 1024;
/**
 * What a writer from outgoing() takes before it asks its source to pause: more than one read of a
 * pipe or a socket (64 KiB), so that a source streaming bulk data is not paused and resumed after
 * every read (a pause, a resume, two ticks and a re-arm of its descriptor each time). With the
 * writer released before TLS has drained (flush()), this took about 0.45 s of CPU per GiB off
 * the sending process (bench/RESULTS.md, "the floor relay").
 */
export const WRITER_HIGH_WATER = 256 * 1024;
/**
 * Data bytes per frame we send: the whole frame fills one TLS record (16 KiB of plaintext). A
 * 32 KiB frame spanned three records (16 KiB, 16 KiB and 6 bytes), so the receiver made three
 * writes per frame, one of 6 bytes, and TLS a record for them. The peer still takes up to
 * LIMITS.maxDataChunk.
 */
export const SEND_CHUNK = Math.min(LIMITS.maxDataChunk, 16384 - encodeMessage({ type: 'data', stream: 0, data: Buffer.alloc(0) }).length);

/**
 * Data frames of at least this many bytes go to the socket as their header and a view of the data,
 * inside one cork: TLS then encrypts all frames of a flush in one write, from one copy of the
 * bytes, where a frame per write cost a copy into the frame, and often a second one when TLS
 * joined the frames that queued behind its first write. Smaller frames are copied whole.
 * The view may wait in the socket's queue after the writer's callback: chunks written to
 * outgoing() must not be reused afterwards (none are: Node's streams hand out fresh buffers).
 */
export const VIEW_MIN = 4096;

export interface ChannelOptions {
  /** Which end this is: the message order of PROTOCOL.md section 6 is enforced for it. */
  role: Role;
  /** Seconds between pings; 0 turns keepalive off. */
  keepalive: number;
  /** Unanswered pings tolerated before the peer is declared gone. */
  keepaliveMaxMissed?: number;
  /** Each write to the socket must be one whole frame (a session link of tlssh/2+mux). */
  wholeFrames?: boolean;
  debug?: (line: string) => void;
}

interface PendingWrite {
  chunk: Buffer;
  callback: (err?: Error | null) => void;
}

interface IncomingSink {
  dest: Writable;
  end: boolean;
  /** Data of one event-loop turn goes to `dest` in one write (see incoming()). */
  coalesce: boolean;
}

export interface ChannelEvents {
  message: [Message];
  eof: [StreamId];
  close: [TlsshError | undefined];
  /** Reading stopped because the peer does not read what we send; `unsent` bytes are queued. */
  stalled: [number];
}

export class Channel extends EventEmitter<ChannelEvents> {
  /** The TLS socket, or one session's link inside a tlssh/2+mux connection (mux-link.ts). */
  readonly socket: Duplex;
  private readonly decoder = new MessageDecoder();
  private readonly order: MessageOrder;
  private readonly debug: ((line: string) => void) | undefined;
  private readonly wholeFrames: boolean;

  /** Credit the peer has granted us, per stream we send. */
  private readonly sendCredit = new Map<StreamId, number>();
  private readonly pending = new Map<StreamId, PendingWrite>();
  /** Credit we granted and the peer has not yet used, per stream we receive. */
  private readonly recvCredit = new Map<StreamId, number>();
  /** Bytes delivered to their destination but not yet returned to the peer as credit. */
  private readonly consumed = new Map<StreamId, number>();
  private readonly sinks = new Map<StreamId, IncomingSink>();
  /** Data that arrived before incoming() named its destination; bounded by the window. */
  private readonly early = new Map<StreamId, Buffer[]>();
  private readonly eofSeen = new Set<StreamId>();

  private readonly keepalive = new Keepalive({
    // No pings before the session request has crossed (PROTOCOL.md section 4).
    mayPing: () => this.order.pingsAllowed,
    sendPing: (cookie) => this.send({ type: 'ping', cookie }),
    timedOut: (err) => this.destroy(err),
  });
  /** Reading is paused until the socket drains (see OUTPUT_READ_BOUND). */
  private readPaused = false;
  /**
   * Pongs owed for the pings of the bytes being read, written as one buffer at the end: a write
   * per 9-byte pong costs Node several hundred bytes of bookkeeping until it is sent, so a
   * backlog counted in bytes would not bound memory.
   */
  private pongs: Buffer[] = [];
  /** The destination corked for this event-loop turn (see incoming()), if any; one at a time. */
  private corked: IncomingSink | null = null;
  /** endOfTurn is due. */
  private uncorkScheduled = false;
  private closed = false;
  private closeError: TlsshError | undefined;
  private remoteError: TlsshError | undefined;

  constructor(socket: Duplex, options: ChannelOptions) {
    super();
    this.socket = socket;
    this.debug = options.debug;
    this.wholeFrames = options.wholeFrames ?? false;
    this.order = new MessageOrder(options.role);
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

  /** Sends one control message. Data goes through outgoing() so that flow control applies. */
  send(msg: Message): void {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return;
    // After exit-status or an error nothing may follow (a late pong or window-adjust would be
    // a protocol violation at the peer).
    if (!this.order.maySend) return;
    this.order.sent(msg);
    this.debug?.(`send ${msg.type}`);
    this.socket.write(encodeMessage(msg));
  }

  /**
   * A Writable whose bytes travel as data frames on `stream`, never beyond the peer's window;
   * end() sends eof. `initialWindow` is the credit the peer granted up front.
   */
  outgoing(stream: StreamId, initialWindow: number = LIMITS.defaultWindow): Writable {
    this.sendCredit.set(stream, (this.sendCredit.get(stream) ?? 0) + initialWindow);
    return new Writable({
      highWaterMark: WRITER_HIGH_WATER,
      write: (chunk: Buffer, _enc, callback) => {
        if (this.closed) return callback();
        noteRelayed(chunk.length);
        this.pending.set(stream, { chunk, callback });
        this.flush(stream);
      },
      final: (callback) => {
        this.send({ type: 'eof', stream });
        callback();
      },
    });
  }

  /**
   * Delivers data received on `stream` into `dest`, returning credit to the peer as `dest`
   * accepts it; ends `dest` at the peer's eof unless `end` is false.
   *
   * `coalesce`: `dest` is corked from the first data of an event-loop turn to the end of that turn
   * (setImmediate runs right after the turn's I/O callbacks, before the loop waits again), so the
   * frames of one socket read reach it as one writev. A frame is at most a TLS record, 16 KiB;
   * a pipe written 16 KiB at a time woke its reader for every write and cost a system call each
   * (bench/RESULTS.md, row 3a). Not for terminals: typing latency gains nothing from it.
   */
  incoming(stream: StreamId, dest: Writable, options: { end?: boolean; coalesce?: boolean } = {}): void {
    this.sinks.set(stream, { dest, end: options.end ?? true, coalesce: options.coalesce ?? false });
    const early = this.early.get(stream);
    this.early.delete(stream);
    for (const chunk of early ?? []) this.deliver(stream, chunk);
    if (this.eofSeen.has(stream) && (options.end ?? true)) dest.end();
  }

  /** Sends an error frame, then closes. Used for refusals and protocol violations. */
  fail(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.closeError ??= new TlsshError(code, message);
    this.send(toErrorMessage(code, message));
    this.close();
  }

  /** Flushes what is queued and ends the TLS stream; 'close' follows. */
  close(): void {
    this.keepalive.stop();
    if (!endFlushed(this.socket)) this.finish();
  }

  /** Tears the connection down at once, with `err` as the reason reported by 'close'. */
  destroy(err?: TlsshError): void {
    if (err) this.closeError ??= err;
    this.keepalive.stop();
    this.socket.destroy();
    this.finish();
  }

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    noteRelayed(chunk.length);
    let messages: Message[];
    try {
      messages = this.decoder.push(chunk);
    } catch (err) {
      return this.protocolViolation(err);
    }
    for (const msg of messages) {
      if (this.closed) return;
      try {
        this.order.received(msg);
        this.dispatch(msg);
      } catch (err) {
        this.pongs = [];
        return this.protocolViolation(err);
      }
    }
    this.writePongs();
    this.limitBacklog();
  }

  private writePongs(): void {
    if (this.pongs.length === 0) return;
    const frames = this.pongs;
    this.pongs = [];
    if (this.closed || this.socket.destroyed || this.socket.writableEnded || !this.order.maySend) return;
    this.debug?.(`send ${frames.length} pong(s)`);
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** Stops reading while the peer leaves our output unread (see OUTPUT_READ_BOUND). */
  private limitBacklog(): void {
    const unsent = this.socket.writableLength;
    if (this.readPaused || this.closed || unsent <= OUTPUT_READ_BOUND) return;
    this.readPaused = true;
    this.socket.pause();
    this.debug?.(`peer is not reading: ${unsent} bytes unsent; reading paused`);
    this.emit('stalled', unsent);
  }

  private onDrain(): void {
    if (this.readPaused && !this.closed) {
      this.readPaused = false;
      this.socket.resume();
    }
    this.flushAll();
  }

  private dispatch(msg: Message): void {
    switch (msg.type) {
      case 'data':
        return this.onData(msg.stream, msg.data);
      case 'eof':
        return this.onEof(msg.stream);
      case 'window-adjust':
        return this.onWindowAdjust(msg.stream, msg.bytes);
      case 'ping': {
        const pong: Message = { type: 'pong', cookie: msg.cookie };
        if (!this.order.maySend) return;
        this.order.sent(pong);
        this.pongs.push(encodeMessage(pong));
        return;
      }
      case 'pong':
        return this.keepalive.pong(msg.cookie);
      case 'error':
        this.debug?.(`recv error ${msg.code}`);
        this.remoteError = new TlsshError(isErrorCode(msg.code) ? msg.code : 'TLSSH_ERR_REMOTE', msg.message);
        this.emit('message', msg);
        return this.endAfterRemoteError();
      default:
        this.debug?.(`recv ${msg.type}`);
        this.emit('message', msg);
    }
  }

  /** The peer gave up with an error frame: stop at once and let it close (PROTOCOL.md section 10). */
  private endAfterRemoteError(): void {
    this.keepalive.stop();
    try {
      if (!this.socket.writableEnded) this.socket.end();
    } catch {
      // Already gone.
    }
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.finish();
  }

  private onData(stream: StreamId, data: Buffer): void {
    // No effect (PROTOCOL.md section 5), and a flood of them must not queue empty writes.
    if (data.length === 0 && !this.eofSeen.has(stream)) return;
    const credit = this.recvCredit.get(stream) ?? LIMITS.defaultWindow;
    if (data.length > credit) {
      throw new TlsshError('TLSSH_ERR_FLOW_CONTROL', `peer sent ${data.length} bytes on stream ${stream} with only ${credit} bytes of window`);
    }
    if (this.eofSeen.has(stream)) {
      throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `peer sent data on stream ${stream} after its eof`);
    }
    this.recvCredit.set(stream, credit - data.length);
    if (this.sinks.has(stream)) return this.deliver(stream, data);
    const early = this.early.get(stream) ?? [];
    early.push(data);
    this.early.set(stream, early);
  }

  private deliver(stream: StreamId, data: Buffer): void {
    const sink = this.sinks.get(stream);
    if (!sink) return;
    if (sink.dest.destroyed || sink.dest.writableEnded) {
      // Nobody will read these bytes (e.g. the local stdout closed); keep the peer moving.
      return this.credit(stream, data.length);
    }
    // Another stream's data came first in this turn: it goes out first (`2>&1` keeps its order).
    if (this.corked !== null && this.corked !== sink) this.uncork();
    if (sink.coalesce && this.corked === null) {
      this.corked = sink;
      sink.dest.cork();
      if (!this.uncorkScheduled) {
        this.uncorkScheduled = true;
        setImmediate(this.endOfTurn);
      }
    }
    sink.dest.write(data, () => this.credit(stream, data.length));
  }

  private readonly endOfTurn = (): void => {
    this.uncorkScheduled = false;
    this.uncork();
  };

  private uncork(): void {
    const sink = this.corked;
    if (!sink) return;
    this.corked = null;
    sink.dest.uncork();
  }

  private credit(stream: StreamId, bytes: number): void {
    if (this.closed) return;
    const total = (this.consumed.get(stream) ?? 0) + bytes;
    // Returning credit in large steps keeps window-adjust traffic small.
    if (total < LIMITS.defaultWindow / 4) {
      this.consumed.set(stream, total);
      return;
    }
    this.consumed.set(stream, 0);
    this.recvCredit.set(stream, (this.recvCredit.get(stream) ?? LIMITS.defaultWindow) + total);
    this.send({ type: 'window-adjust', stream, bytes: total });
  }

  private onEof(stream: StreamId): void {
    if (this.eofSeen.has(stream)) {
      throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `peer sent eof twice on stream ${stream}`);
    }
    this.eofSeen.add(stream);
    this.emit('eof', stream);
    const sink = this.sinks.get(stream);
    if (sink?.end && !sink.dest.writableEnded) sink.dest.end();
  }

  private onWindowAdjust(stream: StreamId, bytes: number): void {
    const credit = (this.sendCredit.get(stream) ?? 0) + bytes;
    if (credit > LIMITS.maxWindow) {
      throw new TlsshError('TLSSH_ERR_FLOW_CONTROL', `peer's window on stream ${stream} grew to ${credit} bytes, over the limit of ${LIMITS.maxWindow}`);
    }
    this.sendCredit.set(stream, credit);
    this.flush(stream);
  }

  private flushAll(): void {
    for (const stream of this.pending.keys()) this.flush(stream);
  }

  /** Sends as much of the stream's pending chunk as credit allows; completes it when done. */
  private flush(stream: StreamId): void {
    const p = this.pending.get(stream);
    if (!p || this.closed) return;
    let credit = this.sendCredit.get(stream) ?? 0;
    let chunk = p.chunk;
    const views = !this.wholeFrames && chunk.length >= VIEW_MIN && credit >= VIEW_MIN;
    if (views) this.socket.cork();
    // Past OUTPUT_DATA_BOUND the rest waits for 'drain': the socket never holds much more.
    while (chunk.length > 0 && credit > 0 && this.socket.writableLength < OUTPUT_DATA_BOUND) {
      const n = Math.min(chunk.length, credit, SEND_CHUNK);
      const data = chunk.subarray(0, n);
      if (views && n >= VIEW_MIN) {
        this.socket.write(encodeDataHeader(stream, n));
        this.socket.write(data);
      } else {
        this.socket.write(encodeMessage({ type: 'data', stream, data }));
      }
      chunk = chunk.subarray(n);
      credit -= n;
    }
    if (views) this.socket.uncork();
    this.sendCredit.set(stream, credit);
    p.chunk = chunk;
    if (chunk.length > 0) return;
    // Hold the writer back while the socket is backed up, so buffering stays bounded: at the
    // same bound as the data, not until TLS has finished every write (writableNeedDrain). That
    // made each read of the source wait for the previous write to complete, a turn of the event
    // loop per read, before it could start the next. onDrain() completes a writer held here.
    if (this.socket.writableLength >= OUTPUT_DATA_BOUND) return;
    this.pending.delete(stream);
    p.callback();
  }

  private protocolViolation(err: unknown): void {
    const e = isTlsshError(err) ? err : new TlsshError('TLSSH_ERR_FRAME_MALFORMED', String(err), { cause: err });
    this.debug?.(`protocol error ${e.code}: ${e.message}`);
    this.closeError ??= e;
    // Tell the peer why, best effort, then drop the connection: nothing after a bad frame can be trusted.
    try {
      const msg = toErrorMessage(e.code, e.message);
      const allowed = this.order.maySend;
      this.order.sent(msg);
      if (!this.socket.writableEnded) {
        if (allowed) this.socket.end(encodeMessage(msg));
        else this.socket.end();
      }
    } catch {
      // The socket is already gone; the reason is still reported locally.
    }
    this.keepalive.stop();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.finish();
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
    for (const p of this.pending.values()) p.callback();
    this.pending.clear();
    this.emit('close', this.closeError ?? this.remoteError);
  }
}
