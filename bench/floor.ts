// `node dist/bench/floor.js [--rounds N] [--rows 3a,3b,4,5]`: how much of each data row's gap to
// OpenSSH is Node.js itself. Runs the rows' own code against three sides, one repeat of each in
// turn per round: OpenSSH, tlssh (file keys), and the floor relay (bench/floor/), the least a
// Node.js program can do to relay a session over mutual TLS 1.3 with the same certificates. A
// row where tlssh is at the floor cannot gain by a leaner tlssh, only by doing less in Node per
// byte or per keystroke; a row where tlssh is below the floor has a cost of tlssh's own to find.
// Same set-up and clean-up as `npm run bench`; writes nothing to bench/results.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Cleanup } from './cleanup';
import { ensurePackages } from './lib/ensure-packages';
import { exitWhenDone } from './lib/entry';
import { treeCpuMs } from './lib/cpu-time';
import { killTracked, stopChild, trackChild, waitFor } from './lib/proc';
import { makePki, type Pki } from './lib/pki';
import { summarize } from './lib/stats';
import { createWorkspace, removeWorkspace } from './lib/workspace';
import type { Cell } from './result';
import { upload, download } from './rows/bulk-throughput';
import { echoLatency } from './rows/echo-latency';
import { ptyOutput } from './rows/pty-output';
import { FULL } from './sizes';
import { startSshd } from './sshd';
import { startTlsshd, tlsshTarget } from './tlsshd';
import type { Target } from './target';

const log = (line: string): void => { process.stderr.write(`floor: ${line}\n`); };
const ROWS = ['3a', '3b', '4', '5'] as const;
type RowId = (typeof ROWS)[number];

function parseArgs(argv: string[]): { rounds: number; rows: RowId[] } {
  let rounds = 3;
  let rows: RowId[] = [...ROWS];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--rounds') rounds = Number(argv[++i]);
    else if (a === '--rows') rows = (argv[++i] ?? '').split(',').filter((r): r is RowId => (ROWS as readonly string[]).includes(r));
    else {
      const help = a === '-h' || a === '--help';
      (help ? process.stdout : process.stderr).write(`${help ? '' : `floor: unknown argument ${a}\n`}usage: npm run bench:floor [-- --rounds N] [-- --rows 3a,3b,4,5]\n`);
      process.exit(help ? 0 : 2);
    }
  }
  if (!Number.isInteger(rounds) || rounds < 1 || rows.length === 0) {
    process.stderr.write('floor: --rounds takes a whole number of at least 1, --rows some of 3a,3b,4,5\n');
    process.exit(2);
  }
  return { rounds, rows };
}

/** The floor relay's server, as root, its commands run as the bench account. */
async function floorTarget(cleanup: Cleanup, pki: Pki, uid: number, gid: number): Promise<Target> {
  const server = spawn(process.execPath, [join(__dirname, 'floor', 'relay-server.js'), pki.serverCert, pki.serverKey, pki.caCert, String(uid), String(gid)], { stdio: ['ignore', 'pipe', 'inherit'] });
  trackChild(server);
  cleanup.add('floor relay', () => stopChild(server));
  const port = Number((await waitFor(server.stdout!, /listening on 127\.0\.0\.1:(\d+)/, 15_000, 'floor relay start'))[1]);
  server.stdout!.resume();
  const client = join(__dirname, 'floor', 'relay-client.js');
  return {
    side: 'tlssh',
    label: 'floor relay',
    clientArgv: (o) => {
      // Row 3a's receiver says "go" after a block of this size (bulk-throughput.ts); the floor's
      // sender says it instead (relay-client.ts).
      const goAfter = /dd bs=(\d+) /.exec(o.command ?? '')?.[1] ?? '0';
      return [process.execPath, client, String(port), o.tty === 'force' ? 't' : 'n', pki.clientCert, pki.clientKey, pki.caCert, goAfter, o.command ?? 'exec $SHELL -l'];
    },
    serverPid: () => server.pid!,
    serverCpuMs: () => treeCpuMs(server.pid!),
  };
}

