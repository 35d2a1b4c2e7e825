// The listener's control socket: RuntimeDir/control.sock, a Unix socket for tlsshctl.
//
// Only root may use it. Node cannot read SO_PEERCRED, so the check is the file system's: the
// socket is made 0600 (umask set around bind(), chmod after) inside RuntimeDir, which is 0700
// and root's (checkRuntimeDir at start). Requests are still parsed as hostile
// (control-protocol.ts): one line at a time, at most MAX_CONTROL_LINE bytes, each answered.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { probeControlSocket } from '../client/control-socket';
import { TlsshError } from '../errors';
import { CONTROL_SOCKET_NAME, MAX_CONTROL_LINE, errorReply, parseControlRequest, type ControlReply, type ControlRequest } from './control-protocol';

export type ControlHandler = (req: ControlRequest) => ControlReply | Promise<ControlReply>;

/** Connections at once: an administrator's tools, never many. */
const MAX_CLIENTS = 16;
/**
 * A connection that sends no request for this long is closed: tlsshctl sends its one at once, and
 * MAX_CLIENTS idle connections would otherwise lock every tlsshctl out for as long as they stay.
 */
export const CONTROL_IDLE_MS = 30_000;
/** Requests read ahead of their replies; beyond it the socket is not read until they are answered. */
const MAX_PENDING = 4;
/** Reply bytes the peer has not taken; beyond it no request is answered until it takes them. */
const MAX_UNSENT = 1024 * 1024;

/**
 * Whether another tlsshd is running with this RuntimeDir: its control socket accepts a
 * connection. A socket nobody listens on (a listener that was killed) is stale, and is replaced.
 */
export async function controlSocketAnswers(runtimeDir: string): Promise<boolean> {
  const probe = await probeControlSocket(path.join(runtimeDir, CONTROL_SOCKET_NAME));
  if (probe.state !== 'live') return false;
  probe.socket.destroy();
  return true;
}

export async function startControlSocket(
  runtimeDir: string, handle: ControlHandler, onError: (message: string) => void, idleMs: number = CONTROL_IDLE_MS,
): Promise<{ path: string; close(): void }> {
  const file = path.join(runtimeDir, CONTROL_SOCKET_NAME);
  // A socket left by a previous tlsshd; anything else of that name is not ours to remove.
  try {
    if (fs.lstatSync(file).isSocket()) fs.unlinkSync(file);
  } catch {
    // absent
  }
  const server = net.createServer((s) => serveClient(s, handle, onError, idleMs));
  server.maxConnections = MAX_CLIENTS;
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new TlsshError('TLSSH_ERR_LISTEN', `cannot listen on control socket ${file}: ${e.message}`, { cause: e })));
      server.listen(file, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  fs.chmodSync(file, 0o600);
  server.on('error', (e) => onError(`control socket: ${e.message}`));
  return {
    path: file,
    close: () => {
      server.close();
      try {
        fs.unlinkSync(file);
      } catch {
        // gone already
      }
    },
  };
}

/**
 * One connection: requests answered in order, one line each. What a peer that sends without
 * reading can make the listener hold is bounded: at most MAX_PENDING requests past the one being
 * answered, and MAX_UNSENT bytes of replies; beyond either, the socket is not read.
 */
function serveClient(s: net.Socket, handle: ControlHandler, onError: (message: string) => void, idleMs: number): void {
  let buf = '';
  let pending = 0;
  let busy = Promise.resolve();
  s.setEncoding('utf8');
  s.setTimeout(idleMs, () => s.destroy());
  s.on('error', () => s.destroy());
  const reply = async (r: ControlReply): Promise<void> => {
    if (s.destroyed) return;
    if (!s.write(`${JSON.stringify(r)}\n`) && s.writableLength > MAX_UNSENT) {
      await new Promise<void>((resolve) => {
        // Each wait takes its listeners away again: a peer that keeps the replies backed up
        // would otherwise pile a 'close' listener per reply onto its socket.
        const done = (): void => {
          s.off('drain', done);
          s.off('close', done);
          resolve();
        };
        s.once('drain', done);
        s.once('close', done);
      });
    }
  };
  const pump = (): void => {
    let nl: number;
    while (pending < MAX_PENDING && (nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (Buffer.byteLength(line) > MAX_CONTROL_LINE) return tooLong();
      if (line.trim() === '') continue;
      pending++;
      // Replies go out in request order.
      busy = busy.then(async () => {
        const req = parseControlRequest(line);
        if ('ok' in req) return reply(req);
        try {
          await reply(await handle(req));
        } catch (e) {
          onError(`control request ${req.op} failed: ${e instanceof Error ? e.message : String(e)}`);
          await reply(errorReply('internal', `${req.op} failed`));
        }
      }).finally(() => {
        pending--;
        pump();
      });
    }
    // Only the line still being received counts against the limit; whole ones wait their turn.
    if (Buffer.byteLength(buf.slice(buf.lastIndexOf('\n') + 1)) > MAX_CONTROL_LINE) return tooLong();
    if (pending >= MAX_PENDING || buf.includes('\n')) s.pause();
    else s.resume();
  };
  s.on('data', (chunk: string) => {
    buf += chunk;
    pump();
  });
  function tooLong(): void {
    buf = '';
    s.removeAllListeners('data');
    s.end(`${JSON.stringify(errorReply('too-long', `request line longer than ${MAX_CONTROL_LINE} bytes`))}\n`);
  }
}
