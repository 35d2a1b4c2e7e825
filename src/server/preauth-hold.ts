// The listener's own hold on a new connection: read (at most MAX_PREAUTH_BYTES) until a complete
// TLS ClientHello has arrived, within a deadline. Until then the connection costs a socket, a
// timer and the bytes read; only a peer that has spoken TLS gets a worker process.

import type * as net from 'node:net';
import { MAX_PREAUTH_BYTES, frameClientHello } from './client-hello-framing';

export type HoldOutcome =
  /** `prefix`: every byte read, to be replayed into the worker's TLS server. */
  | { readonly kind: 'hello'; readonly prefix: Buffer }
  /** Bytes that can never be a ClientHello. */
  | { readonly kind: 'garbage'; readonly reason: string }
  /** The deadline passed first (silence, or a ClientHello that stalled). */
  | { readonly kind: 'timeout'; readonly received: number }
  /** The peer closed or reset first. */
  | { readonly kind: 'closed'; readonly received: number };

export interface PreauthHold {
  /** Ends the hold without a verdict (listener stopping); destroys the socket. */
  abort(): void;
}

/**
 * pause() only stops the stream from flowing: the socket's handle goes on reading from the kernel
 * into a buffer. After a hand-off (child_process send) the listener's copy of the handle stays
 * open, its reads thrown away, until the worker's acknowledgement comes back; a warm worker
 * answers the ClientHello sooner than that, and the client's reply (its Finished) could then be
 * read, and lost, by the listener: the handshake hung until LoginGraceTime. Node has no public
 * call for this, so the handle's own readStop().
 */
function stopKernelReads(socket: net.Socket): void {
  const handle = (socket as unknown as { _handle?: { reading?: boolean; readStop?: () => number } | null })._handle;
  if (handle && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
}

/**
 * Reads from `socket` (created with pauseOnConnect) until the outcome is known, then calls
 * `done` exactly once. On 'hello' the socket is paused with no listeners of ours left on it, ready
 * to be sent to a worker; on every other outcome it is already destroyed.
 */
export function holdUntilClientHello(socket: net.Socket, deadlineMs: number, done: (o: HoldOutcome) => void): PreauthHold {
  // Grown by doubling, so a peer that sends one byte at a time costs linear copying, not quadratic.
  let buf = Buffer.alloc(0);
  let received = 0;
  let finished = false;
  const finish = (o: HoldOutcome): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onEnd);
    socket.removeListener('error', onError);
    if (o.kind === 'hello') {
      socket.pause();
      stopKernelReads(socket);
      // Errors between now and the hand-off must not become uncaught exceptions.
      socket.on('error', () => {});
    } else {
      socket.on('error', () => {});
      socket.destroy();
    }
    done(o);
  };
  const onData = (b: Buffer): void => {
    // A single read can be up to 64 KiB: keep only what the bound allows before judging. A real
    // client sends nothing after its ClientHello until the server answers, so what is cut off
    // here only ever belongs to a peer that is refused anyway.
    const take = Math.min(b.length, MAX_PREAUTH_BYTES + 1 - received);
    if (received + take > buf.length) {
      const grown = Buffer.alloc(Math.min(MAX_PREAUTH_BYTES + 1, Math.max(received + take, buf.length * 2, 512)));
      buf.copy(grown, 0, 0, received);
      buf = grown;
    }
    b.copy(buf, received, 0, take);
    received += take;
    const seen = buf.subarray(0, received);
    const f = frameClientHello(seen);
    if (f.state === 'complete') finish({ kind: 'hello', prefix: seen });
    else if (f.state === 'invalid') finish({ kind: 'garbage', reason: f.reason });
    else if (received > MAX_PREAUTH_BYTES) finish({ kind: 'garbage', reason: 'ClientHello too large' });
  };
  const onEnd = (): void => finish({ kind: 'closed', received });
  const onError = (): void => finish({ kind: 'closed', received });
  const timer = setTimeout(() => finish({ kind: 'timeout', received }), deadlineMs);
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('error', onError);
  socket.resume();
  return { abort: () => finish({ kind: 'closed', received }) };
}
