// One bounded wait for tests: polls until a condition holds, and fails with what it waited for.
// Bounds keep a broken build from hanging a run; they are never timing assertions.

export interface PollOptions {
  /** Give up after this long (default 30 s). */
  limitMs?: number;
  /** Between checks (default 50 ms). */
  everyMs?: number;
}

/**
 * Resolves with the first value of `check` that is neither undefined nor false (true for a plain
 * condition); rejects with "gave up waiting for WHAT" after `limitMs`.
 */
export async function pollUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  { limitMs = 30_000, everyMs = 50 }: PollOptions = {},
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
