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

function pipeDelayed(from: Socket, to: Socket, delayMs: number, trace?: (chunk: Buffer, dir: 'rsp') => void): void {
  // Chunks keep their order: each leaves `delayMs` after it arrived, never before the previous.
  let lastDue = 0;
  from.on('data', (chunk: Buffer) => {
    const due = Math.max(Date.now() + delayMs, lastDue);
    lastDue = due;
    setTimeout(() => {
      trace?.(chunk, 'rsp');
      if (!to.destroyed) to.write(chunk);
    }, due - Date.now());
  });
  from.on('end', () => setTimeout(() => to.end(), Math.max(0, lastDue - Date.now())));
}

interface Proxy {
  server: Server;
  sockets: Set<Socket>;
}

/** TPM_CC names of the commands tlssh sends, for the trace. */
const COMMANDS: Readonly<Record<number, string>> = {
  0x131: 'CreatePrimary', 0x144: 'Startup', 0x157: 'Load', 0x159: 'RSA_Decrypt', 0x15d: 'Sign',
  0x161: 'ContextLoad', 0x162: 'ContextSave', 0x165: 'FlushContext', 0x173: 'ReadPublic', 0x17a: 'GetCapability',
};

/**
 * With TLSSH_BENCH_TPM_TRACE set, each TPM command and each (delayed) response is written to
 * stderr with a millisecond clock, so where a login waits on which TPM can be read off.
 */
function tracer(label: string): ((chunk: Buffer, dir: 'cmd' | 'rsp') => void) | undefined {
  if (!process.env.TLSSH_BENCH_TPM_TRACE) return undefined;
  return (chunk, dir) => {
    // One command or response per chunk in practice: a 10-byte header (tag, size, code).
    const code = chunk.length >= 10 ? chunk.readUInt32BE(6) : -1;
    const what = dir === 'cmd' ? (COMMANDS[code] ?? `0x${code.toString(16)}`) : code === 0 ? 'ok' : `rc 0x${code.toString(16)}`;
    process.stderr.write(`tpm-trace ${performance.now().toFixed(1)} ${label} ${dir} ${what}\n`);
  };
}

function proxy(listenPort: number, targetPort: number, delayMs: number, label = ''): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const trace = delayMs > 0 ? tracer(label) : undefined;
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    }
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    if (trace) client.on('data', (chunk: Buffer) => trace(chunk, 'cmd'));
    if (delayMs > 0) pipeDelayed(upstream, client, delayMs, trace);
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

export async function startDelayProxy(swtpmPort: number, delayMs: number, label = 'tpm'): Promise<DelayProxy> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await freePortPair();
    try {
      const cmd = await proxy(port, swtpmPort, delayMs, label);
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
