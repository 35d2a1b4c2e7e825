// tlsshctl as the control-socket tests run it: the real bin/tlsshctl against a real tlsshd, and
// the bounded poll for the sessions it lists, which every such test needs because a session is
// listed only once its worker has reported in.

import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { SessionView } from '../../src/server/control-protocol';

export const TLSSHCTL = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlsshctl');

export interface CtlRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function ctl(args: readonly string[]): Promise<CtlRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TLSSHCTL, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `tlsshctl <conf> sessions --json`, which must succeed. */
export async function controlSessions(conf: readonly string[]): Promise<SessionView[]> {
  const r = await ctl([...conf, 'sessions', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { sessions: SessionView[] }).sessions;
}

/** Polls (bounded, not timed) until `n` sessions with their certificate details are listed. */
export async function waitForControlSessions(conf: readonly string[], n: number): Promise<SessionView[]> {
  for (let i = 0; i < 300; i++) {
    const s = await controlSessions(conf);
    if (s.length === n && s.every((x) => x.serial !== undefined)) return s;
    await sleep(100);
  }
  assert.fail(`never saw ${n} sessions: ${JSON.stringify(await controlSessions(conf))}`);
}
