// The length-prefixed framing that tlssh/2 and tlssh/2+mux share (doc/PROTOCOL.md sections 3 and
// 12): a u32 body length, then the body. No I/O. This is the one place that reassembles frames
// across chunks, so both decoders check the announced length the same way, before anything is
// allocated for it, and neither can drift from the other on the bytes at a chunk's edge.

import { TlsshError } from '../errors';

/** Bytes of the length prefix. */
export const FRAME_HEADER = 4;

/**
 * Asked for a frame whose body this chunk holds only the start of (`chunk[off..]`, `len` bytes in
 * all): return true to take those bytes on (the reader then skips the rest of the chunk, and the
 * decoder must take the rest of the body off the following chunks itself), or false to have the
 * body assembled whole.
 */
export type PartialBody<T> = (chunk: Buffer, off: number, len: number, out: T[]) => boolean;

/**
 * Splits chunks into frame bodies and hands each to `decode`. A body that arrived whole is a view
 * of its chunk (no copy); one that spans chunks is copied once into a buffer of its exact size,
 * allocated only after its length has passed the checks.
 */
export class FrameReader<T> {
  private readonly header = Buffer.alloc(FRAME_HEADER);
  private headerFill = 0;
  /** The body being assembled across chunks, or null between frames. */
  private body: Buffer | null = null;
  private bodyFill = 0;

  constructor(
    private readonly maxFrameBody: number,
    private readonly decode: (body: Buffer) => T,
    private readonly partial: PartialBody<T> | null = null,
  ) {}

  /** Bytes of an incomplete frame held back, waiting for more input. */
  get buffered(): number {
    return this.body !== null ? FRAME_HEADER + this.bodyFill : this.headerFill;
  }

  /** Lets go of a half-assembled body: the decoder has failed and will read no more. */
  drop(): void {
    this.body = null;
  }

  /** Decodes the frames of `chunk[off..]` into `out`; what is left of a frame waits for the next chunk. */
  read(chunk: Buffer, off: number, out: T[]): void {
    const end = chunk.length;
    if (this.body !== null) {
      const body = this.body;
      const n = Math.min(body.length - this.bodyFill, end - off);
      chunk.copy(body, this.bodyFill, off, off + n);
      this.bodyFill += n;
      off += n;
      if (this.bodyFill < body.length) return;
      this.body = null;
      this.bodyFill = 0;
      out.push(this.decode(body));
    }

    while (off < end) {
      let len: number;
      if (this.headerFill === 0 && end - off >= FRAME_HEADER) {
        len = chunk.readUInt32BE(off);
        off += FRAME_HEADER;
      } else {
        const n = Math.min(FRAME_HEADER - this.headerFill, end - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < FRAME_HEADER) return;
        this.headerFill = 0;
        len = this.header.readUInt32BE(0);
      }
      if (len === 0) throw new TlsshError('TLSSH_ERR_FRAME_MALFORMED', 'frame with an empty body');
      if (len > this.maxFrameBody) {
        throw new TlsshError('TLSSH_ERR_FRAME_TOO_LARGE', `frame body of ${len} bytes announced, over ${this.maxFrameBody}`);
      }

      if (end - off >= len) {
        // Whole body present: decode in place without copying.
        out.push(this.decode(chunk.subarray(off, off + len)));
        off += len;
      } else if (this.partial !== null && this.partial(chunk, off, len, out)) {
        return;
      } else {
        const body = Buffer.allocUnsafe(len);
        chunk.copy(body, 0, off, end);
        this.body = body;
        this.bodyFill = end - off;
        return;
      }
    }
  }
}

/** The error a decoder stays failed with: its own TlsshError, or anything else as an internal one. */
export function decoderFailure(e: unknown): TlsshError {
  return e instanceof TlsshError ? e : new TlsshError('TLSSH_ERR_INTERNAL', 'frame decoder failed', { cause: e });
}

/** At end of input: a half-received frame means the peer or the connection broke off. */
export function truncatedAtEnd(buffered: number): TlsshError {
  return new TlsshError('TLSSH_ERR_FRAME_TRUNCATED', `connection ended inside a frame (${buffered} bytes of it received)`);
}
