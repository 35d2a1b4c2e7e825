// Entry point of a worker process, forked by the listener. It waits for exactly one client
// socket, serves it, and exits. It outlives the listener: a stopped or upgraded listener must
// never end a logged-in session. Started with FORK_SERVER_ARG it is the fork server instead
// (WorkerForkServer yes), which forks such workers from itself (fork-server.ts).

import * as net from 'node:net';
import { setProcessTitle } from '../process-title';
import { runForkServer } from './fork-server';
import { closeInheritedFds, ipcFd } from './inherited-fds';
import { FORK_SERVER_ARG, isConnectionMessage, isWarmMessage, parseKillMessage } from './ipc-messages';
import { preloadSessionModules, prepareServerTls, stillCurrent, type PreparedTls } from './warm-tls';
import type { ServedConnection } from './worker';
import { installWorkerSignals, serveHandedConnection } from './worker-serving';

function runWorker(): void {
  let served = false;
  let connection: ServedConnection | undefined;
  /** Made on the listener's warm message, before any connection (warm-tls.ts). */
  let prepared: PreparedTls | undefined;

  process.on('disconnect', () => {
    // The listener went away: a session carries on, but a warm worker that never got a
    // connection has nothing left to wait for.
    if (!served) process.exit(0);
  });
  installWorkerSignals(() => connection);

  process.on('message', (msg: unknown, handle: unknown) => {
    // After the connection, the listener's only message is tlsshctl's kill.
    const kill = served ? parseKillMessage(msg) : undefined;
    if (kill) return connection?.kill(kill.message, kill.code);
    if (!served && isWarmMessage(msg)) {
      try {
        prepared = prepareServerTls(msg, msg.generation);
      } catch {
        // The connection builds it again and logs why, as a worker without a warm-up would.
        prepared = undefined;
        return;
      }
      // A listener gone meanwhile (it failed at start) is found by 'disconnect'; its EPIPE is no news.
      if (process.connected && process.send) process.send({ t: 'warmed', generation: msg.generation }, undefined, {}, () => undefined);
      // After the reply: the listener may hand over a connection meanwhile, and it queues behind this.
      preloadSessionModules(msg.config);
      return;
    }
    if (served || !isConnectionMessage(msg) || !(handle instanceof net.Socket)) return;
    served = true;
    const tls = stillCurrent(prepared, msg, msg.generation);
    prepared = undefined;
    connection = serveHandedConnection(msg, handle, {
      send: (m, written) => {
        if (!process.connected || !process.send) throw new Error('no IPC channel');
        process.send(m, undefined, {}, () => written());
      },
      unref: () => process.channel?.unref(),
    }, tls);
  });

  if (process.send) process.send({ t: 'ready' }, undefined, {}, () => undefined);
}

closeInheritedFds(ipcFd());
if (process.argv.includes(FORK_SERVER_ARG)) {
  runForkServer();
} else {
  // Also opens /proc/self/comm while still root (see process-title.ts).
  setProcessTitle('tlsshd: [waiting]', 'tlsshd');
  runWorker();
}
