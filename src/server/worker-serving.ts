// What a worker process does with its connection, whichever way it was started: by the listener
// as a new node process (worker-main.ts, Node's IPC channel), or forked by the fork server
// (fork-server.ts, a line of its own to the listener).

import type * as net from 'node:net';
import { ignoreInspectorSignal } from '../inspector-signal';
import { setProcessTitle } from '../process-title';
import { DEFAULT_KILL_MESSAGE } from './control-protocol';
import type { ConnectionMessage, WorkerMessage } from './ipc-messages';
import type { BuiltTls } from './warm-tls';
import { serveConnection, type ServedConnection } from './worker';

/** The worker's way to the listener. */
export interface ListenerLink {
  /** Sends; `written` runs once it is on its way. Throws when the listener is gone. */
  send(m: WorkerMessage, written: () => void): void;
  /** The link alone no longer keeps the process running: the session's own handles do. */
  unref(): void;
}

/**
 * Signals every worker handles the same way, installed as root before anyone else can signal it.
 * `connection` is the session, once there is one.
 */
export function installWorkerSignals(connection: () => ServedConnection | undefined): void {
  // Signals meant for the listener (a terminal's ^C in -f mode) are not ours.
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  // A listener restarted since this session began has no channel to us: its tlsshctl kill (or a
  // reload's certificate check) comes as SIGUSR2. Only root or the session's own user can send it.
  process.on('SIGUSR2', () => connection()?.kill(DEFAULT_KILL_MESSAGE));
  // After the privilege drop the session's user may signal this process (`kill -USR1 $PPID`):
  // SIGUSR1 must neither open Node's inspector nor end the session.
  ignoreInspectorSignal();
}

/** Serves the connection handed over; the process exits when it ends. */
export function serveHandedConnection(msg: ConnectionMessage, socket: net.Socket, link: ListenerLink, tls: BuiltTls | undefined): ServedConnection {
  setProcessTitle(`tlsshd: [accepted] ${socket.remoteAddress ?? '?'}`, 'tlsshd');
  // Reports still on their way to the listener: a penalty is sent just before the end.
  let unsent = 0;
  let exitCode: number | undefined;
  const connection = serveConnection(msg, socket, {
    report: (m) => {
      unsent++;
      try {
        link.send(m, () => {
          unsent--;
          if (exitCode !== undefined && unsent === 0) process.exit(exitCode);
        });
      } catch (e) {
        unsent--;
        throw e;
      }
    },
    exit: (code) => {
      // Let the last frames reach the kernel (and reports the listener) before the process goes.
      setImmediate(() => {
        if (unsent === 0) process.exit(code);
        exitCode = code;
        setTimeout(() => process.exit(code), 1000);
      });
    },
  }, tls);
  link.unref();
  return connection;
}
