// The process that starts and times the rows' client commands (runTimed in proc.ts), as a shell's
// `time` does. Timing a spawn from the bench itself charged each command with the fork of the
// bench's own process: libuv's spawn forks the parent and returns only after the child's exec,
// and the cost of that fork grows with the parent's memory (its page tables are copied). The
// bench holds results, sizes and both daemons' bookkeeping; this process holds one command at a
// time, so what a row measures is the command, not the harness.
//
// Protocol (node IPC): {id, argv, env, timeoutMs} in, {id, ms, code, signal, stdout, stderr,
// reapedCpuMs} or {id, error} out. SIGTERM or the bench going away kills every command still
// running.
//
// The commands' CPU lands in this process's cutime/cstime when it reaps them, not in the bench's,
// so each reply carries that running total: the difference between two replies of commands run
// one after another is what the commands in between cost.

import { spawn, type ChildProcess } from 'node:child_process';
import { clockTicks, reapedChildrenCpuMs } from './cpu-time';

export interface TimerRequest {
  id: number;
  argv: string[];
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export type TimerReply =
  | { id: number; ms: number; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; reapedCpuMs: number }
  | { id: number; error: string };

const running = new Set<ChildProcess>();
// Asked once now (it runs getconf), not in the first command's reply.
clockTicks();

function killAll(): void {
  for (const c of running) c.kill('SIGKILL');
}

function reply(r: TimerReply): void {
  if (process.connected) process.send!(r);
}

function run(req: TimerRequest): void {
  const t0 = process.hrtime.bigint();
  const child = spawn(req.argv[0]!, req.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: req.env });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 65536) stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 65536) stderr += d; });
  const timer = req.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), req.timeoutMs) : undefined;
  child.once('error', (e) => {
    if (timer) clearTimeout(timer);
    running.delete(child);
    reply({ id: req.id, error: e.message });
  });
  child.once('close', (code, signal) => {
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (timer) clearTimeout(timer);
    running.delete(child);
    reply({ id: req.id, ms, code, signal, stdout, stderr, reapedCpuMs: reapedChildrenCpuMs() });
  });
}

process.on('message', (m: TimerRequest) => {
  try {
    run(m);
  } catch (e) {
    // A spawn that throws (a bad argument) fails that one request, never the timing process.
    reply({ id: m.id, error: e instanceof Error ? e.message : String(e) });
  }
});
process.on('disconnect', () => {
  killAll();
  process.exit(0);
});
process.on('SIGTERM', () => {
  killAll();
  process.exit(143);
});
