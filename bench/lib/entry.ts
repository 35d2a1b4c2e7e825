// How a benchmark program ends: exit status 0 when its main resolves, 1 with the error's stack
// otherwise. process.exit, not a drained loop: a daemon or timer a failed row left behind must
// not keep the run alive after its clean-up.

export function exitWhenDone(main: () => Promise<void>, log: (line: string) => void): void {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