interface Measured {
  value: number;
  unit: string;
  better: 'higher' | 'lower';
}

/** The figures a row gives, in the order once() returns them. */
function labels(row: RowId): string[] {
  switch (row) {
    case '3a': return ['3a upload'];
    case '3b': return ['3b download'];
    case '4': return ['4 PTY output'];
    default: return ['5a echo p50', '5b echo p99'];
  }
}

async function once(row: RowId, t: Target): Promise<Measured[]> {
  const ok = (c: Cell): number => {
    if (c.status !== 'ok') throw new Error(`${t.label}: ${c.reason}`);
    return c.summary.median;
  };
  switch (row) {
    case '3a': return [{ value: ok(await upload(t, FULL.bulkBytes, 1)), unit: 'MB/s', better: 'higher' }];
    case '3b': return [{ value: ok(await download(t, FULL.bulkBytes, 1)), unit: 'MB/s', better: 'higher' }];
    case '4': return [{ value: ok(await ptyOutput(t, FULL.ptyBytes, 1)), unit: 'MB/s', better: 'higher' }];
    default: {
      const e = await echoLatency(t, FULL.echoBytes, 1);
      return [{ value: ok(e.p50), unit: 'µs', better: 'lower' }, { value: ok(e.p99), unit: 'µs', better: 'lower' }];
    }
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cleanup = new Cleanup();
  process.once('SIGINT', () => { killTracked(); void cleanup.run(log).then(() => process.exit(130)); });
  try {
    ensurePackages(['openssh-server', 'openssh-client', 'openssl'], log);
    const ws = createWorkspace();
    cleanup.add('workspace and login account', () => removeWorkspace(ws));
    const pki = await makePki(join(ws.dir, 'pki'), ws.user);
    const sshd = await startSshd(ws);
    cleanup.add('sshd', () => sshd.daemon.stop());
    const d = await startTlsshd(ws, 'file', { cert: pki.serverCert, key: pki.serverKey }, pki.caCert);
    cleanup.add('tlsshd', () => d.stop());
    const sides: [string, Target][] = [
      ['OpenSSH', sshd.target],
      ['tlssh', tlsshTarget(ws, 'file', 'tlssh', d, [{ cert: pki.clientCert, key: pki.clientKey }], pki.caCert)],
      ['floor', await floorTarget(cleanup, pki, ws.uid, ws.gid)],
    ];
    const names = args.rows.flatMap(labels);
    const samples = new Map<string, number[]>();
    const meta = new Map<string, Measured>();
    for (let round = 0; round < args.rounds; round++) {
      for (const row of args.rows) {
        for (const [side, t] of sides) {
          const got = await once(row, t);
          const rowNames = labels(row);
          got.forEach((m, i) => {
            const key = `${rowNames[i]}|${side}`;
            samples.set(key, [...(samples.get(key) ?? []), m.value]);
            meta.set(rowNames[i]!, m);
          });
          log(`round ${round + 1}: ${row} ${side} ${got.map((m) => `${m.value.toFixed(1)} ${m.unit}`).join(', ')}`);
        }
      }
    }
    const med = (row: string, side: string): number => summarize(samples.get(`${row}|${side}`) ?? []).median;
    const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
    const lines = [
      `| row | OpenSSH | tlssh | floor relay | tlssh/ssh | floor/ssh | tlssh/floor |`,
      '|---|---|---|---|---|---|---|',
    ];
    for (const row of names) {
      const m = meta.get(row)!;
      const [s, t, f] = [med(row, 'OpenSSH'), med(row, 'tlssh'), med(row, 'floor')];
      lines.push(`| ${row} (${m.unit}, ${m.better} is better) | ${fmt(s)} | ${fmt(t)} | ${fmt(f)} | ${(t / s).toFixed(2)} | ${(f / s).toFixed(2)} | ${(t / f).toFixed(2)} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n\nmedians of ${args.rounds} rounds, one repeat of each side per round, in turn\n`);
  } finally {
    killTracked();
    await cleanup.run(log);
  }
}

exitWhenDone(main, log);
