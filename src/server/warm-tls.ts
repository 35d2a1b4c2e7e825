// A worker's TLS set-up, built either when its connection arrives or, in a warm worker, before:
// the first secure context in a process costs a few ms more than the next (node's and OpenSSL's
// first use; node's own CA list is no longer part of it, transport/default-trust.ts), and the
// files (certificate, key, CA, CRL) are read and parsed once more for every context. A warm
// worker pays that while it waits, so the connection handed to it only checks that nothing
// changed since.
//
// "Nothing changed" is two things. The listener's configuration generation, which every reload
// counts up: the listener also retires warm workers on reload, and the generation covers a
// worker warmed just before one. And the files themselves: a worker without a warm-up reads them
// at every login, so a CRL or CA bundle replaced on disk takes effect at the next login without a
// reload; the stat of each (inode, size, mtime, ctime) keeps that true for warm workers.

import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { createTlsServer, serverTlsOptions, type ServerTls } from '../transport/tls-options';
import { TlsshError } from '../errors';
import type { LogSink } from './log';
import { serverTlsFiles, untrustedServerFile } from './trusted-files';
import { fileStamp } from './file-stamp';
import { loadPamBinding } from './pam-binding';
import type { WorkerConfig } from './worker-config';

/** What serveConnection needs to handshake: the set-up and the tls.Server built from it. */
export interface BuiltTls {
  setup: ServerTls;
  server: tls.Server;
  /** When CertFile's certificate expires (undefined: unreadable; the handshake will say). */
  certNotAfter: Date | undefined;
}

/** The first certificate's notAfter, read once per set-up so that each connection only compares. */
function notAfter(cert: unknown): Date | undefined {
  try {
    return Buffer.isBuffer(cert) ? new Date(new X509Certificate(cert).validTo) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a login loads lazily, loaded while the worker waits: node-pty's native module (2.7 ms in a
 * fresh process here; nearly every interactive login has a PTY) and, when the listener turned PAM
 * on, the PAM addon (1 ms; every such login needs it). A failure is left for the login to report,
 * exactly as it would without the warm-up.
 */
export function preloadSessionModules(cfg: Pick<WorkerConfig, 'UsePAM'>): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('./pty-process') as typeof import('./pty-process')).preloadPtyNative();
  } catch {
    // The PTY session reports it.
  }
  if (cfg.UsePAM) loadPamBinding();
}

/** The fields of a warm or connection message that TLS is built from. */
export interface TlsSource {
  config: WorkerConfig;
  logSink: LogSink;
  agentSocket?: string | undefined;
}

export interface PreparedTls extends BuiltTls {
  generation: number;
  /** filesStamp() taken before the files were read. */
  stamp: string;
}

/** Reads the files and builds the context; throws what serverTlsOptions/createTlsServer throw. */
export function buildServerTls(src: TlsSource): BuiltTls {
  const untrusted = untrustedServerFile(src.config);
  if (untrusted !== undefined) throw new TlsshError('TLSSH_ERR_CONFIG_INSECURE_MODE', `${untrusted.keyword} ${untrusted.file}: ${untrusted.why}; no login until it is fixed`);
  const setup = serverTlsOptions(src.config, {
    ...(src.agentSocket ? { agentSocket: src.agentSocket } : {}),
  });
  setup.options.handshakeTimeout = handshakeTimeoutMs(src.config.LoginGraceTime);
  return { setup, server: createTlsServer(setup), certNotAfter: notAfter(setup.options.cert) };
}

/** The longest a Node timer waits (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * LoginGraceTime alone bounds the handshake (worker.ts's grace timer, which earns the
 * grace-exceeded penalty). Node's own handshake timeout, 120 s unless set, would otherwise end a
 * stalled handshake at the same moment as the default grace time, as a plain TLS failure worth
 * only a noauth penalty, and cut it at 120 s whatever LoginGraceTime says. So it is set past the
 * grace time, and as far as a timer goes with no limit (0), where MaxStartups and the per-source
 * limits are what bound a stalled client, as in sshd.
 */
export function handshakeTimeoutMs(loginGraceTime: number): number {
  return loginGraceTime > 0 ? Math.min(loginGraceTime * 1000 + 5000, MAX_TIMER_MS) : MAX_TIMER_MS;
}

/** A warm worker's set-up for `generation`; throws like buildServerTls. */
export function prepareServerTls(src: TlsSource, generation: number): PreparedTls {
  // Before reading: a file replaced while it is read then shows up as changed, never missed.
  const stamp = filesStamp(src);
  return { ...buildServerTls(src), generation, stamp };
}

/** The prepared set-up when it still holds for this connection, else undefined (build afresh). */
export function stillCurrent(p: PreparedTls | undefined, src: TlsSource, generation: number | undefined): PreparedTls | undefined {
  if (p === undefined || generation !== p.generation) return undefined;
  return filesStamp(src) === p.stamp ? p : undefined;
}

/** One line per file TLS is built from, with what stat says of it (or why it cannot). */
export function filesStamp(src: TlsSource): string {
  // Not the key: workers sign through the listener's key agent and never read it.
  return serverTlsFiles(src.config).filter(([keyword]) => keyword !== 'KeyFile').map(([, file]) => fileStamp(file)).join('\n');
}
