// The connection-sharing master process (ssh's "ControlMaster" after ControlPersist's fork).
// Node cannot fork a process that already holds a TLS connection, so the client that needs a
// master starts this program detached (its own session, no terminal, stdio on /dev/null) with an
// IPC channel, and then becomes an ordinary shared-session client of it; every client, the first
// included, takes the same path.
//
// Over the IPC channel, until the master is ready: the spawner sends {t:'start', argv,
// socketPath}; the master sends debug lines, password questions (the spawner asks on its own
// terminal and answers: the master has none), and finally 'ready', 'socket-failed' (the spawner
// then connects directly, as ssh does when it cannot be master) or 'failed' (the line ssh would
// print, e.g. an unreachable host). Then the channel is closed and the master serves its socket.

import { loadClientConfig } from '../config/load-client-config';
import { TlsshError, describeError, isTlsshError } from '../errors';
import { setComm } from '../process-title';
import { channelSessions } from './channel-shared-session';
import { parseArgs } from './cli-args';
import { failureLine } from './exit-status';
import type { MuxSessionRequest } from './mux-frames';
import { MuxMaster, type OpenSession, type SharedSession, type SharedSessionEnd, type SharedSessionIo } from './mux-master';
import type { Log } from './stderr-log';
import { guardInspectorSignal } from '../inspector-signal';

guardInspectorSignal();

/** `cwd`: the spawner's working directory, where the command line's relative paths are. */
export type SpawnerMessage = { t: 'start'; argv: string[]; socketPath: string; cwd: string; own?: string } | { t: 'answer'; value: string | null };
export type MasterMessage =
  | { t: 'debug'; line: string }
  | { t: 'prompt'; question: string }
  | { t: 'ready'; pid: number }
  | { t: 'socket-failed'; line: string }
  | { t: 'failed'; line: string };

setComm('tlssh');
// Nothing of the master's may keep a mount busy or depend on where the user was.
process.chdir('/');

let ipcOpen = true;
const tell = (m: MasterMessage): void => {
  if (ipcOpen && process.send) process.send(m);
};

function masterLog(verbosity: number): Log {
  const line = (prefix: string) => (l: string): void => tell({ t: 'debug', line: `${prefix}${l}` });
  return {
    verbosity,
    debug: verbosity > 0 ? line('debug1: ') : undefined,
    debug2: verbosity > 1 ? line('debug2: ') : undefined,
    debug3: verbosity > 2 ? line('debug3: ') : undefined,
    info: verbosity > 0 ? line('') : () => undefined,
    warn: verbosity > 0 ? line('') : () => undefined,
    error: verbosity > 0 ? line('') : () => undefined,
  };
}

let answer: ((value: string | null) => void) | undefined;

process.on('message', (m: SpawnerMessage) => {
  if (m.t === 'start') void start(m.argv, m.socketPath, m.cwd, m.own);
  else if (m.t === 'answer') answer?.(m.value);
});
// The spawner went away before we were ready: nobody is waiting for this master.
process.on('disconnect', () => {
  ipcOpen = false;
  if (!ready) process.exit(255);
});

let ready = false;

/**
 * Runs `fn` in `dir`, then goes back to /. The command line's relative paths (-F, -i, -o
 * KeyFile=...) are the spawner's; the configuration holds absolute ones once loaded.
 */
function fromDirectory<T>(dir: string, fn: () => T): T {
  try {
    process.chdir(dir);
  } catch {
    // The directory has gone: a relative path then fails to load and says which.
  }
  try {
    return fn();
  } finally {
    process.chdir('/');
  }
}

