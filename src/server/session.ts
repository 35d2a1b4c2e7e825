// The user's process and its relay over the Channel. Runs after the privilege drop, so
// everything here (and everything it spawns) already has the user's uid, gid and groups.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { TlsshError } from '../errors';
import { LIMITS, STREAM, type SessionRequest } from '../protocol/messages';
import { sttyArgsFor } from '../protocol/tty-modes';
import { lastLoginLine, readLastLogin } from './lastlog';
import type { Channel } from '../transport/channel';
import { enterInteractive } from '../jit-tiering';
import type { EarlyInput } from './early-messages';
import type { Logger } from './log';
import type { Account } from './passwd-lookup';
import type { PtyProcess } from './pty-process';
import { closeQuietly, makeCommandPipes, type CommandPipes } from './command-pipes';
import { ptyStdin } from './pty-eof';
import { buildSessionEnv } from './session-env';

/** Signals a client may send, RFC 4254's list. */
const ALLOWED_SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);

const MAX_DIMENSION = 10_000;

/**
 * A session request as it will run: a subsystem's name replaced by its command line, and with
 * ForceCommand the forced command, `originalCommand` then being what would have run instead
 * (SSH_ORIGINAL_COMMAND; "" for a login shell).
 */
export type SessionToRun = SessionRequest & { readonly originalCommand?: string };

export interface SessionOptions {
  channel: Channel;
  account: Account;
  request: SessionToRun;
  acceptEnv: readonly string[];
  /** "client_ip client_port server_ip server_port". */
  connection: string;
  log: Logger;
  /** Window changes and signals that came before the process existed; applied at its start. */
  early?: EarlyInput;
  /** Called with "pts/N" once a PTY session has its terminal. */
  onTty?: (line: string) => void;
  /** The PAM session opened for this login (UsePAM), if any. */
  pam?: { env: readonly string[]; messages: readonly string[] };
  /** PrintLastLog: "Last login: ..." at an interactive login, from lastlog. */
  printLastLog?: boolean;
  /** Given, once the streams exist, a way to write one line of the daemon's own to the user. */
  onOutput?: (write: (line: string) => void) => void;
}

interface Exit {
  code: number | null;
  signal: string | null;
}

function signalName(n: number | string | null | undefined): string | null {
  if (n === null || n === undefined || n === 0) return null;
  if (typeof n === 'string') return n.replace(/^SIG/, '');
  const entry = Object.entries(os.constants.signals).find(([, v]) => v === n);
  return entry ? entry[0].replace(/^SIG/, '') : String(n);
}

function clampDimension(n: number, fallback: number): number {
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_DIMENSION) : fallback;
}

/** The size a terminal starts with: 0 stays 0 (no local terminal). */
function initialDimension(n: number): number {
  return Number.isInteger(n) && n >= 0 ? Math.min(n, MAX_DIMENSION) : 0;
}

/** The home directory when the user can enter it; otherwise "/" and a note, like sshd. */
function workingDirectory(home: string): { cwd: string; note?: string } {
  try {
    if (!fs.statSync(home).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fs.accessSync(home, fs.constants.X_OK);
    return { cwd: home };
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? 'error';
    return { cwd: '/', note: `Could not chdir to home directory ${home}: ${why}` };
  }
}

function waitFinished(w: Writable): Promise<void> {
  if (w.writableFinished || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    w.once('finish', resolve);
    w.once('close', resolve);
    w.once('error', () => resolve());
  });
}

/**
 * Spawns the shell or command and relays until it exits; resolves after exit-status went out and
 * the channel is closing. A lost connection hangs the session up (SIGHUP), like sshd.
 */
