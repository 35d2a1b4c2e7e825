// Row 5: keystroke echo through a PTY. The client runs in a real local PTY (node-pty), as under
// a terminal emulator; the remote side is `cat` on a raw, non-echoing PTY, so each byte comes
// back as soon as the remote process has read it. One byte out, wait for it to return, repeat.

import { spawn as ptySpawn, type IPty } from 'node-pty';
import { readFileSync } from 'node:fs';
import { track } from '../lib/proc';
import { clockTicks } from '../lib/cpu-time';
import { percentile, summarize } from '../lib/stats';
import type { Cell } from '../result';
import type { Target } from '../target';

export interface EchoSession {
  /** The client process (tlssh or ssh itself: the PTY's child). */
  readonly clientPid: number;
  /** Round trip of one byte, in microseconds. */
  roundTrip(): Promise<number>;
  close(): Promise<void>;
}

// Letters only: never the escape character (~ or the tlssh one) nor a line end.
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';

export function openEchoSession(t: Target, timeoutMs = 60_000): Promise<EchoSession> {
  const argv = t.clientArgv({ tty: 'force', command: 'stty raw -echo; echo READY; exec cat' });
  const pty: IPty = ptySpawn(argv[0]!, argv.slice(1), { name: 'xterm', cols: 80, rows: 24, cwd: process.cwd(), env: process.env as Record<string, string> });
  const forget = track(pty, () => pty.kill('SIGKILL'));
  let seen = '';
  let exited = false;
  let onByte: ((data: string) => void) | undefined;
  const exit = new Promise<void>((resolve) => pty.onExit(() => { exited = true; forget(); resolve(); }));
  pty.onData((d) => {
    if (onByte) onByte(d);
    else seen = (seen + d).slice(-4096);
  });
  let next = 0;
  const session: EchoSession = {
    clientPid: pty.pid,
    roundTrip: () => new Promise((resolve, reject) => {
      const ch = ALPHABET[next++ % ALPHABET.length]!;
      const timer = setTimeout(() => { onByte = undefined; reject(new Error(`${t.label}: no echo within 10 s`)); }, 10_000);
      const t0 = process.hrtime.bigint();
      onByte = (d) => {
        if (!d.includes(ch)) return;
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        clearTimeout(timer);
        onByte = undefined;
        resolve(us);
      };
      pty.write(ch);
    }),
    close: async () => {
      if (!exited) pty.kill('SIGHUP');
      // Unref'd: a session that has gone must not hold its caller's process for the 5 s.
      await Promise.race([exit, new Promise((r) => setTimeout(r, 5000).unref())]);
      if (!exited) pty.kill('SIGKILL');
    },
  };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (seen.includes('READY')) {
        clearInterval(poll);
        seen = '';
        resolve(session);
      } else if (exited || Date.now() - started > timeoutMs) {
        clearInterval(poll);
        void session.close();
        reject(new Error(`${t.label}: echo session did not start: ${seen.replace(/\s+/g, ' ').trim().slice(-400)}`));
      }
    }, 5);
  });
}

/** Keystrokes typed and not counted before the measured ones. */
const WARM_UP = 20;

export interface EchoCells {
  p50: Cell;
  p99: Cell;
}

/** CPU time of one live process (not its children), in ms; NaN once it has gone. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

/**
 * `warmBytes`: keystrokes typed after the measured ones, of which the last `bytes` are reported
 * in the detail (warmP50us, warmP99us). A fresh Node process compiles its hot paths with V8's
 * optimising compiler during its first few thousand keystrokes, on a thread that can hold a core
 * for a few ms; the row's own figures include that, the warm ones show the session without it
 * (RESULTS.md, "5a, 5b keystroke echo"). Not counted in the row; 0 skips it.
 */
export async function echoLatency(t: Target, bytes: number, repeats: number, warmBytes = 0): Promise<EchoCells> {
  const p50: number[] = [];
  const p99: number[] = [];
  const warmP50: number[] = [];
  const warmP99: number[] = [];
  // CPU per keystroke on each side: on a shared 2-core machine every extra microsecond of CPU
  // per keystroke is time another process of the chain may wait for a core (see RESULTS.md).
  const clientCpu: number[] = [];
  const serverCpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const s = await openEchoSession(t);
    try {
      for (let i = 0; i < WARM_UP; i++) await s.roundTrip(); // first-touch buffers, the first calls
      const us: number[] = [];
      const client0 = processCpuMs(s.clientPid);
      const server0 = t.serverCpuMs() ?? Number.NaN;
      for (let i = 0; i < bytes; i++) us.push(await s.roundTrip());
      clientCpu.push(((processCpuMs(s.clientPid) - client0) * 1000) / bytes);
      serverCpu.push((((t.serverCpuMs() ?? Number.NaN) - server0) * 1000) / bytes);
      p50.push(percentile(us, 50));
      p99.push(percentile(us, 99));
      if (warmBytes > 0) {
        const later: number[] = [];
        for (let i = 0; i < warmBytes; i++) later.push(await s.roundTrip());
        const last = later.slice(-bytes);
        warmP50.push(percentile(last, 50));
        warmP99.push(percentile(last, 99));
      }
    } finally {
      await s.close();
    }
  }
  const roundedMedian = (v: number[]): number | string => {
    const m = summarize(v).median;
    return Number.isFinite(m) ? Math.round(m) : 'not measurable';
  };
  const detail: Record<string, number | string> = { bytesPerRun: bytes, clientCpuUsPerByte: roundedMedian(clientCpu), serverCpuUsPerByte: roundedMedian(serverCpu) };
  if (warmBytes > 0) {
    // Which keystrokes of each session the warm figures are, counted from its first.
    detail['warmKeystrokes'] = `${WARM_UP + bytes + Math.max(0, warmBytes - bytes) + 1}-${WARM_UP + bytes + warmBytes}`;
    detail['warmP50us'] = roundedMedian(warmP50);
    detail['warmP99us'] = roundedMedian(warmP99);
  }
  return {
    p50: { status: 'ok', summary: summarize(p50), detail },
    p99: { status: 'ok', summary: summarize(p99), detail },
  };
}
