// The ControlPath socket on disk: where it may live, how a master claims it, and how a stale
// one (a master that died without cleaning up) is told from a live one.
//   - The directory must be the user's own and closed to others (mode 0700, or at least no
//     group/other bits), as for ssh: the socket is the door to an authenticated connection.
//   - The socket is made at a private temporary name with umask 0177 (mode 0600), then linked to
//     its real name: link() fails when the name exists, so two masters starting at once cannot
//     both win, and a live master is never replaced. A name that refuses connections is stale:
//     removed, and the link tried again.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TlsshError } from '../errors';

/** Refuses a ControlPath whose directory others could enter, or that is not ours. */
export function checkControlDir(socketPath: string, uid: number = process.getuid?.() ?? 0): void {
  const dir = path.dirname(socketPath);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsshError('TLSSH_ERR_CONTROL_SOCKET', `ControlPath directory ${dir}: ${code === 'ENOENT' ? 'no such directory' : (code ?? String(err))}`, { cause: err });
  }
  if (!st.isDirectory()) throw new TlsshError('TLSSH_ERR_CONTROL_SOCKET', `ControlPath directory ${dir} is not a directory`);
  // ssh takes /tmp; here another user could have made the socket there (see the top of the file).
  if (st.uid !== uid) throw new TlsshError('TLSSH_ERR_CONTROL_SOCKET', `ControlPath directory ${dir} belongs to uid ${st.uid}, not to you (${uid}): use a directory of your own, mode 0700, such as ~/.tlssh/cm`);
  if ((st.mode & 0o077) !== 0) {
    throw new TlsshError(
      'TLSSH_ERR_CONTROL_SOCKET',
      `ControlPath directory ${dir} is open to other users (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 700 ${dir}`,
    );
  }
}

export type SocketState = 'live' | 'stale' | 'absent';

/** Whether a master answers at `socketPath`; a live connection is handed over, not closed. */
export function probeControlSocket(socketPath: string): Promise<{ state: 'live'; socket: net.Socket } | { state: 'stale' | 'absent'; why: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve({ state: 'live', socket });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // ECONNREFUSED: a socket file with nobody listening (the master died); ENOENT: nothing.
      // Anything else (EACCES, ENOTSOCK) is not ours to remove either.
      resolve({ state: err.code === 'ECONNREFUSED' ? 'stale' : 'absent', why: err.code ?? err.message });
    });
  });
}

/**
 * Listens at `socketPath` for `server`, mode 0600, claiming the name with link(). Resolves to
 * the inode claimed (so the master later removes only its own socket), or throws
 * TLSSH_ERR_CONTROL_SOCKET when a live master holds the name.
 */
export async function claimControlSocket(server: net.Server, socketPath: string): Promise<number> {
  checkControlDir(socketPath);
  const temp = `${socketPath}.${process.pid}.${Math.random().toString(36).slice(2, 10)}`;
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(temp, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new TlsshError('TLSSH_ERR_CONTROL_SOCKET', `cannot listen on ${temp}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  } finally {
    process.umask(old);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(temp, socketPath);
        return fs.statSync(socketPath).ino;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          throw new TlsshError('TLSSH_ERR_CONTROL_SOCKET', `ControlSocket ${socketPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
        }
        const probe = await probeControlSocket(socketPath);
        if (probe.state === 'live') {
          probe.socket.destroy();
          throw new TlsshError('TLSSH_ERR_CONTROL_SOCKET', `ControlSocket ${socketPath} already exists, disabling multiplexing`);
        }
        // A stale socket: replace it, as ssh does.
        fs.rmSync(socketPath, { force: true });
      }
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/** Removes the socket only if it is still the one this master claimed. */
export function releaseControlSocket(socketPath: string, ino: number | undefined): void {
  if (ino === undefined) return;
  try {
    if (fs.statSync(socketPath).ino === ino) fs.unlinkSync(socketPath);
  } catch {
    // Already gone: removed by -O stop, or by hand.
  }
}