export async function runSession(o: SessionOptions): Promise<void> {
  const { channel, account, request, log } = o;
  const started = Date.now();
  const shell = account.shell || '/bin/sh';
  const args: string[] | 'login' = request.command === '' ? 'login' : ['-c', request.command];
  const { cwd, note } = workingDirectory(account.home);
  const env = buildSessionEnv({
    account, shell, term: request.pty ? request.term : undefined, requested: request.env,
    acceptEnv: o.acceptEnv, connection: o.connection, pamEnv: o.pam?.env ?? [],
    ...(request.originalCommand !== undefined ? { originalCommand: request.originalCommand } : {}),
  });

  const stdout = channel.outgoing(STREAM.stdout);
  const stderr = request.pty ? undefined : channel.outgoing(STREAM.stderr);
  if (note) (stderr ?? stdout).write(request.pty ? `${note}\r\n` : `${note}\n`);
  // Lines from the daemon itself (the certificate expiry warning) on the user's terminal or stderr.
  o.onOutput?.((line) => {
    const w = stderr ?? stdout;
    if (!w.writableEnded && !w.destroyed) w.write(request.pty ? `${line}\r\n` : `${line}\n`);
  });
  const banner = loginMessages(o);
  if (banner) stdout.write(banner);

  let exit: Exit;
  if (request.pty) exit = await runPty(o, shell, args, cwd, env, stdout);
  else exit = await runPipes(o, shell, args, cwd, env, stdout, stderr!);

  stdout.end();
  stderr?.end();
  await Promise.all([waitFinished(stdout), stderr ? waitFinished(stderr) : Promise.resolve()]);
  // The one line an administrator looks for at the end: how it ended and how long it lasted.
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  // The status goes out before the line is logged: the client is waiting for it, the log is not.
  channel.send({ type: 'exit-status', code: exit.signal ? null : exit.code ?? 0, signal: exit.signal, coreDumped: false });
  log.info(`session closed: ${exit.signal ? `killed by signal ${exit.signal}` : `exit status ${exit.code ?? 0}`}, duration ${seconds}s`);
  channel.close();
}

/**
 * What PAM's modules said (motd, account warnings), then sshd's "Last login" line (PrintLastLog),
 * shown like sshd shows them: on an interactive login with a terminal only, and not when
 * ~/.hushlogin exists. Read as the user: lastlog is readable by all. The listener writes this
 * login's record only once the terminal exists, so what is read here is the one before.
 */
function loginMessages(o: SessionOptions): string {
  if (!o.request.pty || o.request.command !== '') return '';
  const texts = [...(o.pam?.messages ?? [])];
  const last = o.printLastLog === true ? readLastLogin(o.account.uid) : undefined;
  if (last) texts.push(lastLoginLine(last));
  if (texts.length === 0) return '';
  if (fs.existsSync(`${o.account.home.replace(/\/+$/, '')}/.hushlogin`)) return '';
  return texts.map((t) => `${t.replace(/\r?\n/g, '\r\n')}\r\n`).join('');
}

/**
 * A login shell is started as sshd starts it: no arguments, and "-" before its name as argv[0]
 * ("-bash"). That is how bash, zsh and dash know they are login shells, and how git-shell and
 * other restricted shells tell an interactive login from `-c command`; `-l` they do not all take.
 */
function loginArgv0(shell: string): string {
  return `-${shellName(shell)}`;
}

function shellName(shell: string): string {
  return shell.slice(shell.lastIndexOf('/') + 1);
}

const BASH = '/bin/bash';

/**
 * SSH_TTY must name the terminal, which exists only once node-pty has forked the command on it.
 * So a PTY session starts through a shell that sets SSH_TTY from tty(1) and execs the session's
 * shell (one extra exec and one fork, a few ms, on terminal sessions only). node-pty cannot set
 * argv[0], so this goes through bash, whose `exec -a` can (bash is essential on Debian; where it
 * is missing a login shell gets -l instead and a command's shell its path as its name). SHLVL is
 * unset so that the session shell's is 1.
 */
function withSshTty(shell: string, args: string[] | 'login', modes: ReadonlyArray<readonly [number, number]> = []): { file: string; args: string[] } {
  // The client's terminal modes (tlssh/3), set here on the new terminal before the shell starts
  // (node-pty forks with fixed ones): one more exec, only when the client sent modes. The words
  // are names and numbers sttyArgsFor made, never the peer's text; a failure leaves the defaults.
  const stty = sttyArgsFor(modes);
  const setModes = stty.length > 0 ? `/bin/stty ${stty.join(' ')} 2>/dev/null;` : '';
  const setTty = `${setModes}SSH_TTY=$(/usr/bin/tty 2>/dev/null) && export SSH_TTY || unset SSH_TTY;`;
  if (fs.existsSync(BASH)) {
    // exec -a: argv[0] as sshd sets it, "-bash" for a login and "bash" for a command.
    if (args === 'login') return { file: BASH, args: ['-c', `${setTty} unset SHLVL; exec -a "$1" "$0"`, shell, loginArgv0(shell)] };
    return { file: BASH, args: ['-c', `${setTty} unset SHLVL; name=$1; shift; exec -a "$name" "$0" "$@"`, shell, shellName(shell), ...args] };
  }
  return { file: '/bin/sh', args: ['-c', `${setTty} exec "$0" "$@"`, shell, ...(args === 'login' ? ['-l'] : args)] };
}

