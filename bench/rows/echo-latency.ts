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
      await Promise.race([exit, new Promise((r) => setTimeout(r, 5000))]);
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

export async function echoLatency(t: Target, bytes: number, repeats: number): Promise<EchoCells> {
  const p50: number[] = [];
  const p99: number[] = [];
  // CPU per keystroke on each side: on a shared 2-core machine the tail is the time a process
  // waits for a core (see RESULTS.md), so the CPU each side spends per byte is what exposes it.
  const clientCpu: number[] = [];
  const serverCpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const s = await openEchoSession(t);
    try {
      for (let i = 0; i < 20; i++) await s.roundTrip(); // warm-up: JIT, first-touch buffers
      const us: number[] = [];
      const client0 = processCpuMs(s.clientPid);
      const server0 = t.serverCpuMs() ?? Number.NaN;
      for (let i = 0; i < bytes; i++) us.push(await s.roundTrip());
      clientCpu.push(((processCpuMs(s.clientPid) - client0) * 1000) / bytes);
      serverCpu.push((((t.serverCpuMs() ?? Number.NaN) - server0) * 1000) / bytes);
      p50.push(percentile(us, 50));
      p99.push(percentile(us, 99));
    } finally {
      await s.close();
    }
  }
  const perByte = (v: number[]): number | string => {
    const m = summarize(v).median;
    return Number.isFinite(m) ? Math.round(m) : 'not measurable';
  };
  const detail = { bytesPerRun: bytes, clientCpuUsPerByte: perByte(clientCpu), serverCpuUsPerByte: perByte(serverCpu) };
  return {
    p50: { status: 'ok', summary: summarize(p50), detail },
    p99: { status: 'ok', summary: summarize(p99), detail },
  };
}
