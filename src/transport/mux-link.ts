// One session's end of a tlssh/2+mux connection, as a stream a Channel can run over.
//
// Why a stream and not a second Channel implementation: every rule of a direct session (message
// order, windows per stream, eof, early stdin, credit returned only once delivered) lives in
// Channel and MessageOrder. Giving each session a Channel of its own over this link keeps those
// rules identical for direct and multiplexed sessions, with one implementation to fix.
//
// The Channel writes whole tlssh/2 frames (one per write); the multiplexer adds the session id
// and puts them on the TLS socket. Frames for the session arrive here without their id, as
// tlssh/2 frames, through deliver().

import { Duplex } from 'node:stream';

export interface LinkHooks {
  /** One complete tlssh/2 frame the session's Channel sends. */
  send(frame: Buffer): void;
  /** True while the connection's socket holds more unsent output than the data bound. */
  backedUp(): boolean;
  /** Calls `fn` once the connection's socket has drained. */
  onceDrained(fn: () => void): void;
  /** The Channel ended its side (after its last message) or the link was destroyed. */
  ended(): void;
}

export class SessionLink extends Duplex {
  private endedOnce = false;

  constructor(private readonly hooks: LinkHooks) {
    // Frames are Buffers; the Channel decodes whatever arrives.
    super({ allowHalfOpen: true });
  }

  /** Frames for this session, as tlssh/2 frames; null ends its input. */
  deliver(frame: Buffer | null): void {
    if (this.destroyed || this.readableEnded) return;
    this.push(frame);
  }

  override _read(): void {
    // Input is pushed as it arrives; windows bound it.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hooks.send(chunk);
    // Hold this session's writer while the shared socket is backed up, so that the Channel's
    // own bound (its socket's writableLength) applies to the connection's backlog too.
    if (this.hooks.backedUp()) this.hooks.onceDrained(() => callback());
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.end_();
    // Nothing more comes in either once our side is done: let the stream close.
    this.deliver(null);
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.end_();
    callback(err);
  }

  private end_(): void {
    if (this.endedOnce) return;
    this.endedOnce = true;
    this.hooks.ended();
  }
}
