// How much work each row does. Full sizes are the (1 GB each way, 100 MB of PTY output,
// 1000 keystrokes, 50 sessions, 20 TPM logins); quick sizes run every row in under two minutes.

export interface Sizes {
  loginRuns: number;
  /** Row 1c, logins with TPMs answering after 100 ms: a median of at least 10 (issue 12). */
  slowLoginRuns: number;
  sequentialLogins: number;
  sequentialRepeats: number;
  parallelLogins: number;
  parallelRepeats: number;
  bulkBytes: number;
  bulkRepeats: number;
  ptyBytes: number;
  ptyRepeats: number;
  echoBytes: number;
  echoRepeats: number;
  /** Row 5's detail: keystrokes typed after the measured ones; the last echoBytes of them are the warm figures. */
  echoWarmBytes: number;
  idleSessions: number;
  isolationLogins: number;
  isolationRepeats: number;
}

const MiB = 2 ** 20;

export const FULL: Sizes = {
  loginRuns: 20,
  slowLoginRuns: 20,
  sequentialLogins: 20,
  sequentialRepeats: 3,
  parallelLogins: 50,
  parallelRepeats: 3,
  bulkBytes: 1024 * MiB,
  // Five, alternating with ssh's (run.ts `alternating`): three left the median to one noisy run.
  bulkRepeats: 5,
  ptyBytes: 100 * MiB,
  ptyRepeats: 5,
  echoBytes: 1000,
  echoRepeats: 3,
  echoWarmBytes: 3000,
  idleSessions: 50,
  isolationLogins: 20,
  isolationRepeats: 3,
};

export const QUICK: Sizes = {
  loginRuns: 5,
  slowLoginRuns: 10,
  sequentialLogins: 5,
  sequentialRepeats: 1,
  parallelLogins: 10,
  parallelRepeats: 1,
  bulkBytes: 256 * MiB,
  bulkRepeats: 3,
  // 4 MiB (0.2 s of output) measured the relays' first moments, before V8 has optimised them:
  // 0.72x against 0.90x at 32 MiB, alternating, same minute (RESULTS.md, row 4). 32 MiB adds
  // about 3 s to a quick run.
  ptyBytes: 32 * MiB,
  ptyRepeats: 1,
  echoBytes: 200,
  echoRepeats: 1,
  echoWarmBytes: 0,
  idleSessions: 10,
  isolationLogins: 5,
  isolationRepeats: 1,
};
