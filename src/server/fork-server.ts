// The fork server (WorkerForkServer yes): one process, started by the listener like a worker,
// that loads a worker's code and builds the server's TLS context once, then forks a worker from
// itself for each connection the listener hands it. A new node process costs ~70 ms of CPU and
// ~10 MB of memory that stays private; a fork shares the already-loaded code and heap with its
// siblings, copy on write (bench/RESULTS.md, "The fork server").
//
// What a forked worker gets, and why it is safe to run there:
// - Only the forking thread survives a fork. Node runs the fork server with --single-threaded
//   (listener.ts), so V8 never posts work to a helper thread and waits for it; libuv gets a loop
//   of its own in the child (native/fork-server.cc) and restarts its thread pool by itself.
//   The epoll, eventfds and signal pipes of Node's other loops, whose threads the child does
//   not have, are pointed at /dev/null there: no worker can write into the fork server's loops.
// - OpenSSL reseeds its random generator in a child after a fork (it counts forks).
// - The child drops the fork server's IPC channel, its SIGCHLD handler (its commands' exits are
//   libuv's to collect) and its /proc/self/comm descriptor before doing anything else, and talks
//   to the listener over a socketpair of its own that the listener made (line-channel.ts).
// - Cost: every worker shares the fork server's address-space layout, so ASLR no longer differs
//   between connections (it does between reloads, which start a new fork server). That is why
//   this is not the default: sshd re-executes itself per connection for the same reason.

import * as net from 'node:net';
import * as os from 'node:os';
import { forgetComm, setProcessTitle } from '../process-title';
import { loadForkBinding, type ForkBinding } from './fork-binding';
import { isConnectionMessage, isWarmMessage, parseKillMessage, parseLineMessage, WORKER_EXIT_SETUP_FAILED, type ConnectionMessage, type ForkServerMessage } from './ipc-messages';
import { LineChannel } from './line-channel';
import { preloadSessionModules, prepareServerTls, stillCurrent, type PreparedTls } from './warm-tls';
import type { ServedConnection } from './worker';
import { installWorkerSignals, serveHandedConnection } from './worker-serving';

const SIGNAL_NAMES = new Map<number, string>(Object.entries(os.constants.signals).map(([name, n]) => [n, name]));

function tell(m: ForkServerMessage): void {
  if (process.connected && process.send) process.send(m);
}

export function runForkServer(): void {
  const loaded = loadForkBinding();
  if (!('binding' in loaded)) {
    process.stderr.write(`tlsshd fork server: ${loaded.error}\n`);
    process.exit(WORKER_EXIT_SETUP_FAILED);
  }
  const binding = loaded.binding;
  setProcessTitle('tlsshd: [fork server]', 'tlsshd');
  let prepared: PreparedTls | undefined;

  // Its workers go on without it, as workers go on without the listener.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.on('SIGUSR1', () => {});
  const reap = (): void => {
    for (const r of binding.reap()) {
      tell({ t: 'exited', pid: r.pid, code: r.code, signal: r.signal === null ? null : SIGNAL_NAMES.get(r.signal) ?? `SIG${r.signal}` });
    }
  };
  process.on('SIGCHLD', reap);

  // The line of the next worker (the listener sends it just before the connection). The listener
  // hands over one connection at a time and waits for the reply, so that when this process forks
  // it holds exactly one connection and one line, both closed here right after: no worker ever
  // inherits another connection's socket or line.
  let nextLine: { ref: number; socket: net.Socket } | undefined;
  process.on('message', (msg: unknown, handle: unknown) => {
    if (isWarmMessage(msg)) {
      try {
        prepared = prepareServerTls(msg, msg.generation);
      } catch {
        // Each worker then builds it and logs why, as a worker without a warm-up would.
        prepared = undefined;
      }
      preloadSessionModules(msg.config);
      tell({ t: 'warmed', generation: msg.generation });
      return;
    }
    const lineRef = parseLineMessage(msg);
    if (lineRef !== undefined) {
      nextLine?.socket.destroy();
      nextLine = handle instanceof net.Socket ? { ref: lineRef, socket: handle } : undefined;
      return;
    }
    if (!isConnectionMessage(msg) || msg.ref === undefined || !(handle instanceof net.Socket)) return;
    const ref = msg.ref;
    const line = nextLine?.ref === ref ? nextLine.socket : undefined;
    if (!line) nextLine?.socket.destroy();
    nextLine = undefined;
    let pid: number;
    try {
      if (!line) throw new Error('no line to the listener came with the connection');
      pid = binding.fork();
    } catch (e) {
      handle.destroy();
      line?.destroy();
      tell({ t: 'fork-failed', ref, why: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (pid === 0) return becomeWorker(binding, msg, handle, line, prepared);
    // Closes this process's copies only (synchronously): the worker's keep them open.
    handle.destroy();
    line.destroy();
    tell({ t: 'forked', ref, pid });
    // A worker that ended before its SIGCHLD was handled is reaped with the next one; this
    // catches the case where it was the last.
    setImmediate(reap);
  });

  tell({ t: 'ready' });
}

/** In the child of a fork: leave the fork server's state behind, then serve the connection. */
function becomeWorker(binding: ForkBinding, msg: ConnectionMessage, socket: net.Socket, lineSocket: net.Socket, prepared: PreparedTls | undefined): void {
  Object.defineProperty(process, 'pid', { value: binding.getpid(), enumerable: true, configurable: true, writable: false });
  // Synchronously, before the loop runs again: the fork server's channel and handlers are its own.
  for (const event of ['message', 'disconnect', 'SIGCHLD', 'SIGINT', 'SIGHUP', 'SIGUSR1']) process.removeAllListeners(event);
  if (process.connected) process.disconnect();
  forgetComm();
  // Node's own way out tears down V8's helper threads, which only the fork server has: a
  // forked worker would die of SIGSEGV on its way out. It leaves with _exit() instead, after the
  // 'exit' event as usual, and the same way when its loop runs dry or an error goes uncaught.
  const leave = (code: number): never => {
    process.exitCode = code;
    try {
      process.emit('exit', code);
    } finally {
      binding.exit(code);
    }
    throw new Error('unreachable');
  };
  process.exit = ((code?: number | string | null) => leave(typeof code === 'number' ? code : Number(code ?? process.exitCode ?? 0) || 0)) as typeof process.exit;
  process.on('beforeExit', () => leave(typeof process.exitCode === 'number' ? process.exitCode : 0));
  process.on('uncaughtException', (e) => {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    leave(1);
  });

  const line = new LineChannel(lineSocket);
  let connection: ServedConnection | undefined;
  installWorkerSignals(() => connection);
  line.on('message', (m) => {
    const kill = parseKillMessage(m);
    if (kill) connection?.kill(kill.message, kill.code);
  });
  connection = serveHandedConnection(msg, socket, {
    send: (m, written) => {
      if (!line.send(m, written)) throw new Error('no line to the listener');
    },
    unref: () => line.unref(),
  }, stillCurrent(prepared, msg, msg.generation));
}
