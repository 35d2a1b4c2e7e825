// A private software TPM over TCP on 127.0.0.1, with its own state directory, started already
// powered on and past TPM2_Startup so clients can use it at once.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePortPair } from './ports';
import { sleep, stopChild } from './proc';

export interface Swtpm {
  port: number;
  tcti: string;
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function startSwtpm(stateDir: string): Promise<Swtpm> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const port = await freePortPair();
  const child = spawn('swtpm', ['socket', '--tpm2',
    '--tpmstate', `dir=${stateDir}`,
    '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
    '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
    '--flags', 'not-need-init,startup-clear',
    '--log', `file=${join(stateDir, 'swtpm.log')}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  // Probe the control port: a connection to the command port would occupy swtpm's one client slot.
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`swtpm exited ${child.exitCode}: ${err.trim()}`);
    if (await canConnect(port + 1)) {
      return { port, tcti: `swtpm:host=127.0.0.1,port=${port}`, stop: () => stopChild(child) };
    }
    await sleep(50);
  }
  await stopChild(child);
  throw new Error(`swtpm did not listen on 127.0.0.1:${port + 1}: ${err.trim()}`);
}
