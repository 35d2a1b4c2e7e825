// How a connection (a tlssh/2 Channel or a MuxChannel) ends its TLS socket, kept in one place so
// that both kinds close alike.

import type { Duplex } from 'node:stream';
import { TlsshError } from '../errors';

/**
 * Flushes what is queued and ends the TLS stream (close_notify); 'close' follows. A peer that
 * never reads cannot hold us open: the flush gets a bounded time. False when the socket is
 * already gone (no 'close' will come).
 */
export function endFlushed(socket: Duplex): boolean {
  if (socket.destroyed) return false;
  if (!socket.writableEnded) socket.end();
  // Cleared at 'close': a pending timer holds the stream, and a shared connection's session
  // links close by the thousand when a peer opens and refuses sessions in a loop.
  const timer = setTimeout(() => socket.destroy(), 5000).unref();
  socket.once('close', () => clearTimeout(timer));
  return true;
}

/** The reason a socket error gives the connection's 'close'. */
export function connectionLost(err: Error): TlsshError {
  const code = (err as NodeJS.ErrnoException).code ?? err.message;
  return new TlsshError('TLSSH_ERR_CONNECTION_LOST', `connection lost: ${code}`, { cause: err });
}
