// Brings up the tlssh side: certificates, a tlsshd with file keys, and (when the TPM pieces
// work) swtpm instances, TPM keys and a tlsshd whose key is in the TPM. Each part that fails
// becomes a reason string, so its rows print "skipped: <reason>" and the rest still run.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup } from './cleanup';
import { makePki, type Pki } from './lib/pki';
import { startSwtpm, type Swtpm } from './lib/swtpm';
import { startDelayProxy } from './lib/tpm-delay-proxy';
import type { Workspace } from './lib/workspace';
import { loginOnce } from './rows/login-latency';
import type { Daemon, Target } from './target';
import { REPO, startTlsshd, tlsshTarget, type KeyPair } from './tlsshd';
import { makeTpmKey } from './tpm-keys';

/** A target, or why there is none. */
export type Maybe = Target | string;

export interface TlsshSide {
  file: Maybe;
  tpm: Maybe;
  /** Set when `tpm` is only partly TPM (the client's key), saying why. */
  tpmNote?: string;
  /** Starts the daemon for row 7 (server key behind a slow TPM); call after the TPM rows. */
  slowTpm(): Promise<{ echo: Maybe; logins: Maybe }>;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 300);

async function usable(t: Target): Promise<Target> {
  await loginOnce(t, 60_000);
  return t;
}

export async function setupTlssh(ws: Workspace, cleanup: Cleanup, log: (line: string) => void): Promise<TlsshSide> {
  const built = ['src/client/main.js', 'src/server/main.js'].filter((f) => !existsSync(join(REPO, 'dist', f)));
  if (built.length > 0) {
    const why = `tlssh is not built (missing dist/${built.join(', dist/')}): run npm run build`;
    return { file: why, tpm: why, slowTpm: async () => ({ echo: why, logins: why }) };
  }
  const pkiDir = join(ws.dir, 'pki');
  const pki: Pki = await makePki(pkiDir, ws.user);
  const fileServer: KeyPair = { cert: pki.serverCert, key: pki.serverKey };
  const fileClient: KeyPair = { cert: pki.clientCert, key: pki.clientKey };

  let file: Maybe;
  let fileDaemon: Daemon | undefined;
  try {
    const d = await startTlsshd(ws, 'file', fileServer, pki.caCert);
    fileDaemon = d;
    cleanup.add('tlsshd (file keys)', () => d.stop());
    file = await usable(tlsshTarget(ws, 'file', 'tlssh', d, fileClient, pki.caCert)).catch((e: unknown) => {
      throw new Error(`${message(e)}; tlsshd log: ${d.recentLog().replace(/\s+/g, ' ').slice(-300)}`);
    });
  } catch (e) {
    file = `tlssh does not work yet: ${message(e)}`;
  }
  log(typeof file === 'string' ? `tlssh (file keys): ${file}` : 'tlssh (file keys): ready');

  // Two software TPMs: swtpm serves one connection at a time, and the daemon's key agent keeps
  // its connection open, so clients need a TPM of their own (as they would on their own machine).
  let serverTpm: Swtpm | undefined;
  let serverKey: KeyPair | undefined;
  let clientKey: KeyPair | undefined;
  let tpmDaemon: Daemon | undefined;
  let tpm: Maybe;
  let tpmNote: string | undefined;
  let serverTpmFailure = '';
  try {
    serverTpm = await startSwtpm(join(ws.dir, 'tpm', 'server'));
    cleanup.add('swtpm (server)', serverTpm.stop);
    const clientTpm = await startSwtpm(join(ws.dir, 'tpm', 'client'));
    cleanup.add('swtpm (client)', clientTpm.stop);
    serverKey = await makeTpmKey(pki, pkiDir, 'server-tpm', serverTpm.tcti, 'server', '127.0.0.1');
    clientKey = await makeTpmKey(pki, pkiDir, 'client-tpm', clientTpm.tcti, 'client', ws.user);
    const d = await startTlsshd(ws, 'tpm', serverKey, pki.caCert);
    tpmDaemon = d;
    cleanup.add('tlsshd (TPM key)', () => d.stop());
    tpm = await usable(tlsshTarget(ws, 'tpm', 'tlssh (TPM keys)', d, clientKey, pki.caCert)).catch((e: unknown) => {
      throw new Error(`${message(e)}; tlsshd log: ${d.recentLog().replace(/\s+/g, ' ').slice(-300)}`);
    });
  } catch (e) {
    tpm = `TPM keys do not work yet: ${message(e)}`;
    serverTpmFailure = tpm;
    // Half the picture beats none: the client's TPM key against the file-key daemon.
    if (clientKey !== undefined && fileDaemon !== undefined && typeof file !== 'string') {
      const why = tpm;
      tpm = await usable(tlsshTarget(ws, 'tpm-client', 'tlssh (client TPM key)', fileDaemon, clientKey, pki.caCert)).catch(() => why);
      if (typeof tpm !== 'string') tpmNote = `client key in a TPM, server key in a file: the server's TPM key failed (${why})`;
    }
  }
  log(typeof tpm === 'string' ? `tlssh (TPM keys): ${tpm}` : 'tlssh (TPM keys): ready');

  const slowTpm = async (): Promise<{ echo: Maybe; logins: Maybe }> => {
    if (typeof tpm === 'string') return { echo: tpm, logins: tpm };
    if (tpmDaemon === undefined) return { echo: serverTpmFailure, logins: serverTpmFailure };
    try {
      // The TPM daemon's agent holds swtpm's only connection slot: it has to go first.
      await tpmDaemon!.stop();
      const proxy = await startDelayProxy(serverTpm!.port, 100);
      cleanup.add('TPM delay proxy', proxy.close);
      const d = await startTlsshd(ws, 'slow-tpm', { ...serverKey!, tpmTcti: proxy.tcti }, pki.caCert);
      cleanup.add('tlsshd (slow TPM)', () => d.stop());
      const echo = await usable(tlsshTarget(ws, 'slow-echo', 'tlssh (slow server TPM)', d, fileClient, pki.caCert));
      const logins = tlsshTarget(ws, 'slow-logins', 'tlssh (TPM keys, slow server TPM)', d, clientKey!, pki.caCert);
      return { echo, logins };
    } catch (e) {
      const why = `slow-TPM tlsshd did not work: ${message(e)}`;
      return { echo: why, logins: why };
    }
  };
  return { file, tpm, tpmNote, slowTpm };
}
