// ControlPath, expanded as ssh_config(5) does once the destination is known (the tokens are
// src/config/percent-tokens.ts). The result must fit a Unix socket address (107 bytes), or there
// is no socket to listen on.

import { TlsshError } from '../errors';
import { expandPathTokens, tokenContext, type TokenContext } from '../config/percent-tokens';

export type ControlPathContext = TokenContext;

/** sun_path is 108 bytes with its NUL. */
export const MAX_SOCKET_PATH = 107;

export function controlPathContext(cfg: { host: string; HostName: string; Port: number; User: string }): ControlPathContext {
  return tokenContext(cfg);
}

/** The socket path for `template`, or undefined for "none". */
export function expandControlPath(template: string, ctx: ControlPathContext): string | undefined {
  if (template === 'none') return undefined;
  let out: string;
  try {
    out = expandPathTokens(template, ctx);
  } catch (e) {
    // The config parser refuses these; -S values reach here only through it as well.
    throw new TlsshError('TLSSH_ERR_USAGE', `ControlPath ${e instanceof Error ? e.message : String(e)}`);
  }
  if (out.startsWith('~/')) out = `${ctx.home.replace(/\/+$/, '')}/${out.slice(2)}`;
  if (Buffer.byteLength(out) > MAX_SOCKET_PATH) {
    throw new TlsshError('TLSSH_ERR_USAGE', `ControlPath "${out}" is too long for a Unix socket (${Buffer.byteLength(out)} bytes, at most ${MAX_SOCKET_PATH}): use %C`);
  }
  return out;
}
