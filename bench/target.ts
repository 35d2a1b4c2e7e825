// One side of the comparison as the rows see it: how to build a client command line, and which
// process tree on the server side to weigh. Rows never know which program they are driving.

export type Side = 'ssh' | 'tlssh';

export interface ClientOptions {
  /** 'force' is -tt (a PTY even when stdin is not a terminal), 'none' is -T, 'auto' neither. */
  tty: 'force' | 'none' | 'auto';
  /** Remote command; undefined for a login shell. */
  command?: string;
}

export interface Target {
  side: Side;
  /** Human label, e.g. "tlssh (TPM keys)". */
  label: string;
  /** argv of the client process. */
  clientArgv(opts: ClientOptions): string[];
  /** pid whose process tree is the whole server side (sshd master, tlsshd listener). */
  serverPid(): number;
  /** CPU milliseconds used by the whole server side so far; undefined where not measurable. */
  serverCpuMs(): number | undefined;
  /** The server's recent log: a failed row shows its end, so the failure explains itself. */
  serverLog?(): string;
}

export interface Daemon {
  pid: number;
  port: number;
  /** The daemon's recent stderr, for error messages. */
  recentLog(): string;
  /** CPU milliseconds of the daemon and all its descendants; undefined where not measurable. */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}
