// Whether this tlssh runs its session through a connection-sharing master, and which one,
// decided with ssh's rules before any TLS or TPM code is loaded:
//   ControlPath none, or -G: no sharing (the full client).
//   ControlMaster no|auto|autoask: a live master at ControlPath serves the session. With no
//     master there, "no" connects directly; auto/autoask start one (a stale socket is replaced).
//   ControlMaster yes|ask (-M, -MM): start a master; if one already holds the path, ssh says so
//     and connects directly, and so does tlssh.
//   -O check|exit|stop: talk to the master only.
// A master is its own detached process (master-main.ts) that this client then uses like any other.

import * as fs from 'node:fs';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { loadClientConfig } from '../config/load-client-config';
import type { ClientConfig } from '../config/types';
import { EXIT_TLSSH_FAILURE, describeError } from '../errors';
import { NODE_TRUST_FLAG } from '../launcher/node-trust-flag';
import type { ClientArgs, ControlCommand } from './cli-args';
import { checkControlDir, probeControlSocket } from './control-socket';
import { controlPathContext, expandControlPath } from './control-path';
import { failureLine } from './exit-status';
import type { MasterMessage, SpawnerMessage } from './master-main';
import { MUX, MUX_VERSION, MuxDecoder, encodeJson, parseReply } from './mux-frames';
import { createLog, writeStderrLine, type Log } from './stderr-log';

export interface RouteContext {
  args: ClientArgs;
  env: NodeJS.ProcessEnv;
  /** The process's own command line after the script, handed to a master it starts. */
  argv: readonly string[];
  onVerbosity?: (verbosity: number) => void;
  /** Given the configuration once it loaded, so a direct connection need not read it again. */
  onConfig?: (cfg: ClientConfig) => void;
}

