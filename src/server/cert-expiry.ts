// A session follows its client certificate's notAfter (CertificateExpiry): the user is told a
// few minutes ahead (CertificateExpiryWarning) and the session ends at expiry. The worker does
// this itself: it holds the channel, and after the drop it is non-dumpable (setuid), so the user
// cannot stop its timers short of ending the session anyway.

/** setTimeout's longest delay (2^31-1 ms, 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The line the user sees, e.g. "tlssh: your certificate expires in 5 minutes; this session will end then". */
export function expiryWarning(msLeft: number): string {
  const s = Math.max(0, Math.round(msLeft / 1000));
  let when: string;
  if (s >= 120) when = `${Math.round(s / 60)} minutes`;
  else if (s >= 60) when = '1 minute';
  else when = s === 1 ? '1 second' : `${s} seconds`;
  return `tlssh: your certificate expires in ${when}; this session will end then`;
}

export interface ExpiryWatchOptions {
  notAfter: Date;
  /** Milliseconds before notAfter to warn; 0: no warning. */
  warnLeadMs: number;
  /** Called once, at expiry. */
  onExpire(): void;
  /** Called once with the warning line, when the lead begins (at once if it already has). */
  onWarn(line: string): void;
  now?: () => number;
}

export interface ExpiryWatch {
  stop(): void;
}

/**
 * Arms the warning and the end. The timers are chained in steps of at most MAX_TIMER_MS, so a
 * certificate valid for a year is followed as well as one valid for a minute, and unref'd: they
 * never keep a worker alive by themselves.
 */
export function watchCertificateExpiry(o: ExpiryWatchOptions): ExpiryWatch {
  const now = o.now ?? Date.now;
  const end = o.notAfter.getTime();
  const timers: Array<NodeJS.Timeout | undefined> = [undefined, undefined];
  let stopped = false;
  const at = (slot: 0 | 1, when: number, fn: () => void): void => {
    const step = (): void => {
      if (stopped) return;
      const left = when - now();
      if (left <= 0) {
        timers[slot] = undefined;
        fn();
        return;
      }
      const t = setTimeout(step, Math.min(left, MAX_TIMER_MS));
      t.unref();
      timers[slot] = t;
    };
    step();
  };
  if (o.warnLeadMs > 0) at(0, end - o.warnLeadMs, () => o.onWarn(expiryWarning(end - now())));
  at(1, end, () => {
    stopped = true;
    if (timers[0]) clearTimeout(timers[0]);
    o.onExpire();
  });
  return {
    stop: () => {
      stopped = true;
      for (const t of timers) if (t) clearTimeout(t);
    },
  };
}

export interface SessionExpiryOptions {
  mode: 'end' | 'off';
  /** Seconds. */
  warnLead: number;
  /** The client certificate's notAfter; undefined when unknown (then nothing is armed). */
  notAfter: Date | undefined;
  /** Ends the session with TLSSH_ERR_CERT_EXPIRED_IN_SESSION (the caller logs and tells the client). */
  end(message: string): void;
  log(line: string): void;
}

/**
 * The connection's side: the warning goes to every session's output (a shared connection has
 * several; one that starts after the warning gets its own, with the time then left), the end to
 * `end`, which ends the connection and so all of its sessions.
 */
export interface SessionExpiry {
  /** A session's terminal (or stderr): where the warning is written, now or later. Returns its detach. */
  attachOutput(write: (line: string) => void): () => void;
  stop(): void;
}

export function followCertificate(o: SessionExpiryOptions): SessionExpiry {
  const writers = new Set<(line: string) => void>();
  let warned = false;
  if (o.mode === 'off' || o.notAfter === undefined || Number.isNaN(o.notAfter.getTime())) {
    return { attachOutput: () => () => undefined, stop: () => undefined };
  }
  const notAfter = o.notAfter;
  const watch = watchCertificateExpiry({
    notAfter,
    warnLeadMs: o.warnLead * 1000,
    onWarn: (line) => {
      o.log(`certificate expires at ${notAfter.toISOString()}; user warned`);
      warned = true;
      for (const w of writers) w(line);
    },
    onExpire: () => o.end(`client certificate expired at ${notAfter.toISOString()}; session ended (tlsshd CertificateExpiry end)`),
  });
  return {
    attachOutput: (w) => {
      writers.add(w);
      if (warned) w(expiryWarning(notAfter.getTime() - Date.now()));
      return () => writers.delete(w);
    },
    stop: () => {
      writers.clear();
      watch.stop();
    },
  };
}
