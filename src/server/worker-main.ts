// Entry point of a worker process, forked by the listener. It waits for exactly one client
// socket, serves it, and exits. It outlives the listener: a stopped or upgraded listener must
// never end a logged-in session.

import * as net from 'node:net';
import { ignoreInspectorSignal } from '../inspector-signal';
import { setProcessTitle } from '../process-title';
import { DEFAULT_KILL_MESSAGE } from './control-protocol';
import { closeInheritedFds, ipcFd } from './inherited-fds';
import { isConnectionMessage, isWarmMessage, parseKillMessage } from './ipc-messages';
import { preloadSessionModules, prepareServerTls, stillCurrent, type PreparedTls } from './warm-tls';
import { serveConnection, type ServedConnection } from './worker';

closeInheritedFds(ipcFd());
// Also opens /proc/self/comm while still root (see process-title.ts).
setProcessTitle('tlsshd: [waiting]', 'tlsshd');

let served = false;
let connection: ServedConnection | undefined;
/** Made on the listener's warm message, before any connection (warm-tls.ts). */
let prepared: PreparedTls | undefined;

process.on('disconnect', () => {
  // The listener went away: a session carries on, but a warm worker that never got a
  // connection has nothing left to wait for.
  if (!served) process.exit(0);
});
// Signals meant for the listener (a terminal's ^C in -f mode) are not ours.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
// A listener restarted since this session began has no IPC channel to us: its tlsshctl kill (or a
// reload's certificate check) comes as SIGUSR2. Only root or the session's own user can send it.
process.on('SIGUSR2', () => connection?.kill(DEFAULT_KILL_MESSAGE));
// After the privilege drop the session's user may signal this process (`kill -USR1 $PPID`):
// SIGUSR1 must neither open Node's inspector nor end the session. Installed here, as root,
// before anyone else can signal us.
ignoreInspectorSignal();

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
    if (process.connected && process.send) process.send({ t: 'warmed', generation: msg.generation });
    // After the reply: the listener may hand over a connection meanwhile, and it queues behind this.
    preloadSessionModules(msg.config);
    return;
  }
  if (served || !isConnectionMessage(msg) || !(handle instanceof net.Socket)) return;
  served = true;
  setProcessTitle(`tlsshd: [accepted] ${handle.remoteAddress ?? '?'}`, 'tlsshd');
  // Reports still on their way to the listener: a penalty is sent just before the end.
  let unsent = 0;
  let exitCode: number | undefined;
  const tls = stillCurrent(prepared, msg, msg.generation);
  prepared = undefined;
  connection = serveConnection(msg, handle, {
    report: (m) => {
      if (!process.connected || !process.send) throw new Error('no IPC channel');
      unsent++;
      process.send(m, undefined, {}, () => {
        unsent--;
        if (exitCode !== undefined && unsent === 0) process.exit(exitCode);
      });
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
  // IPC is no longer needed to stay alive; the session's own handles keep us running.
  process.channel?.unref();
});

if (process.send) process.send({ t: 'ready' });
