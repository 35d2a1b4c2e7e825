// Row 4: terminal output speed, the figure behind "my build log scrolls slowly over ssh":
// base64 text (printable, with line ends the PTY turns into CRLF) through a forced PTY.

import { spawnTracked, transferTimeoutMs } from '../lib/proc';
import { summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';

/** Bytes the client should print: base64 lines of 76 characters, each ended by CR LF. */
export function expectedPtyBytes(input: number): number {
  const chars = 4 * Math.ceil(input / 3);
  return chars + 2 * Math.ceil(chars / 76);
}

function oneRun(t: Target, bytes: number): Promise<{ seconds: number; received: number }> {
  return new Promise((resolve, reject) => {
    // stdin stays an open, silent pipe, like a user who types nothing while output scrolls: a
    // client must then end when the remote command does, not when its stdin closes.
    const argv = t.clientArgv({ tty: 'force', command: `head -c ${bytes} /dev/zero | base64` });
    const child = spawnTracked(argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const timeoutMs = transferTimeoutMs(bytes * 1.4, 1);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    let first: number | undefined;
    let received = 0;
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (first === undefined) first = performance.now();
      received += d.length;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.once('error', reject);
    child.once('close', (code) => {
      const end = performance.now();
      child.stdin!.destroy();
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`PTY output did not finish within ${Math.round(timeoutMs / 1000)} s (received ${received} bytes)`));
      } else if (code !== 0 || first === undefined) {
        reject(new Error(`PTY output run exited ${code}: ${err.trim().slice(0, 400)}`));
      } else {
        resolve({ seconds: (end - first) / 1000, received });
      }
    });
  });
}

export async function ptyOutput(t: Target, bytes: number, repeats: number): Promise<Cell> {
  const expected = expectedPtyBytes(bytes);
  const mbps: number[] = [];
  const short: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const x = await oneRun(t, bytes);
    // More than expected, or less than half, is not this stream at all. A short tail is output
    // lost at the session's end: the speed is still measured, the loss reported beside it.
    if (x.received > expected + 64 || x.received < expected / 2) throw new Error(`PTY output received ${x.received} bytes, expected ${expected}`);
    if (x.received < expected) short.push(expected - x.received);
    mbps.push(x.received / 1e6 / x.seconds);
  }
  const cell: Cell = { status: 'ok', summary: summarize(mbps), detail: { inputBytes: bytes, expectedBytes: expected, runsWithLostOutput: short.length } };
  if (short.length > 0) cell.warning = `${short.length} of ${repeats} runs lost the last ${short.join(', ')} bytes of output when the session ended`;
  return cell;
}