async function start(argv: string[], socketPath: string, cwd: string, own: string | undefined): Promise<void> {
  const parsed = parseArgs(argv, 'tlssh');
  if (parsed.kind !== 'run') return fail(parsed.stderr.trim() || 'bad command line');
  const args = parsed.args;
  let log = masterLog(args.verbose);
  let master: MuxMaster | undefined;
  try {
    const loaded = fromDirectory(cwd, () => loadClientConfig({ file: args.configFile, overrides: args.overrides, flagOverrides: args.flagOverrides, host: args.host }));
    log = masterLog(Math.max(args.verbose, loaded.LogLevel === 'DEBUG' ? 1 : 0));
    const m = new MuxMaster({
      socketPath,
      host: args.host,
      // A master started with -N stands for ssh -fNM's backgrounded ssh, which stays until killed:
      // ControlPersist no ("end with the session that started me") has no session to follow.
      persist: args.noCommand && loaded.ControlPersist === 'no' ? 'yes' : loaded.ControlPersist,
      confirm: loaded.ControlMaster === 'ask' || loaded.ControlMaster === 'autoask',
      ...(own !== undefined ? { ownToken: own } : {}),
      // Clients may come while this master is still authenticating (parallel Ansible forks
      // that found the socket): their sessions wait for the connection, or fail with it.
      openSession: (request, io) => whenReady(backend.promise, request, io),
      log,
      onEnd: () => {
        if (ready) process.exit(0);
      },
    });
    try {
      await m.listen();
    } catch (err) {
      tell({ t: 'socket-failed', line: `tlssh: ${describeError(err)}` });
      return exitSoon(0);
    }
    master = m;
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { authenticate } = require('./run-client') as typeof import('./run-client');
    const prompt = (question: string): Promise<string> =>
      new Promise((resolve, reject) => {
        answer = (value) => {
          answer = undefined;
          if (value === null) reject(new Error('no password given'));
          else resolve(value);
        };
        tell({ t: 'prompt', question });
      });
    const { MUX_ALPN, openMuxConnection } = require('./mux-connection') as typeof import('./mux-connection');
    const { negotiated } = require('../protocol/alpn') as typeof import('../protocol/alpn');
    // Asked of nobody: a user the certificate cannot name (login-check.ts).
    if (args.noCommand) (require('./login-check') as typeof import('./login-check')).refuseUserTheCertificateCannotName(loaded);
    const { cfg, socket, reconnect } = await authenticate(loaded, args.host, log, loaded.BatchMode ? undefined : prompt, MUX_ALPN);
    if (negotiated(socket.alpnProtocol)?.multiplexed !== true) {
      // A server without the extension: one connection per session, still without a client start-up.
      log.debug?.(`${args.host} does not share connections (${String(socket.alpnProtocol)}): one connection per session`);
      backend.resolve(channelSessions({ host: args.host, user: cfg.User, keepalive: cfg.Keepalive, keepaliveMaxMissed: cfg.ServerAliveCountMax, first: socket, reconnect, log }));
    } else {
      const conn = openMuxConnection(socket, { keepalive: cfg.Keepalive, keepaliveMaxMissed: cfg.ServerAliveCountMax, ...(log.debug2 ? { debug: log.debug2 } : {}) });
      // A master started on its own (-N) is "ready" only once its login is: the client that
      // started it then says why it was refused, instead of returning 0.
      if (args.noCommand) await conn.loggedIn;
      // Without its connection a master has nothing to offer: its sessions end, and so does it.
      conn.once('close', (err) => m.end(`connection to ${args.host} lost${err ? `: ${err.message}` : ''}`));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { multiplexedSessions } = require('./mux-shared-session') as typeof import('./mux-shared-session');
      backend.resolve(multiplexedSessions(conn, cfg.User));
    }
    ready = true;
    tell({ t: 'ready', pid: process.pid });
    ipcOpen = false;
    process.disconnect?.();
    process.title = `tlssh: ${socketPath} [mux]`;
    setComm('tlssh');
    // From now on nobody reads this master's lines; it ends through its socket or its signals.
    log = masterLog(0);
    process.on('SIGTERM', () => m.end('terminated'));
    process.on('SIGHUP', () => undefined);
  } catch (err) {
    backend.reject(err);
    master?.end('failed');
    fail(failureLine(err, log.verbosity > 0));
  }
}

const backend = (() => {
  let resolve!: (b: OpenSession) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<OpenSession>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
})();

/** A session asked for before the connection exists: opened once it does. */
function whenReady(pending: Promise<OpenSession>, request: MuxSessionRequest, io: SharedSessionIo): SharedSession {
  let inner: SharedSession | undefined;
  let aborted = false;
  const opened = pending.then((open) => {
    inner = open(request, io);
    if (aborted) inner.abort();
    return inner;
  });
  const started = opened.then((s) => s.started);
  started.catch(() => undefined);
  const ended = opened.then(
    (s) => s.ended,
    (err: unknown): SharedSessionEnd => ({
      kind: 'failed',
      error: isTlsshError(err) ? err : new TlsshError('TLSSH_ERR_INTERNAL', describeError(err), { cause: err }),
    }),
  );
  return {
    started,
    ended,
    abort: () => {
      aborted = true;
      inner?.abort();
    },
  };
}

function fail(line: string): void {
  tell({ t: 'failed', line });
  exitSoon(255);
}

function exitSoon(status: number): void {
  // Let the IPC message leave before the process does.
  setImmediate(() => process.exit(status));
}

process.on('uncaughtException', (err) => {
  tell({ t: 'failed', line: `tlssh: master: ${isTlsshError(err) ? err.message : describeError(err)}` });
  process.exit(255);
});

