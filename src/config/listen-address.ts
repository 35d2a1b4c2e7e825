// Listen values. A config line may say `host`, `host:port` or `[v6-address]:port`; a bare IPv6
// address (two or more colons) is a host without a port. In the loaded ServerConfig every entry is
// canonical "host:port" with IPv6 in brackets and the port filled in from Port where the line gave
// none, so what the daemon binds is exactly what `cfg.Listen` shows. listenAddresses() splits them.
import * as net from 'node:net';
import { ValueProblem, shown } from './config-error';
import type { ServerConfig } from './types';

/** One Listen line before Port is known: `port` undefined means "use Port". */
export interface ListenSpec {
  readonly host: string;
  readonly port: number | undefined;
}

export interface ListenAddress {
  /** Bare address or name, IPv6 without brackets: ready for net.Server.listen({ host }). */
  readonly host: string;
  readonly port: number;
  /**
   * True for "::" when "0.0.0.0" is also listed on the same port: the IPv6 socket must then be
   * IPv6-only or the two binds collide. A lone "::" keeps accepting IPv4 too, as in the original.
   */
  readonly ipv6Only: boolean;
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function checkHost(host: string, text: string): void {
  if (net.isIP(host) === 0 && !HOST_NAME.test(host)) {
    throw new ValueProblem(`${shown(text)}: ${shown(host)} is not an IP address or host name`);
  }
}

function checkPort(port: string, text: string, minPort: number): number {
  // Port's own words: a number out of range is said to be, not to be no number.
  if (!/^[0-9]+$/.test(port)) throw new ValueProblem(`${shown(text)}: port ${shown(port)} is not a number (${minPort}-65535)`);
  const n = Number(port);
  if (!(n >= minPort && n <= 65535)) throw new ValueProblem(`${shown(text)}: port ${shown(port)} is out of range (${minPort}-65535)`);
  return n;
}

export function parseListen(minPort: number): (text: string) => ListenSpec {
  return (text) => {
    if (text === '') throw new ValueProblem('a value is required');
    if (text.startsWith('[')) {
      const m = /^\[([^\]]+)\](?::([^:]*))?$/.exec(text);
      if (m === null || net.isIPv6(m[1] ?? '') === false) {
        throw new ValueProblem(`${shown(text)} is not [IPv6-address] or [IPv6-address]:port`);
      }
      return { host: m[1] ?? '', port: m[2] === undefined ? undefined : checkPort(m[2], text, minPort) };
    }
    const colons = text.split(':').length - 1;
    if (colons >= 2) {
      if (!net.isIPv6(text)) throw new ValueProblem(`${shown(text)} is not an IPv6 address (write [address]:port to add a port)`);
      return { host: text, port: undefined };
    }
    if (colons === 1) {
      const [host = '', port = ''] = text.split(':');
      checkHost(host, text);
      return { host, port: checkPort(port, text, minPort) };
    }
    checkHost(text, text);
    return { host: text, port: undefined };
  };
}

export function formatListen(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Split a canonical Listen entry ("host:port" or "[v6]:port"). */
export function splitListen(entry: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(entry) ?? /^([^:]+):([0-9]+)$/.exec(entry);
  if (m === null) throw new ValueProblem(`${shown(entry)} is not host:port`);
  return { host: m[1] ?? '', port: Number(m[2]) };
}

/** The sockets the daemon should bind, in config order. */
export function listenAddresses(cfg: Pick<ServerConfig, 'Listen'>): ListenAddress[] {
  const split = cfg.Listen.map(splitListen);
  return split.map(({ host, port }) => ({
    host,
    port,
    ipv6Only: host === '::' && split.some((o) => o.host === '0.0.0.0' && o.port === port),
  }));
}
