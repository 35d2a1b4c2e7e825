// What tlsshctl status and top show of the TPM key agent: operations done, failures, how long the
// TPM took (p50/p99 over the last LATENCY_WINDOW operations) and how many requests wait.

export interface AgentStats {
  /** Signatures (and RSA private operations) the TPM made. */
  signs: number;
  /** Requests that failed: TPM errors, timeouts, refused or malformed requests. */
  errors: number;
  /** Milliseconds of the TPM operation itself (queueing excluded); null before the first. */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Requests waiting or running now. */
  queue: number;
  /** True while an operation has passed TpmTimeout and the TPM has not answered. */
  stalled: boolean;
}

export const LATENCY_WINDOW = 1024;

/** The last `size` latencies in a ring; percentiles by nearest rank. */
export class LatencyWindow {
  private readonly samples: number[] = [];
  private next = 0;

  constructor(private readonly size = LATENCY_WINDOW) {}

  add(ms: number): void {
    if (this.samples.length < this.size) this.samples.push(ms);
    else this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
  }

  /** Nearest-rank percentile (0 < p <= 100), or null without samples. */
  percentile(p: number): number | null {
    if (this.samples.length === 0) return null;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
    return sorted[rank - 1] ?? null;
  }
}