/**
 * To the session's process group (doc/PROTOCOL.md, signal), as a terminal's ^C reaches every
 * process of its foreground job: `sleep 60; echo after` or `tail -f log | grep x` then end on the
 * first interrupt, where the shell alone would wait for its child and carry on. Every session is
 * a process group of its own (its command is started detached, node-pty's with setsid).
 */
function deliverSignal(pid: number | undefined, name: string, log: Logger): void {
  if (!ALLOWED_SIGNALS.has(name) || pid === undefined) {
    log.verbose(`ignoring request for signal ${name}`);
    return;
  }
  const signal = `SIG${name}` as NodeJS.Signals;
  try {
    process.kill(-pid, signal);
  } catch {
    // A PTY child just forked may not have made its own group yet: the process itself, then.
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

async function runPty(o: SessionOptions, shell: string, args: string[] | 'login', cwd: string, env: Record<string, string>, stdout: Writable): Promise<Exit> {
  const { channel, request, log } = o;
  // Loaded only for PTY sessions: exec-only logins never pay for the native module.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawnPty } = require('./pty-process') as typeof import('./pty-process');
  // A window change right behind the request is the size the terminal starts with.
  const early = o.early?.windowSize;
  // 0x0 as the client sent it: a client with no local terminal (-tt from a script), as sshd
  // takes it from ssh. Only a window change, which needs a real size, replaces a size later.
  let cols = clampDimension(early?.cols ?? 0, initialDimension(request.cols));
  let rows = clampDimension(early?.rows ?? 0, initialDimension(request.rows));
  let term: PtyProcess;
  try {
    const start = withSshTty(shell, args, request.modes);
    term = spawnPty(start.file, start.args, {
      cwd,
      // PWD as node-pty's own spawn has always set it for PTY sessions.
      env: { ...env, PWD: cwd },
      cols,
      rows,
    });
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_PTY', `cannot start ${shell} on a pty: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const line = term.ttyPath.replace(/^\/dev\//, '');
  log.verbose(`started ${request.command === '' ? 'login shell' : 'command'} on ${line} (pid ${term.pid})`);
  enterInteractive((l) => log.debug(l));
  o.onTty?.(line);

  // stdout stays open here: runSession ends it once the exit is known, before the exit status.
  term.output.pipe(stdout, { end: false });
  // The client's end of input becomes the terminal's EOF character, as a user would type it.
  channel.incoming(STREAM.stdin, ptyStdin(term.input, term.ttyPath, (b) => log.debug(`stdin eof: ${b.length} x VEOF`)));
  let hangUpAtOutput = false;
  const onMessage = (msg: import('../protocol/messages').Message): void => {
    if (msg.type === 'window-change') {
      cols = clampDimension(msg.cols, cols);
      rows = clampDimension(msg.rows, rows);
      term.resize(cols, rows);
    } else if (msg.type === 'signal') {
      deliverSignal(term.pid, msg.name, log);
      // The client's reader has gone (`tlssh -tt host cmd | head -1`): nothing the terminal shows
      // reaches anybody. A program that ignores SIGPIPE and writes on is hung up, as a lost
      // connection would, at its next output.
      if (msg.name === 'PIPE' && !hangUpAtOutput) {
        hangUpAtOutput = true;
        term.output.once('data', onLost);
      }
    }
  };
  const onLost = (): void => {
    // Like sshd: SIGHUP to the shell and a hung-up terminal for whatever else still holds it.
    hangUp(() => process.kill(term.pid, 'SIGHUP'));
    void term.close();
  };
  channel.on('message', onMessage);
  for (const name of o.early?.signals ?? []) deliverSignal(term.pid, name, log);
  channel.once('close', onLost);
  // The session is over when the shell has exited and what it wrote has been passed on.
  const [exit] = await Promise.all([term.exited, finished(term.output).catch(() => undefined)]);
  channel.off('message', onMessage);
  channel.off('close', onLost);
  await term.close();
  return { code: exit.code, signal: signalName(exit.signal) };
}

/** The command's three streams as the worker sees them. */
interface CommandStreams {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
}

function closePipes(f: CommandPipes): void {
  for (const e of [f.stdin, f.stdout, f.stderr]) {
    closeQuietly(e.child);
    closeQuietly(e.ours);
  }
}

/** Our ends of the command's pipes, once it has its own (whose copies here are closed). */
function pipeStreams(f: CommandPipes): CommandStreams {
  for (const e of [f.stdin, f.stdout, f.stderr]) closeQuietly(e.child);
  return {
    stdin: new net.Socket({ fd: f.stdin.ours, readable: false, writable: true }),
    stdout: new net.Socket({ fd: f.stdout.ours, readable: true, writable: false }),
    stderr: new net.Socket({ fd: f.stderr.ours, readable: true, writable: false }),
  };
}

function runPipes(o: SessionOptions, shell: string, args: string[] | 'login', cwd: string, env: Record<string, string>, stdout: Writable, stderr: Writable): Promise<Exit> {
  const { channel, log } = o;
  // Pipes as sshd gives them (command-pipes.ts); socketpairs without the addon.
  const pipes = makeCommandPipes();
  let child: ChildProcess;
  try {
    // detached: its own session and process group, as sshd gives every session.
    child = spawn(shell, args === 'login' ? [] : args, {
      cwd, env, stdio: pipes ? [pipes.stdin.child, pipes.stdout.child, pipes.stderr.child] : ['pipe', 'pipe', 'pipe'], detached: true,
      // As sshd: "-bash" for a login, "bash" (not its path) for a command, which is what the
      // shell's own messages then start with ("bash: line 1: nosuch: command not found").
      argv0: args === 'login' ? loginArgv0(shell) : shellName(shell),
    });
  } catch (e) {
    if (pipes) closePipes(pipes);
    throw new TlsshError('TLSSH_ERR_SPAWN', `cannot start ${shell}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const streams: CommandStreams = pipes
    ? pipeStreams(pipes)
    : { stdin: child.stdin as Writable, stdout: child.stdout as Readable, stderr: child.stderr as Readable };
  const { stdin } = streams;
  stdin.on('error', () => {
    // EPIPE: the command stopped reading; what the client still sends is dropped.
  });
  // What one socket read brought goes into the command's stdin in one write (channel.ts).
  channel.incoming(STREAM.stdin, stdin, { coalesce: true });
  streams.stdout.pipe(stdout);
  streams.stderr.pipe(stderr);
  if (pipes) {
    // A destination that is gone (the channel closed) unpipes and leaves our reader paused: what
    // is left is thrown away, so that its end comes and the session can finish.
    stdout.once('close', () => streams.stdout.resume());
    stderr.once('close', () => streams.stderr.resume());
  }
  const onMessage = (msg: import('../protocol/messages').Message): void => {
    if (msg.type !== 'signal') return;
    // PIPE is what a client sends when the reader of its output has gone (`tlssh host cmd | head
    // -1`). A command that ignores SIGPIPE (Python, Node, many daemons) would write on for ever
    // into a client that throws the bytes away; closing our end of its stdout gives it the EPIPE
    // a local pipeline would, as sshd's closed channel does.
    if (msg.name === 'PIPE' && !streams.stdout.destroyed) {
      log.debug('the client\'s reader has gone: closing the command\'s stdout');
      streams.stdout.unpipe(stdout);
      streams.stdout.destroy();
      if (!stdout.writableEnded) stdout.end();
    }
    // Once reaped, its pid may be another process's: a job it left behind keeps the session open.
    if (child.exitCode !== null || child.signalCode !== null) log.verbose(`ignoring signal ${msg.name}: the command has exited`);
    else deliverSignal(child.pid, msg.name, log);
  };
  channel.on('message', onMessage);
  for (const name of o.early?.signals ?? []) deliverSignal(child.pid, name, log);
  channel.once('close', () => hangUp(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGHUP');
  }));
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      if (pipes) for (const s of [streams.stdin, streams.stdout, streams.stderr]) s.destroy();
      reject(new TlsshError('TLSSH_ERR_SPAWN', `cannot start ${shell}: ${e.message}`, { cause: e }));
    });
    // 'close' rather than 'exit': all output has been read by then. Node waits for the streams
    // it made (and ends the stdin it made); for pipes of ours, the session does both itself.
    child.once('close', (code, signal) => {
      if (pipes) streams.stdin.destroy();
      const output = pipes ? [streams.stdout, streams.stderr].map((s) => finished(s).catch(() => undefined)) : [];
      void Promise.all(output).then(() => {
        channel.off('message', onMessage);
        resolve({ code, signal: signalName(signal) });
      });
    });
  });
}

function hangUp(fn: () => void): void {
  try {
    fn();
  } catch {
    // The process is already gone.
  }
}

export const SESSION_WINDOW = LIMITS.defaultWindow;
