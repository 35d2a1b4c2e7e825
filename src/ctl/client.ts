// One request, one reply over the control socket (doc/CONTROL.md).

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATHS, loadServerConfig } from '../config';
import { DEFAULT_SERVER_CONFIG } from '../config/schema';
import { CONTROL_SOCKET_NAME, MAX_CONTROL_LINE, isControlReply, type ControlReply } from '../server/control-protocol';

/** The socket RuntimeDir names in the server's configuration, or the one given with -S. */
export function controlSocketPath(opts: { configFile?: string; socket?: string }): string {
  if (opts.socket !== undefined) return opts.socket;
  let dir: string;
  try {
    dir = loadServerConfig(opts.configFile !== undefined ? { file: opts.configFile } : {}).RuntimeDir;
  } catch (e) {
    // A config that no longer parses must not keep the administrator from the running daemon
    // (tlsshctl reload then says what tlsshd thinks of it): its RuntimeDir line alone will do.
    const found = runtimeDirLine(opts.configFile ?? DEFAULT_CONFIG_PATHS.serverFile);
    if (found === undefined) throw e;
    dir = found;
  }
  if (!dir) throw new Error('RuntimeDir is empty in the server configuration: tlsshd has no control socket');
  return path.join(dir, CONTROL_SOCKET_NAME);
}

/** The first RuntimeDir of a config file that does not parse, else the default; undefined if unreadable. */
function runtimeDirLine(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^[ \t]*RuntimeDir[ \t]*[ \t=][ \t]*"?([^"\n]*?)"?[ \t]*$/im.exec(text);
  return m?.[1] ?? DEFAULT_SERVER_CONFIG.RuntimeDir;
}

const TIMEOUT_MS = 10_000;

export function controlRequest(socketPath: string, request: Record<string, unknown>): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    let buf = '';
    let done = false;
    const fail = (why: string): void => {
      if (done) return;
      done = true;
      s.destroy();
      reject(new Error(why));
    };
    s.setTimeout(TIMEOUT_MS, () => fail(`${socketPath}: no reply from tlsshd within ${TIMEOUT_MS / 1000}s`));
    s.setEncoding('utf8');
    s.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ENOENT' ? 'no such socket: is tlsshd running, with this RuntimeDir?'
        : e.code === 'ECONNREFUSED' ? 'connection refused: tlsshd is not running'
          : e.code === 'EACCES' ? 'permission denied: tlsshctl must run as root' : e.message;
      fail(`${socketPath}: ${why}`);
    });
    s.on('connect', () => s.write(`${JSON.stringify(request)}\n`));
    s.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 64 * MAX_CONTROL_LINE) fail(`${socketPath}: reply too long`);
        return;
      }
      let reply: unknown;
      try {
        reply = JSON.parse(buf.slice(0, nl));
      } catch {
        return fail(`${socketPath}: the reply is not JSON`);
      }
      if (!isControlReply(reply)) return fail(`${socketPath}: the reply is not a version 1 control reply`);
      done = true;
      s.end();
      resolve(reply);
    });
    s.on('close', () => fail(`${socketPath}: tlsshd closed the connection without a reply`));
  });
}
