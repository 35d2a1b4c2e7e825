// A worker's private line to the listener when the worker was forked by the fork server
// (fork-server.ts) and so has no IPC channel of Node's: JSON messages, one per line, over one end
// of a socketpair. Both ends use this class. The listener's end treats every line as hostile (the
// worker may be the user by then): a line longer than MAX_LINE_BYTES ends the channel.

import { EventEmitter } from 'node:events';
import type * as net from 'node:net';

/** Far more than the largest report (a session-info with its certificate chain). */
export const MAX_LINE_BYTES = 512 * 1024;

export declare interface LineChannel {
  on(event: 'message', fn: (m: unknown) => void): this;
  on(event: 'close', fn: () => void): this;
}

export class LineChannel extends EventEmitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private open = true;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  get connected(): boolean {
    return this.open;
  }

  /** Sends one message; `written` runs once the kernel has it. False when the line is closed. */
  send(m: object, written?: () => void): boolean {
    if (!this.open) return false;
    this.socket.write(`${JSON.stringify(m)}\n`, () => written?.());
    return true;
  }

  /** This line alone no longer keeps the process running. */
  unref(): void {
    this.socket.unref();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.socket.destroy();
    this.emit('close');
  }

  private onData(b: Buffer): void {
    let start = 0;
    for (let nl = b.indexOf(10); nl >= 0 && this.open; nl = b.indexOf(10, start)) {
      const tail = b.subarray(start, nl);
      const line = this.pending.length > 0 ? Buffer.concat([...this.pending, tail]) : tail;
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
      if (line.length > MAX_LINE_BYTES) return this.close();
      let m: unknown;
      try {
        m = JSON.parse(line.toString('utf8'));
      } catch {
        return this.close();
      }
      this.emit('message', m);
    }
    if (!this.open || start >= b.length) return;
    this.pendingBytes += b.length - start;
    if (this.pendingBytes > MAX_LINE_BYTES) return this.close();
    this.pending.push(Buffer.from(b.subarray(start)));
  }
}
