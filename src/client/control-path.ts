// ControlPath's %-tokens, expanded as ssh_config(5) does once the destination is known:
//   %h host name to connect to (HostName)   %n host as typed     %p port
//   %r remote user (the local one when User is unset, as in ssh)  %u local user
//   %l local host name (short)   %L local host name, first label  %d home directory
//   %i local uid   %C SHA-1 of %l%h%p%r in hex (short, safe in a file name)   %% a literal %
// The result must fit a Unix socket address (107 bytes), or there is no socket to listen on.

import * as os from 'node:os';
import { TlsshError } from '../errors';

export interface ControlPathContext {
  hostAsTyped: string;
  hostName: string;
  port: number;
  remoteUser: string;
  localUser: string;
  home: string;
  uid: number;
  localHost: string;
}

/** sun_path is 108 bytes with its NUL. */
export const MAX_SOCKET_PATH = 107;

export function controlPathContext(cfg: { host: string; HostName: string; Port: number; User: string }): ControlPathContext {
  const info = os.userInfo();
  return {
    hostAsTyped: cfg.host,
    // ssh lower-cases the host it connects to (after HostName): `tlssh DB1` and `tlssh db1` share
    // a master, as with ssh; %n keeps what was typed.
    hostName: cfg.HostName.toLowerCase(),
    port: cfg.Port,
    remoteUser: cfg.User !== '' ? cfg.User : info.username,
    localUser: info.username,
    home: info.homedir,
    uid: info.uid,
    localHost: os.hostname(),
  };
}

/** The socket path for `template`, or undefined for "none". */
export function expandControlPath(template: string, ctx: ControlPathContext): string | undefined {
  if (template === 'none') return undefined;
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const t = template[++i];
    out += token(t, ctx, template);
  }
  if (out.startsWith('~/')) out = `${ctx.home.replace(/\/+$/, '')}/${out.slice(2)}`;
  if (Buffer.byteLength(out) > MAX_SOCKET_PATH) {
    throw new TlsshError('TLSSH_ERR_USAGE', `ControlPath "${out}" is too long for a Unix socket (${Buffer.byteLength(out)} bytes, at most ${MAX_SOCKET_PATH}): use %C`);
  }
  return out;
}

function token(t: string | undefined, ctx: ControlPathContext, template: string): string {
  switch (t) {
    case 'h':
      return ctx.hostName;
    case 'n':
      return ctx.hostAsTyped;
    case 'p':
      return String(ctx.port);
    case 'r':
      return ctx.remoteUser;
    case 'u':
      return ctx.localUser;
    case 'l':
      return ctx.localHost;
    case 'L':
      return ctx.localHost.split('.')[0] ?? ctx.localHost;
    case 'd':
      return ctx.home;
    case 'i':
      return String(ctx.uid);
    case 'C':
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require('node:crypto') as typeof import('node:crypto')).createHash('sha1').update(`${ctx.localHost}${ctx.hostName}${ctx.port}${ctx.remoteUser}`).digest('hex');
    case '%':
      return '%';
    default:
      // The config parser refuses these; -S values reach here only through it as well.
      throw new TlsshError('TLSSH_ERR_USAGE', `ControlPath "${template}": unknown token %${t ?? ''}`);
  }
}
