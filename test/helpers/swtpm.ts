// A private software TPM for one test: its own state directory and its own TCP ports on
// 127.0.0.1, stopped and deleted afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerTemp } from './temp-registry';

export interface Swtpm {
  /** TCTI string for tlssh and for TPM2TOOLS_TCTI / TPM2OPENSSL_TCTI. */
  readonly tcti: string;
  readonly port: number;
  readonly stateDir: string;
  /** Stops the TPM but keeps its state, as if the chip went away. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and state (after kill()). */
  restart(): Promise<void>;
  /** Stops the TPM and deletes its state. */
  stop(): Promise<void>;
}

function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const a = s.address();
      const p = typeof a === 'object' && a ? a.port : undefined;
      s.close(() => resolve(p));
    });
  });
}

/** Two free consecutive ports (server, control). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await listenOnce(0);
    if (p === undefined || p >= 65535) continue;
    if ((await listenOnce(p + 1)) !== undefined) return p;
  }
  throw new Error('no free pair of TCP ports for swtpm');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function launch(port: number, stateDir: string): Promise<ChildProcess> {
  const child = spawn(
    'swtpm',
    [
      'socket', '--tpm2',
      '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--flags', 'not-need-init,startup-clear',
      '--tpmstate', `dir=${stateDir}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`swtpm exited with ${child.exitCode}: ${stderr.trim()}`);
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 25, undefined))]);
    if (failed) throw failed;
    if (await canConnect(port + 1)) return child;
  }
  child.kill('SIGKILL');
  throw new Error(`swtpm did not start listening on ${port}: ${stderr.trim()}`);
}

export async function startSwtpm(): Promise<Swtpm> {
  const stateDir = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-swtpm-')));
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePortPair();
    try {
      child = await launch(port, stateDir);
      break;
    } catch (e) {
      if (attempt >= 3) {
        fs.rmSync(stateDir, { recursive: true, force: true });
        throw e;
      }
    }
  }
  const kill = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGTERM');
    await exited(c);
  };
  return {
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    port,
    stateDir,
    kill,
    async restart() {
      await kill();
      child = await launch(port, stateDir);
    },
    async stop() {
      await kill();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