/** The exit status of a shared session or -O command, or undefined: connect directly. */
export async function runThroughMaster(ctx: RouteContext): Promise<number | undefined> {
  const { args } = ctx;
  if (args.dumpConfig) return undefined;
  let loaded: ClientConfig;
  let socketPath: string | undefined;
  try {
    loaded = loadClientConfig({ file: args.configFile, overrides: args.overrides, flagOverrides: args.flagOverrides, host: args.host });
    ctx.onConfig?.(loaded);
  } catch (err) {
    // The full client reports configuration problems with every detail; -O has nothing else to do.
    if (!args.controlCommand) return undefined;
    writeStderrLine(failureLine(err, args.verbose > 0));
    return EXIT_TLSSH_FAILURE;
  }
  try {
    socketPath = expandControlPath(loaded.ControlPath, controlPathContext(loaded));
  } catch (err) {
    // A ControlPath that cannot be a socket (too long, an unknown %-token) is an error, as in
    // ssh: connecting directly instead would leave `tlssh -fNM` saying 0 with no master.
    writeStderrLine(failureLine(err, args.verbose > 0));
    return EXIT_TLSSH_FAILURE;
  }
  const log = createLog(args.verbose, loaded.LogLevel);
  ctx.onVerbosity?.(log.verbosity);
  // Said here, once: a direct connection goes on with this same configuration (run-client.ts).
  for (const w of loaded.warnings) log.info(w);
  if (socketPath) {
    // A master refuses such a directory, so whatever answers in it is someone else's: a fake
    // master would be handed the session, its stdin (a sudo password) and its output.
    try {
      checkControlDir(socketPath);
    } catch (err) {
      if (args.controlCommand) {
        writeStderrLine(failureLine(err, args.verbose > 0));
        return EXIT_TLSSH_FAILURE;
      }
      // The words a master started there would send back (master-main.ts), as ssh connects
      // directly then; and what that means, since it is not what ssh would have done with it.
      log.info(`tlssh: ${describeError(err)}; connecting without sharing`);
      return undefined;
    }
  }
  if (args.controlCommand) {
    if (!socketPath) {
      log.error('tlssh: -O needs a ControlPath (-S PATH or -o ControlPath=PATH)');
      return EXIT_TLSSH_FAILURE;
    }
    return controlCommand(socketPath, args.controlCommand, log);
  }
  const mode = loaded.ControlMaster;
  if (args.background && (!socketPath || mode === 'no')) {
    log.error('tlssh: -f -N starts a connection-sharing master in the background: it needs -M (or ControlMaster) and a ControlPath (-S)');
    return EXIT_TLSSH_FAILURE;
  }
  if (!socketPath) return undefined;
  if (mode !== 'yes' && mode !== 'ask') {
    const probing = probeControlSocket(socketPath);
    // The session's code is loaded while the kernel connects: the connection is reported one
    // event-loop turn later, and a turn spent idle is time added to every shared session.
    if (!args.noCommand) sessionCode();
    const probe = await probing;
    if (probe.state === 'live') return session(probe.socket, socketPath, ctx, loaded, log);
    log.debug?.(`Control socket connect(${socketPath}): ${socketError(probe.why)}`);
    if (mode === 'no') return undefined;
  }
  const started = await startMaster(socketPath, ctx, loaded, log);
  if (started.kind === 'failed') {
    log.error(started.line);
    return EXIT_TLSSH_FAILURE;
  }
  if (started.kind === 'socket-failed') {
    // Another client may have just become master (parallel Ansible forks): use it when it is there.
    const probe = await probeControlSocket(socketPath);
    if (probe.state === 'live' && mode !== 'yes' && mode !== 'ask') return session(probe.socket, socketPath, ctx, loaded, log);
    if (probe.state === 'live') probe.socket.destroy();
    log.info(started.line);
    return undefined;
  }
  if (args.noCommand) {
    log.debug?.(`-N: master pid ${started.pid} is running`);
    return 0;
  }
  const probe = await probeControlSocket(socketPath);
  if (probe.state !== 'live') {
    log.error(`tlssh: the master started for ${socketPath} does not answer (${socketError(probe.why)})`);
    return EXIT_TLSSH_FAILURE;
  }
  return session(probe.socket, socketPath, ctx, loaded, log, started.own);
}

async function session(socket: Socket, socketPath: string, ctx: RouteContext, cfg: ClientConfig, log: Log, own?: string): Promise<number> {
  if (ctx.args.noCommand) {
    // -N: ssh keeps the connection for forwardings; with a master there is nothing more to do.
    socket.destroy();
    return 0;
  }
  return sessionCode().runSharedSession(socket, socketPath, ctx.args, cfg, ctx.env, log, own);
}

/** The shared session's code, loaded on first use: -O and the master's start never need it. */
function sessionCode(): typeof import('./mux-client') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./mux-client') as typeof import('./mux-client');
}

/** `own`: the token this client gave the master, so its own session is not put to ControlMaster ask. */
type StartResult = { kind: 'ready'; pid: number; own: string } | { kind: 'socket-failed'; line: string } | { kind: 'failed'; line: string };

/** Where the master's program is: beside this bundle (dist/bundle) or this file (dist/src/client). */
function masterEntry(): string {
  const bundled = path.join(__dirname, 'tlssh-master-main.js');
  return fs.existsSync(bundled) ? bundled : path.join(__dirname, 'master-main.js');
}

/** Node's arguments for the master: it makes the TLS connection, so it starts as bin/tlssh does. */
export function masterArgv(): string[] {
  return [NODE_TRUST_FLAG, masterEntry()];
}

