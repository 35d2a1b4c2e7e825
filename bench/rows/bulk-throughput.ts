// Row 3: bulk data through a session without a PTY, each way. The clock starts when the remote
// command says "go" on stderr (so login time is not in the figure) and stops when the client
// exits; the byte count is checked at the far end so a short transfer cannot pass as a fast one.

import { spawnTracked, transferTimeoutMs } from '../lib/proc';
import { cpuMsWithReapedChildren } from '../lib/cpu-time';
import { descendants, waitForTreeSize } from '../lib/process-tree';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';

interface Transfer {
  seconds: number;
  counted: number;
}

function timedPipeline(script: string, argv: string[], timeoutMs: number): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    // The shell does the piping, so no byte of the payload passes through this Node process.
    // Its own process group, so a timeout ends the client and the pipe's other end too.
    const child = spawnTracked(['sh', '-c', script, 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    let start: number | undefined;
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (start === undefined && err.includes('go')) start = performance.now();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const end = performance.now();
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`transfer did not finish within ${Math.round(timeoutMs / 1000)} s (stderr: ${err.trim().slice(0, 200)})`));
      } else if (code !== 0 || start === undefined) {
        reject(new Error(`transfer exited ${code}: ${err.trim().slice(0, 400)}`));
      } else {
        resolve({ seconds: (end - start) / 1000, counted: Number(out.trim()) });
      }
    });
  });
}

async function throughput(t: Target, bytes: number, repeats: number, direction: 'upload' | 'download'): Promise<Cell> {
  const mbps: number[] = [];
  const serverCpu: number[] = [];
  const clientCpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const idleTree = descendants(t.serverPid()).length;
    const server0 = t.serverCpuMs() ?? Number.NaN;
    const client0 = cpuMsWithReapedChildren('self');
    const self0 = process.cpuUsage();
    const x = direction === 'upload'
      ? await timedPipeline(`head -c ${bytes} /dev/zero | "$@"`, t.clientArgv({ tty: 'none', command: 'echo go >&2; exec wc -c' }), transferTimeoutMs(bytes, 5))
      : await timedPipeline('"$@" | wc -c', t.clientArgv({ tty: 'none', command: `echo go >&2; exec head -c ${bytes} /dev/zero` }), transferTimeoutMs(bytes, 5));
    if (x.counted !== bytes) throw new Error(`${direction} delivered ${x.counted} of ${bytes} bytes`);
    mbps.push(bytes / 1e6 / x.seconds);
    // CPU seconds per second of transfer: near 1.0 on one side means that side is one saturated
    // core, the bottleneck. (Includes head/wc/cat on their sides, the same for both programs.)
    const self = process.cpuUsage(self0);
    await waitForTreeSize(t.serverPid(), idleTree); // the session's server processes must be reaped to be counted
    serverCpu.push(((t.serverCpuMs() ?? Number.NaN) - server0) / 1000 / x.seconds);
    clientCpu.push((cpuMsWithReapedChildren('self') - client0 - (self.user + self.system) / 1000) / 1000 / x.seconds);
  }
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    status: 'ok',
    summary: summarize(mbps),
    detail: { bytes, serverCoresBusy: round(summarize(serverCpu).median), clientCoresBusy: round(summarize(clientCpu).median) },
  };
}

export const upload = (t: Target, bytes: number, repeats: number): Promise<Cell> => throughput(t, bytes, repeats, 'upload');
export const download = (t: Target, bytes: number, repeats: number): Promise<Cell> => throughput(t, bytes, repeats, 'download');
