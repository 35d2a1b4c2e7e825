// Row 3: bulk data through a session without a PTY, each way. The clock starts once the receiving
// end has taken the first eighth of the bytes (it then says "go" on stderr) and stops when the
// byte count of the rest arrives: neither login time nor the start of the flow (the receiving
// command's start, windows opening) is in the figure, only the steady transfer of 7/8 of the data
// and its end. Timed from the remote command's start instead, as before, a 64 MiB quick run was
// about a fifth start-up and end (see RESULTS.md). The count is checked, so a short transfer
// cannot pass as a fast one.

import { spawnTracked, transferTimeoutMs } from '../lib/proc';
import { cpuMsWithReapedChildren, treeCpuMs } from '../lib/cpu-time';
import { descendants, waitForTreeSize } from '../lib/process-tree';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';

interface Transfer {
  seconds: number;
  counted: number;
  /** CPU ms the local pipeline (shell, client, head/dd/wc) had used when the clock started. */
  localCpuAtStartMs: number;
}

/** `onStart` runs when the clock starts, for the CPU figures to start with it. */
function timedPipeline(script: string, argv: string[], timeoutMs: number, onStart: () => void): Promise<Transfer> {
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
    let localCpuAtStartMs = Number.NaN;
    let out = '';
    let err = '';
    let end: number | undefined;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      // The count arrives once the receiver has seen the end of the data: the transfer is done.
      end ??= performance.now();
      out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (start === undefined && err.includes('go')) {
        start = performance.now();
        localCpuAtStartMs = treeCpuMs(child.pid!);
        onStart();
      }
    });
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`transfer did not finish within ${Math.round(timeoutMs / 1000)} s (stderr: ${err.trim().slice(0, 200)})`));
      } else if (code !== 0 || start === undefined || end === undefined) {
        reject(new Error(`transfer exited ${code}: ${err.trim().slice(0, 400)}`));
      } else {
        resolve({ seconds: (end - start) / 1000, counted: Number(out.trim()), localCpuAtStartMs });
      }
    });
  });
}

async function throughput(t: Target, bytes: number, repeats: number, direction: 'upload' | 'download'): Promise<Cell> {
  const mbps: number[] = [];
  // The first eighth (whole MiB) is the run-up, not timed.
  const skip = Math.max(2 ** 20, Math.floor(bytes / 8 / 2 ** 20) * 2 ** 20);
  if (skip >= bytes) throw new Error(`bulk transfer of ${bytes} bytes is too small to time (at least 2 MiB)`);
  const serverCpu: number[] = [];
  const clientCpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const idleTree = descendants(t.serverPid()).length;
    let server0 = Number.NaN;
    const client0 = cpuMsWithReapedChildren('self');
    const self0 = process.cpuUsage();
    // CPU from the clock's start on: the login's CPU is not the transfer's.
    const onStart = (): void => { server0 = t.serverCpuMs() ?? Number.NaN; };
    // dd with one block of exactly `skip` bytes (fullblock) reads no further, unlike head -c.
    const firstPart = `dd bs=${skip} count=1 iflag=fullblock of=/dev/null status=none && echo go >&2; exec wc -c`;
    const x = direction === 'upload'
      ? await timedPipeline(`head -c ${bytes} /dev/zero | "$@"`, t.clientArgv({ tty: 'none', command: firstPart }), transferTimeoutMs(bytes, 5), onStart)
      : await timedPipeline(`"$@" | { ${firstPart}; }`, t.clientArgv({ tty: 'none', command: `exec head -c ${bytes} /dev/zero` }), transferTimeoutMs(bytes, 5), onStart);
    if (x.counted !== bytes - skip) throw new Error(`${direction} delivered ${x.counted + skip} of ${bytes} bytes`);
    mbps.push((bytes - skip) / 1e6 / x.seconds);
    // CPU seconds per second of transfer: near 1.0 on one side means that side is one saturated
    // core, the bottleneck. (Includes head/dd/wc on their sides, the same for both programs, and
    // the client's exit after the count.)
    const self = process.cpuUsage(self0);
    await waitForTreeSize(t.serverPid(), idleTree); // the session's server processes must be reaped to be counted
    serverCpu.push(((t.serverCpuMs() ?? Number.NaN) - server0) / 1000 / x.seconds);
    clientCpu.push((cpuMsWithReapedChildren('self') - client0 - (self.user + self.system) / 1000 - x.localCpuAtStartMs) / 1000 / x.seconds);
  }
  const round = (v: number): number => Math.round(v * 100) / 100;
  return {
    status: 'ok',
    summary: summarize(mbps),
    detail: { bytes, timedBytes: bytes - skip, serverCoresBusy: round(summarize(serverCpu).median), clientCoresBusy: round(summarize(clientCpu).median) },
  };
}

export const upload = (t: Target, bytes: number, repeats: number): Promise<Cell> => throughput(t, bytes, repeats, 'upload');
export const download = (t: Target, bytes: number, repeats: number): Promise<Cell> => throughput(t, bytes, repeats, 'download');
