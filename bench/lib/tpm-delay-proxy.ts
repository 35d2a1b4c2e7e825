// A TCP proxy in front of swtpm that holds every response from the TPM for a fixed delay, so a
// software TPM behaves like a slow real chip (they take 20-200 ms per signature). Listens on
// two consecutive ports, as the swtpm TCTI expects: PORT for commands (delayed), PORT+1 for
// the control channel (passed straight through).

import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePortPair } from './ports';

export interface DelayProxy {
  port: number;
  tcti: string;
  close(): Promise<void>;
}

function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  // Chunks keep their order: each leaves `delayMs` after it arrived, never before the previous.
  let lastDue = 0;
  from.on('data', (chunk: Buffer) => {
    const due = Math.max(Date.now() + delayMs, lastDue);
    lastDue = due;
    setTimeout(() => { if (!to.destroyed) to.write(chunk); }, due - Date.now());
  });
  from.on('end', () => setTimeout(() => to.end(), Math.max(0, lastDue - Date.now())));
}

interface Proxy {
  server: Server;
  sockets: Set<Socket>;
}

function proxy(listenPort: number, targetPort: number, delayMs: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    if (delayMs > 0) pipeDelayed(upstream, client, delayMs);
    else upstream.pipe(client);
    const drop = (): void => { client.destroy(); upstream.destroy(); };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: listenPort, exclusive: true }, () => resolve({ server, sockets }));
  });
}

export async function startDelayProxy(swtpmPort: number, delayMs: number): Promise<DelayProxy> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePortPair();
    try {
      const cmd = await proxy(port, swtpmPort, delayMs);
      const ctrl = await proxy(port + 1, swtpmPort + 1, 0).catch((e: unknown) => { cmd.server.close(); throw e; });
      const close = (p: Proxy): Promise<void> => new Promise((r) => {
        p.server.close(() => r());
        for (const s of p.sockets) s.destroy();
      });
      return { port, tcti: `swtpm:host=127.0.0.1,port=${port}`, close: async () => { await Promise.all([close(cmd), close(ctrl)]); } };
    } catch (e) {
      lastError = e; // someone took one of the two ports between probe and listen: try another pair
    }
  }
  throw new Error(`cannot start the TPM delay proxy: ${String(lastError)}`);
}
