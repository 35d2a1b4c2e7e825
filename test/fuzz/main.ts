// `npm run fuzz`: the hostile-input suite against a real tlsshd on 127.0.0.1. See README
// ("Fuzzing"). Exit status 0 when the canary session survived, the daemon still serves logins
// and the codec kept its contract; 1 otherwise; 2 for a bad command line.

import { FULL_DEFAULTS, mb, runFuzz, type FuzzOptions } from './run-fuzz';

const USAGE = `usage: npm run fuzz -- [options]
  --seed N              seed of the run; the same seed replays the same frames (default ${FULL_DEFAULTS.seed})
  --frames N            frames in all, codec and live (default ${FULL_DEFAULTS.frames})
  --seconds N           time bound for the frame phases (default ${FULL_DEFAULTS.seconds})
  --live-share F        share of the frames sent over live connections (default ${FULL_DEFAULTS.liveShare})
  --idle N              idle TCP connections in the flood (default ${FULL_DEFAULTS.idleConnections})
  --half-hellos N       connections stalled after half a ClientHello (default ${FULL_DEFAULTS.halfHellos})
  --ping-bytes N        bytes of pings sent by a client that never reads (default ${FULL_DEFAULTS.pingBytes})
  --slow-reader N       seconds of a client that never reads its stdout (default ${FULL_DEFAULTS.slowReaderSeconds})
  --short               the CI size: 20000 frames and small floods
  --json                print the report as JSON on stdout (progress goes to stderr)`;

const NUMERIC: Record<string, keyof FuzzOptions> = {
  '--seed': 'seed', '--frames': 'frames', '--seconds': 'seconds', '--live-share': 'liveShare', '--idle': 'idleConnections',
  '--half-hellos': 'halfHellos', '--ping-bytes': 'pingBytes', '--slow-reader': 'slowReaderSeconds', '--concurrency': 'concurrency',
};

export const SHORT: Partial<FuzzOptions> = {
  frames: 20_000, seconds: 60, idleConnections: 40, halfHellos: 20, pingBytes: 4 * 1024 * 1024, slowReaderSeconds: 3, loginsPerFlood: 2,
};

function parse(argv: string[]): { opts: Omit<FuzzOptions, 'log'>; json: boolean } | string {
  const opts: Omit<FuzzOptions, 'log'> = { ...FULL_DEFAULTS };
  const given: Partial<Record<keyof FuzzOptions, number>> = {};
  let json = false;
  let short = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--json') json = true;
    else if (a === '--short') short = true;
    else if (a === '--help' || a === '-h') return USAGE;
    else if (NUMERIC[a]) {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) return `${a} needs a number >= 0\n${USAGE}`;
      given[NUMERIC[a]] = v;
    } else return `unknown option ${a}\n${USAGE}`;
  }
  Object.assign(opts, short ? SHORT : {}, given);
  return { opts, json };
}

async function main(): Promise<void> {
  const p = parse(process.argv.slice(2));
  if (typeof p === 'string') {
    process.stderr.write(`${p}\n`);
    process.exit(p === USAGE ? 0 : 2);
  }
  const log = (line: string): void => void process.stderr.write(`fuzz: ${line}\n`);
  const r = await runFuzz({ ...p.opts, log });
  if (p.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else {
    process.stdout.write([
      `seed                 ${r.seed}`,
      `frames sent          ${r.framesSent} (codec ${r.codec.frames}, live ${r.live.frames})`,
      `connections          ${r.connections}`,
      `daemon tree peak PSS ${mb(r.peakTreePssKb)} (${r.peakTreeProcesses} processes at most)`,
      `canary survived      ${r.canarySurvived ? 'yes' : 'NO'} (${r.canaryEchoes} echoes)`,
      `daemon answers       ${r.daemonAnswers ? 'yes' : 'NO'}`,
      `codec findings       ${r.codec.findings.length}${r.codec.findings.map((f) => `\n  ${f}`).join('')}`,
      `took                 ${r.seconds} s`,
      r.ok ? 'result               PASS' : `result               FAIL: ${r.failures.join('; ')}`,
    ].join('\n') + '\n');
  }
  process.exit(r.ok ? 0 : 1);
}

void main();
