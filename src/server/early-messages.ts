// What the client may send right behind its session request, before the process exists
// (PROTOCOL.md section 6): window changes and signals. They are held, not dropped, and applied
// once the session runs. Bounded: only the last window size counts, and a few signals.

import type { Message } from '../protocol/messages';

/** More signals than this before the process exists are dropped (a flood, not a user). */
const MAX_EARLY_SIGNALS = 16;

export interface EarlyInput {
  /** The last window size asked for, if any. */
  windowSize: { cols: number; rows: number } | undefined;
  /** Signal names in the order received. */
  signals: string[];
}

export class EarlyMessages {
  private windowSize: EarlyInput['windowSize'];
  private readonly signals: string[] = [];

  /** A 'message' listener for the channel while the session is being set up. */
  readonly hold = (m: Message): void => {
    if (m.type === 'window-change') this.windowSize = { cols: m.cols, rows: m.rows };
    else if (m.type === 'signal' && this.signals.length < MAX_EARLY_SIGNALS) this.signals.push(m.name);
  };

  take(): EarlyInput {
    return { windowSize: this.windowSize, signals: this.signals.splice(0) };
  }
}
