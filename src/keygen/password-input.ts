// Passwords never come from argv (any user can read /proc/PID/cmdline). They come from a file
// descriptor, an environment variable, or /dev/tty with echo off, in that order.

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { TlsshError } from '../errors';

export interface PasswordSource {
  /** Environment variable consulted when no descriptor is given, e.g. TLSSH_KEY_PASSWORD. */
  readonly envName: string;
  /** --password-fd N: read up to the first newline or end of file. */
  readonly fd?: number;
  /** What the prompt asks for, e.g. "Enter TPM key password". */
  readonly label: string;
  /** Which option to name when there is no terminal. */
  readonly fdOption: string;
}

const MAX_PASSWORD = 1024;

/** True when a non-interactive source (descriptor or environment) is set. */
export function hasScriptedPassword(src: PasswordSource, env: NodeJS.ProcessEnv = process.env): boolean {
  return src.fd !== undefined || env[src.envName] !== undefined;
}

export function readPasswordFd(fd: number, what: string): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(256);
  let total = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        // A non-blocking descriptor with nothing yet: wait a little rather than spin.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      throw new TlsshError('TLSSH_ERR_USAGE', `cannot read the ${what} from file descriptor ${fd}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
    total += n;
    if (buf.subarray(0, n).includes(0x0a)) break;
    if (total > MAX_PASSWORD) throw new TlsshError('TLSSH_ERR_USAGE', `the ${what} on file descriptor ${fd} is longer than ${MAX_PASSWORD} bytes`);
  }
  buf.fill(0);
  const text = Buffer.concat(chunks).toString('utf8');
  const nl = text.indexOf('\n');
  return (nl >= 0 ? text.slice(0, nl) : text).replace(/\r$/, '');
}

/** One line from /dev/tty with echo off. Rejects with TLSSH_ERR_USAGE when there is no terminal or on ^C/^D. */
export async function promptTty(prompt: string, missingHint: string): Promise<string> {
  let inFd: number;
  let outFd: number;
  try {
    inFd = openSync('/dev/tty', 'r');
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_USAGE', `no terminal to ask for the password: ${missingHint}`, { cause: e });
  }
  try {
    outFd = openSync('/dev/tty', 'w');
  } catch (e) {
    closeSync(inFd);
    throw new TlsshError('TLSSH_ERR_USAGE', `no terminal to ask for the password: ${missingHint}`, { cause: e });
  }
  // The stream owns inFd from here on and closes it when destroyed.
  const input = new ReadStream(inFd);
  input.setRawMode(true);
  writeSync(outFd, prompt);
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const finish = (err?: TlsshError): void => {
        input.removeListener('data', onData);
        writeSync(outFd, '\r\n');
        if (err) reject(err);
        else resolve(line);
      };
      const onData = (data: Buffer): void => {
        for (const ch of data.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return finish();
          if (ch === '\u0003') return finish(new TlsshError('TLSSH_ERR_USAGE', 'interrupted'));
          if (ch === '\u0004') {
            if (line === '') return finish(new TlsshError('TLSSH_ERR_USAGE', 'no password given (end of input)'));
            return finish();
          }
          if (ch === '\u007f' || ch === '\b') line = [...line].slice(0, -1).join('');
          else if (ch === '\u0015') line = '';
          else if (ch >= ' ' && line.length < MAX_PASSWORD) line += ch;
        }
      };
      input.on('data', onData);
    });
  } finally {
    input.setRawMode(false);
    input.pause();
    input.destroy();
    closeSync(outFd);
  }
}

/** The password for an existing key or parent: descriptor, then environment, then one prompt. */
export async function obtainPassword(src: PasswordSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (src.fd !== undefined) return readPasswordFd(src.fd, src.label.toLowerCase());
  const fromEnv = env[src.envName];
  if (fromEnv !== undefined) return fromEnv;
  return promptTty(`${src.label}: `, `set ${src.envName} or use ${src.fdOption}`);
}

/** A new password: from a script as above, or typed twice on the terminal and compared. */
export async function obtainNewPassword(src: PasswordSource, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (hasScriptedPassword(src, env)) return obtainPassword(src, env);
  const hint = `set ${src.envName} or use ${src.fdOption}`;
  const first = await promptTty(`${src.label} (empty for no password): `, hint);
  const second = await promptTty(`${src.label} again: `, hint);
  if (first !== second) throw new TlsshError('TLSSH_ERR_USAGE', 'passwords do not match');
  return first;
}
