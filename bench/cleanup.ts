// Everything the benchmark starts or creates registers its undo here; undone in reverse order
// on the way out, on Ctrl-C too, so no daemon, swtpm, account or directory is left behind.

export class Cleanup {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];
  private running: Promise<void> | undefined;

  add(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  run(log: (line: string) => void): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.undo();
        } catch (e) {
          log(`cleanup: ${step.what}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    })();
    return this.running;
  }
}
