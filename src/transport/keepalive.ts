// Keepalive as both connection kinds do it (doc/PROTOCOL.md sections 4 and 12.5): a ping every
// `seconds`, each with the next cookie; a pong answers its ping and every earlier one; a peer
// that leaves `maxMissed` pings unanswered is given up on. What differs between a tlssh/2
// Channel and a MuxChannel (when pings may go out, and how they are written) comes in as hooks.

import { randomBytes } from 'node:crypto';
import { TlsshError } from '../errors';

export interface KeepaliveHooks {
  /** Whether a ping may go out now (none before the first session request has crossed). */
  mayPing(): boolean;
  sendPing(cookie: number): void;
  /** The peer left maxMissed pings unanswered: the connection is to be torn down with `err`. */
  timedOut(err: TlsshError): void;
}

export class Keepalive {
  private timer: NodeJS.Timeout | undefined;
  /** Cookies start anywhere, so a peer cannot answer pings it never read. */
  private cookie = randomBytes(4).readUInt32BE(0);
  private readonly outstanding: number[] = [];

  constructor(private readonly hooks: KeepaliveHooks) {}

  start(seconds: number, maxMissed: number): void {
    this.timer = setInterval(() => {
      if (!this.hooks.mayPing()) return;
      if (this.outstanding.length >= maxMissed) {
        this.hooks.timedOut(new TlsshError('TLSSH_ERR_KEEPALIVE_TIMEOUT', `peer did not answer ${maxMissed} keepalives in ${maxMissed * seconds} seconds`));
        return;
      }
      this.pingNow();
    }, seconds * 1000);
    this.timer.unref();
  }

  /** The next ping; also one apart from the interval, a server's at login, which tells the client it is in. */
  pingNow(): void {
    this.cookie = (this.cookie + 1) >>> 0;
    this.outstanding.push(this.cookie);
    this.hooks.sendPing(this.cookie);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A pong answers the ping with its cookie and every earlier one; any other pong is a violation. */
  pong(cookie: number): void {
    const i = this.outstanding.indexOf(cookie);
    if (i < 0) throw new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `peer sent a pong with cookie ${cookie}, which answers no ping in flight`);
    this.outstanding.splice(0, i + 1);
  }
}
