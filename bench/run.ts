// `npm run bench [-- --quick] [-- --rows 1,3,5]` (`--rows 1c`: only the slow-TPM login): tlssh
// and OpenSSH on this machine, in the same run, side by side. Sets up its own private sshd,
// tlsshd and swtpm on 127.0.0.1, prints a table and the machine, writes JSON and an SVG chart to
// bench/results/, and removes everything it created on the way out.

import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Cleanup } from './cleanup';
import { ensurePackages } from './lib/ensure-packages';
import { exitWhenDone } from './lib/entry';
import { killTracked } from './lib/proc';
import { machineInfo } from './lib/machine';
import { createWorkspace, removeWorkspace } from './lib/workspace';
import { renderTable, writeResults, type BenchReport } from './report';
import { alternating, measure, skipped, type Cell, type Row } from './result';
import { upload, download } from './rows/bulk-throughput';
import { echoLatency, type EchoCells } from './rows/echo-latency';
import { idleMemory } from './rows/idle-memory';
import { loginLatency } from './rows/login-latency';
import { multiplexedLatency, multiplexedScript } from './rows/multiplexed-login';
import { concurrentLogins, sequentialLogins } from './rows/login-rate';
import { ptyOutput } from './rows/pty-output';
import { tpmIsolation } from './rows/tpm-isolation';
import { SLOW_TPM_MS, setupTlssh, type Maybe } from './setup-tlssh';
import { FULL, QUICK } from './sizes';
import { startSshd } from './sshd';
import { REPO } from './tlsshd';
import type { Target } from './target';

const log = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };

interface Args {
  quick: boolean;
  rows: Set<string> | undefined;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, rows: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') args.quick = true;
    else if (a === '--rows') args.rows = new Set((argv[++i] ?? '').split(',').filter(Boolean));
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: npm run bench [-- --quick] [-- --rows 1,2,3,4,5,6,7,8,9] (1c alone: the slow-TPM login)\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  return args;
}

/** Measures one side, or records why it cannot be measured. */
function side(t: Maybe, fn: (t: Target) => Promise<Cell>): Promise<Cell> {
  return typeof t === 'string' ? Promise.resolve(skipped(t)) : measure(() => fn(t), t.serverLog);
}

