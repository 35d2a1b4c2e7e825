// Asks the person at the controlling terminal for a password, without echo. It reads /dev/tty
// rather than stdin so that it works in `tlssh host cmd < data`, and it refuses clearly when
// there is no terminal at all (cron, a CI job) rather than hanging or reading a pipe.

import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { TlsshError } from '../errors';
import { onExitCleanup, raise } from './exit-guards';

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const CTRL_U = 0x15;
const DEL = 0x7f;

/** The longest answer kept; more is almost certainly a paste gone wrong. */
const MAX_PASSWORD = 1024;

/** ^C at the prompt: the terminal is raw, so it arrives as a byte rather than as SIGINT. */
export class PromptInterrupted extends TlsshError {
  constructor() {
    super('TLSSH_ERR_TTY', 'password entry interrupted');
  }
}

/**
 * tlssh's own prompt: as promptPassword, but ^C ends tlssh as ssh's readpassphrase does, by
 * sending itself SIGINT once the terminal is restored. tlssh then dies of it (exit-guards.ts), so
 * the shell that ran it sees ^C and not a failure.
 */
export async function askOnTerminal(prompt: string): Promise<string> {
  try {
    return await promptPassword(prompt);
  } catch (e) {
    if (!(e instanceof PromptInterrupted)) throw e;
    raise('SIGINT');
    // The signal's handler ends the process; nothing after the prompt may run meanwhile.
    return new Promise<string>(() => undefined);
  }
}

export async function promptPassword(prompt: string, ttyPath = '/dev/tty'): Promise<string> {
  let fd: number;
  try {
    fd = fs.openSync(ttyPath, 'r+');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new TlsshError('TLSSH_ERR_TTY', `cannot ask "${prompt.trim()}": no terminal to read a password from (${code})`, { cause: e });
  }
  if (!tty.isatty(fd)) {
    fs.closeSync(fd);
    throw new TlsshError('TLSSH_ERR_TTY', `cannot ask "${prompt.trim()}": ${ttyPath} is not a terminal`);
  }
  const input = new tty.ReadStream(fd);
  // Raw mode, so no echo and no line discipline; undone on every exit path, a signal included.
  const restore = (): void => {
    try {
      input.setRawMode(false);
    } catch {
      // The terminal went away.
    }
  };
  const unregister = onExitCleanup(restore);
  input.setRawMode(true);
  try {
    fs.writeSync(fd, prompt);
    return await readSecret(input);
  } finally {
    restore();
    unregister();
    try {
      fs.writeSync(fd, '\r\n');
    } catch {
      // As above.
    }
    input.destroy();
  }
}

function readSecret(input: tty.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let chars: number[] = [];
    const done = (err: TlsshError | undefined): void => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      input.pause();
      const answer = Buffer.from(chars).toString('utf8');
      chars.fill(0);
      chars = [];
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: Buffer): void => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return done(undefined);
        if (byte === CTRL_C) return done(new PromptInterrupted());
        if (byte === CTRL_D) {
          if (chars.length === 0) return done(new TlsshError('TLSSH_ERR_TTY', 'password entry ended without a password'));
          return done(undefined);
        }
        if (byte === BACKSPACE || byte === DEL) {
          // Drop the last UTF-8 character, continuation bytes included.
          while (chars.length > 0 && (chars[chars.length - 1]! & 0xc0) === 0x80) chars.pop();
          chars.pop();
        } else if (byte === CTRL_U) {
          chars.fill(0);
          chars = [];
        } else if (chars.length < MAX_PASSWORD) {
          chars.push(byte);
        }
      }
    };
    const onEnd = (): void => done(new TlsshError('TLSSH_ERR_TTY', 'terminal closed during password entry'));
    const onError = (e: Error): void => done(new TlsshError('TLSSH_ERR_TTY', `reading the terminal failed: ${e.message}`, { cause: e }));
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
    input.resume();
  });
}
