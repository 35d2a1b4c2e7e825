// Who is at the other end of an accepted ControlPath connection. The kernel records the
// connecting process's credentials at connect() (SO_PEERCRED); the peer cannot choose them.
// Node has no API for it, so it comes from the one native addon tlssh already ships.

import type { Socket } from 'node:net';
import { TlsshError } from '../errors';
import { loadTpmBinding } from '../tpm/binding';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export function peerCredentials(socket: Socket): PeerCredentials {
  // libuv's pipe handle exposes its descriptor; a socket without one cannot be vouched for.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TlsshError('TLSSH_ERR_CONTROL_PEER', 'the ControlPath connection has no descriptor to check its peer on');
  const binding = loadTpmBinding();
  if (!binding.peerCredentials) throw new TlsshError('TLSSH_ERR_CONTROL_PEER', 'the native addon is too old to check ControlPath peers: rebuild it (npm run build)');
  try {
    return binding.peerCredentials(fd);
  } catch (err) {
    throw new TlsshError('TLSSH_ERR_CONTROL_PEER', `cannot check the ControlPath peer: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** ssh's rule (mux.c): the master's own uid, or root, which could reach it anyway. */
export function peerAllowed(peer: PeerCredentials, ownUid: number): boolean {
  return peer.uid === ownUid || peer.uid === 0;
}
