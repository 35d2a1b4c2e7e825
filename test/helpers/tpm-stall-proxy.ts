// A TCP proxy in front of a test's swtpm that can stall on command, like a TPM that stops
// answering (a wedged chip, a hung resource manager, a network TPM whose link dropped). It
// listens on two consecutive ports, as the swtpm TCTI expects: PORT for TPM commands, PORT+1 for
// the control channel (always passed straight through). While stalled, commands still reach
// swtpm but its answers are held; resume() releases them in order, so a late answer arrives.

import * as net from 'node:net';
import { listenOnPortPair } from './tpm-proxy-ports';

export interface StallProxy {
  readonly port: number;
  /** TCTI string pointing at the proxy. */
  readonly tcti: string;
  /** Hold every answer from the TPM from now on. */
  stall(): void;
  /** Deliver the held answers and pass new ones straight through again. */
  resume(): void;
  /** TPM commands whose answer is being held right now. */
  readonly held: number;
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  pending: Buffer[];
  /** swtpm closed its side while answers were held. */
  ended: boolean;
}

export async function startStallProxy(swtpmPort: number): Promise<StallProxy> {
  let stalled = false;
  const links = new Set<Link>();
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const make = (targetPort: number, stallable: boolean): net.Server =>
    net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
      track(client);
      track(upstream);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      client.pipe(upstream);
      const link: Link = { client, pending: [], ended: false };
      links.add(link);
      upstream.on('data', (chunk: Buffer) => {
        if (stallable && stalled) link.pending.push(chunk);
        else client.write(chunk);
      });
      // swtpm closes after each answer; a held answer must not be cut short by that close.
      upstream.on('end', () => {
        if (link.pending.length === 0) client.end();
        else link.ended = true;
      });
      client.on('close', () => {
        upstream.destroy();
        links.delete(link);
      });
    });
  const { port, servers: [cmd, ctrl] } = await listenOnPortPair(swtpmPort, make, 6);
  return {
    port,
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    stall: () => {
      stalled = true;
    },
    resume: () => {
      stalled = false;
      for (const l of links) {
        if (l.pending.length === 0) continue;
        for (const b of l.pending.splice(0)) l.client.write(b);
        if (l.ended) l.client.end();
      }
    },
    get held() {
      let n = 0;
      for (const l of links) if (l.pending.length > 0) n++;
      return n;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([cmd, ctrl].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    },
  };
}
