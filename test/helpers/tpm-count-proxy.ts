// A TCP proxy in front of a test's swtpm that records every TPM command passing through it, so a
// test can assert which commands a login sends and in what order. It listens on two consecutive
// ports, as the swtpm TCTI expects: PORT for TPM commands (recorded), PORT+1 for the control
// channel (passed straight through). The swtpm TCTI sends raw TPM commands: a 10-byte header
// (tag, size, command code) then the rest of `size`.

import * as net from 'node:net';
import { listenOnPortPair } from './tpm-proxy-ports';

/** The command codes tlssh uses, by name (TPM 2.0 Part 2, TPM_CC). */
const NAMES: Readonly<Record<number, string>> = {
  0x131: 'CreatePrimary',
  0x144: 'Startup',
  0x153: 'Create',
  0x156: 'Import',
  0x157: 'Load',
  0x159: 'RSA_Decrypt',
  0x15d: 'Sign',
  0x161: 'ContextLoad',
  0x162: 'ContextSave',
  0x165: 'FlushContext',
  0x173: 'ReadPublic',
  0x17a: 'GetCapability',
};

export interface CountProxy {
  readonly tcti: string;
  /** Every command seen since the last reset(), by name (or 0x... for one not in the table). */
  readonly commands: readonly string[];
  reset(): void;
  /**
   * Holds every TPM response this long before passing it on (0: at once), so the TPM behaves
   * like a slow chip; responses keep their order.
   */
  setDelay(ms: number): void;
  close(): Promise<void>;
}

export async function startCountProxy(swtpmPort: number): Promise<CountProxy> {
  let commands: string[] = [];
  let delayMs = 0;
  const sockets = new Set<net.Socket>();
  const make = (targetPort: number, record: boolean): net.Server =>
    net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      let pending = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        if (record) {
          pending = Buffer.concat([pending, chunk]);
          while (pending.length >= 10) {
            const size = pending.readUInt32BE(2);
            if (size < 10 || pending.length < size) break;
            const cc = pending.readUInt32BE(6);
            commands.push(NAMES[cc] ?? `0x${cc.toString(16)}`);
            pending = pending.subarray(size);
          }
        }
        upstream.write(chunk);
      });
      client.on('end', () => upstream.end());
      let lastDue = 0;
      upstream.on('data', (chunk: Buffer) => {
        if (!record || delayMs === 0) {
          client.write(chunk);
          return;
        }
        const due = Math.max(Date.now() + delayMs, lastDue);
        lastDue = due;
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
        }, due - Date.now());
      });
      upstream.on('end', () => setTimeout(() => client.end(), Math.max(0, lastDue - Date.now())));
    });
  const { port, servers: [cmd, ctrl] } = await listenOnPortPair(swtpmPort, make, 11);
  return {
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    get commands() {
      return commands;
    },
    reset() {
      commands = [];
    },
    setDelay(ms: number) {
      delayMs = ms;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([cmd, ctrl].map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
    },
  };
}
