// ssh_config(5)'s %-tokens, for the client's paths that name a connection's own files
// (ControlPath, IdentityFile, CertificateFile/CertFile, KeyFile). The parser checks the letters
// where the file and line are known; they are expanded once the host, port and users are:
//   %h host name to connect to (HostName)   %n host as typed     %p port
//   %r remote user (the local one when User is unset, as in ssh)  %u local user
//   %l local host name   %L local host name, first label   %d home directory   %i local uid
//   %C SHA-1 of %l%h%p%r in hex (short, safe in a file name)   %% a literal %

import * as os from 'node:os';
import { ValueProblem, shown } from './config-error';
import { expandPath, pathValue, type ValueContext, type ValueParser } from './value-parsers';

/** The letters understood after a %; the same as ssh's for these keywords. */
export const PATH_TOKENS = 'CdhiLlnpru%';

export interface TokenContext {
  hostAsTyped: string;
  hostName: string;
  port: number;
  remoteUser: string;
  localUser: string;
  home: string;
  uid: number;
  localHost: string;
}

/** Throws a ValueProblem naming the first unknown token in `text`. */
export function checkPathTokens(text: string): void {
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '%') continue;
    const t = text[i + 1];
    if (t === undefined || !PATH_TOKENS.includes(t)) {
      throw new ValueProblem(`${shown(text)}: unknown token %${t ?? ''} (known: ${[...PATH_TOKENS].map((c) => `%${c}`).join(' ')})`);
    }
    i += 1;
  }
}

/**
 * A path with `~/` expanded and only known %-tokens in it; %d (the home directory) makes it
 * absolute once expanded, so it gets no base directory.
 */
export function tokenPath(text: string, ctx: ValueContext): string {
  checkPathTokens(text);
  return text.startsWith('%d/') ? text : expandPath(text, ctx);
}

/** pathValue, with %-tokens: for the client's key and certificate files. */
export function tokenPathValue(optional: boolean): ValueParser<string> {
  return pathValue(optional, tokenPath);
}

/** The context for a destination; `home` is the one the configuration expanded `~` with. */
export function tokenContext(cfg: { host: string; HostName: string; Port: number; User: string }, home?: string): TokenContext {
  const info = os.userInfo();
  return {
    hostAsTyped: cfg.host,
    // ssh lower-cases the host it connects to (after HostName): `tlssh DB1` and `tlssh db1` share
    // a master, as with ssh; %n keeps what was typed.
    hostName: cfg.HostName.toLowerCase(),
    port: cfg.Port,
    remoteUser: cfg.User !== '' ? cfg.User : info.username,
    localUser: info.username,
    home: home ?? info.homedir,
    uid: info.uid,
    localHost: os.hostname(),
  };
}

/** `template` with its tokens replaced; a token the parser would have refused throws. */
export function expandPathTokens(template: string, ctx: TokenContext): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const t = template[++i];
    const value = token(t, ctx);
    if (value === undefined) throw new ValueProblem(`${shown(template)}: unknown token %${t ?? ''}`);
    out += value;
  }
  return out;
}

function token(t: string | undefined, ctx: TokenContext): string | undefined {
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
      // Loaded only when asked for: the connection-sharing client's start does not need crypto.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require('node:crypto') as typeof import('node:crypto')).createHash('sha1').update(`${ctx.localHost}${ctx.hostName}${ctx.port}${ctx.remoteUser}`).digest('hex');
    case '%':
      return '%';
    default:
      return undefined;
  }
}
