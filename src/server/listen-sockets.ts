// The listener's bound sockets, one per Listen address. At start it binds them all; a reload
// (SIGHUP, tlsshctl reload) moves to a new Listen/Port set in place, as sshd does by re-executing
// itself: addresses still listed keep their socket (and its queue of connections), new ones are
// bound, and dropped ones close. Connections already accepted are the workers' and carry on.
// A set that cannot be bound leaves the old one listening, so a typo in Port never takes a
// running server off the network.

import * as net from 'node:net';
import type { ListenAddress } from '../config/listen-address';
import { formatListen } from '../config/listen-address';
import { TlsshError } from '../errors';

export interface BoundAddress {
  host: string;
  port: number;
}

interface Bound {
  readonly wanted: ListenAddress;
  readonly server: net.Server;
  readonly bound: BoundAddress;
}

/** What one call to `listen` changed, for the log. */
export interface ListenChange {
  added: BoundAddress[];
  removed: BoundAddress[];
}

/** Port 0 stays the same request across reloads: the socket it got is kept. */
function keyOf(a: ListenAddress): string {
  return `${a.host}\n${a.port}\n${a.ipv6Only}`;
}

function addressInUse(e: unknown): boolean {
  return e instanceof TlsshError && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
}

export function shownAddress(b: BoundAddress): string {
  return formatListen(b.host, b.port);
}

export class ListenSockets {
  private readonly sockets = new Map<string, Bound>();
  private closed = false;

  constructor(private readonly onConnection: (s: net.Socket) => void, private readonly onError: (e: Error) => void) {}

  /** What is bound now, in the order it was bound. */
  addresses(): BoundAddress[] {
    return [...this.sockets.values()].map((b) => b.bound);
  }

  /**
   * Makes the bound set exactly `wanted`. Throws TLSSH_ERR_LISTEN, with the old set still bound,
   * when an address cannot be bound.
   */
  async listen(wanted: readonly ListenAddress[]): Promise<ListenChange> {
    const keys = new Set(wanted.map(keyOf));
    const stale = [...this.sockets.entries()].filter(([k]) => !keys.has(k));
    const missing = wanted.filter((a) => !this.sockets.has(keyOf(a)));
    let fresh: Bound[];
    let droppedFirst = false;
    try {
      fresh = await this.bindEach(missing);
    } catch (e) {
      // A dual-stack `::` holds IPv4's port too, so listing `0.0.0.0` beside it (or moving an
      // address between forms) collides with our own socket: free the ones this set drops, once.
      if (!addressInUse(e) || stale.length === 0) throw e;
      for (const [k, b] of stale) this.drop(k, b);
      droppedFirst = true;
      try {
        fresh = await this.bindEach(missing);
      } catch (again) {
        await this.restore(stale.map(([, b]) => b.wanted));
        throw again;
      }
    }
    for (const b of fresh) this.sockets.set(keyOf(b.wanted), b);
    if (!droppedFirst) for (const [k, b] of stale) this.drop(k, b);
    return { added: fresh.map((b) => b.bound), removed: stale.map(([, b]) => b.bound) };
  }

  /** Stops accepting everywhere; for good. */
  close(): void {
    this.closed = true;
    for (const [k, b] of [...this.sockets]) this.drop(k, b);
  }

  /** Binds all of `list`, or none: on a failure the ones bound by this call are closed again. */
  private async bindEach(list: readonly ListenAddress[]): Promise<Bound[]> {
    const done: Bound[] = [];
    try {
      for (const a of list) done.push(await this.bindOne(a));
    } catch (e) {
      for (const b of done) b.server.close();
      throw e;
    }
    return done;
  }

  private async bindOne(a: ListenAddress): Promise<Bound> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true }, this.onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new TlsshError('TLSSH_ERR_LISTEN', `cannot listen on ${a.host} port ${a.port}: ${e.message}`, { cause: e })));
      server.listen({ host: a.host, port: a.port, ipv6Only: a.ipv6Only, backlog: 511 }, () => resolve());
    });
    // close() ran while this bind was in flight (the daemon is stopping): this socket must not outlive it.
    if (this.closed) {
      server.close();
      throw new TlsshError('TLSSH_ERR_LISTEN', 'tlsshd is stopping');
    }
    server.on('error', this.onError);
    const addr = server.address() as net.AddressInfo;
    return { wanted: a, server, bound: { host: addr.address, port: addr.port } };
  }

  /** Puts back sockets dropped for a retry that failed; what cannot be bound again is reported. */
  private async restore(list: readonly ListenAddress[]): Promise<void> {
    for (const a of list) {
      try {
        const b = await this.bindOne(a);
        this.sockets.set(keyOf(a), b);
      } catch (e) {
        this.onError(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  /**
   * close() stops listening at once (libuv closes the descriptor synchronously); its callback
   * would wait for connections already handed to workers, which are not ours to wait for.
   */
  private drop(key: string, b: Bound): void {
    b.server.close();
    this.sockets.delete(key);
  }
}
