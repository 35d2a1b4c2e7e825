// Which refused connections earn a line at the default LogLevel. A penalised or over-limit source
// may knock thousands of times a minute, and a line for each would let it fill the disk; with
// no line at all, the admin whose users are refused never learns why. So the first refusal of a
// net block in each interval is logged at INFO with the count of those since its last such line,
// and the rest at VERBOSE. The table is bounded: a flood from many blocks evicts the oldest.

export interface DropNote {
  /** Log this refusal at INFO. */
  readonly loud: boolean;
  /** Refusals of the same block since its last INFO line, when this one is loud. */
  readonly since: number;
}

interface Entry {
  lastLoud: number;
  quiet: number;
}

export class DropLog {
  private readonly entries = new Map<string, Entry>();

  /** `now` gives seconds; tests pass a fake clock. */
  constructor(
    readonly intervalSeconds = 60,
    private readonly maxBlocks = 4096,
    private readonly now: () => number = () => performance.now() / 1000,
  ) {}

  note(block: string): DropNote {
    const t = this.now();
    const e = this.entries.get(block);
    if (e && t - e.lastLoud < this.intervalSeconds) {
      e.quiet++;
      return { loud: false, since: 0 };
    }
    const since = e?.quiet ?? 0;
    // Re-inserted, so that the Map's order is by last INFO line and the first key the oldest.
    this.entries.delete(block);
    this.entries.set(block, { lastLoud: t, quiet: 0 });
    if (this.entries.size > this.maxBlocks) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return { loud: true, since };
  }

  get size(): number {
    return this.entries.size;
  }
}