function startMaster(socketPath: string, ctx: RouteContext, cfg: ClientConfig, log: Log): Promise<StartResult> {
  const env = { ...ctx.env };
  // As bin/tlssh: the system CA list is never used, and parsing it costs every start tens of ms.
  delete env['NODE_EXTRA_CA_CERTS'];
  log.debug?.(`starting a connection-sharing master for ${socketPath} (ControlPersist ${cfg.ControlPersist})`);
  // Detached (its own session, no terminal) and with stdio on /dev/null, as ssh's backgrounded
  // master: it must not hold the caller's pipes (Ansible reads stderr to its end).
  // Loaded here, not at the top: a client of a running master never needs it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(process.execPath, masterArgv(), { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env, cwd: '/' });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const own = (require('node:crypto') as typeof import('node:crypto')).randomBytes(16).toString('hex');
  return new Promise((resolve) => {
    let settled = false;
    const settle = (r: StartResult): void => {
      if (settled) return;
      settled = true;
      child.removeAllListeners();
      child.unref();
      if (child.connected) child.disconnect();
      resolve(r);
    };
    child.on('message', (m: MasterMessage) => {
      switch (m.t) {
        case 'debug':
          writeStderrLine(m.line);
          return;
        case 'prompt':
          void answerPrompt(m.question).then((value) => {
            const reply: SpawnerMessage = { t: 'answer', value };
            if (child.connected) child.send(reply);
          });
          return;
        case 'ready':
          return settle({ kind: 'ready', pid: m.pid, own });
        case 'socket-failed':
          return settle({ kind: 'socket-failed', line: m.line });
        case 'failed':
          return settle({ kind: 'failed', line: m.line });
      }
    });
    child.once('error', (err) => settle({ kind: 'failed', line: `tlssh: cannot start the master: ${err.message}` }));
    child.once('exit', (code, signal) => settle({ kind: 'failed', line: `tlssh: the master ended before it was ready (${signal ?? `status ${code}`})` }));
    const start: SpawnerMessage = { t: 'start', argv: [...ctx.argv], socketPath, cwd: process.cwd(), own };
    child.send(start);
  });
}

/** A question from the master (a key password): asked on this client's terminal, which the master has not. */
async function answerPrompt(question: string): Promise<string | null> {
  try {
    const { askOnTerminal } = await import('./password-prompt');
    return await askOnTerminal(question);
  } catch {
    return null;
  }
}

const CONTROL_DONE: Record<ControlCommand, (pid: number) => string> = {
  check: (pid) => `Master running (pid=${pid})`,
  exit: () => 'Exit request sent.',
  stop: () => 'Stop listening request sent.',
};

async function controlCommand(socketPath: string, op: ControlCommand, log: Log): Promise<number> {
  const probe = await probeControlSocket(socketPath);
  if (probe.state !== 'live') {
    log.error(`Control socket connect(${socketPath}): ${socketError(probe.why)}`);
    return EXIT_TLSSH_FAILURE;
  }
  const socket = probe.socket;
  socket.write(encodeJson(MUX.hello, { v: MUX_VERSION, op }));
  return new Promise((resolve) => {
    const decoder = new MuxDecoder();
    let done = false;
    const finish = (status: number, line: string): void => {
      if (done) return;
      done = true;
      socket.destroy();
      // ssh prints these whatever the LogLevel: they are the command's answer.
      writeStderrLine(line);
      resolve(status);
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of decoder.push(chunk)) {
          if (f.type !== MUX.reply) continue;
          const r = parseReply(f.payload);
          return r.ok ? finish(0, CONTROL_DONE[op](r.pid)) : finish(EXIT_TLSSH_FAILURE, `tlssh: ${r.message}`);
        }
      } catch (err) {
        finish(EXIT_TLSSH_FAILURE, `tlssh: bad reply from the master at ${socketPath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    socket.on('error', () => undefined);
    socket.once('close', () => finish(EXIT_TLSSH_FAILURE, `tlssh: the master at ${socketPath} closed without answering`));
  });
}

/** ssh's words (strerror) for why the control socket did not answer. */
function socketError(why: string): string {
  return why === 'ENOENT' ? 'No such file or directory' : why === 'ECONNREFUSED' ? 'Connection refused' : why === 'EACCES' ? 'Permission denied' : why;
}