async function echoCells(t: Maybe, bytes: number, repeats: number, warmBytes: number): Promise<EchoCells> {
  if (typeof t === 'string') return { p50: skipped(t), p99: skipped(t) };
  try {
    return await echoLatency(t, bytes, repeats, warmBytes);
  } catch (e) {
    const c = skipped(`failed: ${(e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 300)}`);
    return { p50: c, p99: c };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sizes = args.quick ? QUICK : FULL;
  const wanted = (n: string): boolean => args.rows === undefined || args.rows.has(n);
  const started = performance.now();
  const load = { start: loadavg()[0]!, max: loadavg()[0]!, end: 0 };
  const loadSampler = setInterval(() => { load.max = Math.max(load.max, loadavg()[0]!); }, 5000);
  loadSampler.unref();
  const cleanup = new Cleanup();
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    killTracked();
    void cleanup.run(log).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rows: Row[] = [];
  const add = (row: Row): void => {
    rows.push(row);
    log(`done ${row.id} ${row.title}`);
  };
  try {
    ensurePackages(['openssh-server', 'openssh-client', 'openssl'], log);
    // Without a software TPM only the TPM rows are lost, so that is not a reason to stop.
    let noSwtpm: string | undefined;
    // Making a software TPM and key per parallel client takes a while: only for the rows that use them.
    const tpmRows = ['1', '1c', '2', '7'].filter(wanted);
    if (tpmRows.length === 0) {
      noSwtpm = 'no TPM row requested';
    } else {
      try {
        ensurePackages(['swtpm', 'swtpm-tools'], log);
      } catch (e) {
        noSwtpm = `no software TPM: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    const machine = machineInfo();
    const ws = createWorkspace();
    cleanup.add('workspace and login account', () => removeWorkspace(ws));
    // The clients' HOME: tlssh keeps its TPM keys' saved contexts in ~/.tlssh, which must not
    // pile up in the runner's own home (one per software TPM per run). Only tlssh reads HOME
    // here: it is given its config with -c, and ssh finds its home in the password database.
    const clientHome = join(ws.dir, 'client-home');
    mkdirSync(clientHome, { mode: 0o700 });
    process.env.HOME = clientHome;
    const sshd = await startSshd(ws);
    cleanup.add('sshd', () => sshd.daemon.stop());
    const ssh = sshd.target;
    log(`private sshd on 127.0.0.1:${sshd.daemon.port}`);
    // One client TPM per login of the largest burst that runs (rows 2d, 7); one is enough for row 1b.
    const clientTpms = Math.max(1, wanted('2') ? sizes.parallelLogins : 0, wanted('7') ? sizes.isolationLogins : 0);
    const tl = await setupTlssh(ws, cleanup, log, clientTpms, noSwtpm);
    const forkNote = 'tlssh: the file-key daemon with WorkerForkServer yes (workers forked from one process that loaded their code; all share its address-space layout); OpenSSH: the same figure as the row above';
    const sshOnly = 'OpenSSH has no TPM keys: its figure is the file-key one; tlssh: server key in one software TPM, each parallel client with a software TPM of its own';

    if (wanted('1')) {
      const s = await side(ssh, (t) => loginLatency(t, sizes.loginRuns));
      add({ id: '1a', title: 'login `host true`, file keys', unit: 'ms', better: 'lower', ssh: s, tlssh: await side(tl.file, (t) => loginLatency(t, sizes.loginRuns)) });
      add({ id: '1b', title: 'login `host true`, TPM keys', unit: 'ms', better: 'lower', ssh: s, tlssh: await side(tl.tpm, (t) => loginLatency(t, sizes.loginRuns)), note: sshOnly });
    }
    if (wanted('2')) {
      const seq = (t: Target): Promise<Cell> => sequentialLogins(t, sizes.sequentialLogins, sizes.sequentialRepeats);
      const par = (t: Target): Promise<Cell> => concurrentLogins(t, sizes.parallelLogins, sizes.parallelRepeats);
      const s1 = await side(ssh, seq);
      add({ id: '2a', title: 'sequential logins, file keys', unit: 'logins/s', better: 'higher', ssh: s1, tlssh: await side(tl.file, seq) });
      add({ id: '2b', title: 'sequential logins, TPM keys', unit: 'logins/s', better: 'higher', ssh: s1, tlssh: await side(tl.tpm, seq), note: sshOnly });
      const p1 = await side(ssh, par);
      const n = sizes.parallelLogins;
      add({ id: '2c', title: `${n} parallel logins, file keys`, unit: 'ms total', better: 'lower', ssh: p1, tlssh: await side(tl.file, par) });
      add({ id: '2d', title: `${n} parallel logins, TPM keys`, unit: 'ms total', better: 'lower', ssh: p1, tlssh: await side(tl.tpm, par), note: sshOnly });
      add({ id: '2e', title: `${n} parallel logins, file keys, WorkerForkServer yes`, unit: 'ms total', better: 'lower', ssh: p1, tlssh: await side(await tl.forkServer(), par), note: forkNote });
    }
    if (wanted('3')) {
      const mb = Math.round(sizes.bulkBytes / 2 ** 20);
      const up = (t: Target): Promise<Cell> => upload(t, sizes.bulkBytes, 1);
      const down = (t: Target): Promise<Cell> => download(t, sizes.bulkBytes, 1);
      add({ id: '3a', title: `upload ${mb} MiB, no PTY`, unit: 'MB/s', better: 'higher', ...await alternating(ssh, tl.file, sizes.bulkRepeats, (t) => side(t, up)) });
      add({ id: '3b', title: `download ${mb} MiB, no PTY`, unit: 'MB/s', better: 'higher', ...await alternating(ssh, tl.file, sizes.bulkRepeats, (t) => side(t, down)) });
    }
    if (wanted('4')) {
      const pty = (t: Target): Promise<Cell> => ptyOutput(t, sizes.ptyBytes, 1);
      add({ id: '4', title: `PTY output, base64 of ${Math.round(sizes.ptyBytes / 2 ** 20)} MiB`, unit: 'MB/s', better: 'higher', ...await alternating(ssh, tl.file, sizes.ptyRepeats, (t) => side(t, pty), ['runsWithLostOutput']) });
    }
    if (wanted('5')) {
      const s = await echoCells(ssh, sizes.echoBytes, sizes.echoRepeats, sizes.echoWarmBytes);
      const t = await echoCells(tl.file, sizes.echoBytes, sizes.echoRepeats, sizes.echoWarmBytes);
      add({ id: '5a', title: `keystroke echo p50 (${sizes.echoBytes} bytes)`, unit: 'µs', better: 'lower', ssh: s.p50, tlssh: t.p50 });
      add({ id: '5b', title: `keystroke echo p99 (${sizes.echoBytes} bytes)`, unit: 'µs', better: 'lower', ssh: s.p99, tlssh: t.p99 });
    }
    if (wanted('6')) {
      const mem = (t: Target): Promise<Cell> => idleMemory(t, sizes.idleSessions);
      const s6 = await side(ssh, mem);
      add({ id: '6', title: `server PSS per idle session (${sizes.idleSessions})`, unit: 'MB', better: 'lower', ssh: s6, tlssh: await side(tl.file, mem) });
      add({ id: '6b', title: `server PSS per idle session (${sizes.idleSessions}), WorkerForkServer yes`, unit: 'MB', better: 'lower', ssh: s6, tlssh: await side(await tl.forkServer(), mem), note: forkNote });
    }
    // After every row that uses the TPM daemon: the slow-TPM daemon takes its software TPM.
    if (wanted('1') || wanted('1c')) {
      const runs = sizes.slowLoginRuns;
      const s = await side(ssh, (t) => loginLatency(t, runs));
      add({
        id: '1c', title: `login \`host true\`, TPMs answering after ${SLOW_TPM_MS} ms`, unit: 'ms', better: 'lower',
        ssh: s, tlssh: await side(await tl.slowTpmBoth(), (t) => loginLatency(t, runs)),
        note: `tlssh: TPM keys on both ends, each TPM behind a proxy holding every response ${SLOW_TPM_MS} ms (as a discrete chip); OpenSSH: its file-key login`,
      });
    }
    if (wanted('7')) {
      const slow = await tl.slowTpm();
      const n = sizes.isolationLogins;
      const iso = (logins: Maybe) => (t: Target): Promise<Cell> =>
        typeof logins === 'string' ? Promise.resolve(skipped(logins)) : tpmIsolation(t, logins, n, sizes.isolationRepeats);
      const tlsshCell = await side(slow.echo, iso(slow.logins));
      // The same burst with file keys on both ends tells the slow TPM's share from the burst's.
      const fileSide = tl.file;
      if (tlsshCell.status === 'ok' && typeof fileSide !== 'string') {
        const control = await measure(() => tpmIsolation(fileSide, fileSide, n, sizes.isolationRepeats));
        tlsshCell.detail = { ...tlsshCell.detail, fileKeysP99us: control.status === 'ok' ? Math.round(control.summary.median) : control.reason };
      }
      add({
        id: '7', title: `echo p99 during ${n} new logins, 100 ms TPM`, unit: 'µs', better: 'lower',
        ssh: await side(ssh, iso(ssh)), tlssh: tlsshCell,
        note: 'tlssh: server key in a TPM answering after 100 ms; the open session uses a file key, each new login a client TPM of its own; OpenSSH: its ordinary logins (no TPM)',
      });
    }

    if (wanted('8')) {
      const mux = (t: Target): Promise<Cell> => multiplexedLatency(t, sizes.loginRuns);
      add({
        id: '8', title: 'login `host true` through a ControlMaster', unit: 'ms', better: 'lower',
        ssh: await side(ssh, mux), tlssh: await side(tl.file, mux),
        note: 'both: -o ControlMaster=auto -o ControlPath=DIR/s -o ControlPersist=120; the run that starts the master is not counted',
      });
    }
    if (wanted('9')) {
      const n = 100;
      const script = (t: Target): Promise<Cell> => multiplexedScript(t, n, args.quick ? 1 : 3);
      const slow = await tl.slowTpm();
      add({
        id: '9', title: `${n} \`host true\` in a row, ControlMaster auto, 100 ms TPM`, unit: 's', better: 'lower',
        ssh: await side(ssh, script), tlssh: await side(slow.logins, script),
        note: 'tlssh: TPM client keys, server key in a TPM answering after 100 ms (the delay proxy); the first run logs in, the rest share its connection; OpenSSH: file keys',
      });
    }

    // In row order, whatever order they had to run in (1c runs after the other TPM rows).
    rows.sort((a, b) => a.id.localeCompare(b.id));
    const report: BenchReport = {
      machine,
      mode: args.quick ? 'quick' : 'full',
      sizes: { ...sizes },
      setup: [
        `both daemons run as root on 127.0.0.1 and log in the same account (${ws.user}, ${ws.shell}, home with empty dot files), both with UsePAM no`,
        'OpenSSH: default ciphers and key exchange, ed25519 host and user keys',
        'tlssh: TLS 1.3, ECDSA P-256 certificates from a private CA; TPM rows use swtpm over TCP',
        'MB = 10^6 bytes; ratio = tlssh median / OpenSSH median',
      ],
      durationSeconds: Math.round((performance.now() - started) / 1000),
      load: { ...load, end: loadavg()[0]!, max: Math.max(load.max, loadavg()[0]!) },
      rows,
    };
    process.stdout.write(`${renderTable(report)}\n`);
    const paths = writeResults(join(REPO, 'bench', 'results'), report);
    log(`wrote ${paths.join(", ")}`);
  } finally {
    killTracked();
    await cleanup.run(log);
  }
}

exitWhenDone(main, log);
