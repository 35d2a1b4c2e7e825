// Brings up the tlssh side: certificates, a tlsshd with file keys, and the TPM side: a software
// TPM holding the daemon's key and one software TPM per parallel client, each with a key made in
// it. A part that fails becomes a reason string, so its rows print "skipped: <reason>" and the
// rest still run.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Cleanup } from './cleanup';
import { makePki, type Pki } from './lib/pki';
// The same private swtpm the tests use: own free ports on 127.0.0.1, own state dir, removed on stop.
import { startSwtpm, type Swtpm } from '../test/helpers/swtpm';
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
  /** Starts the daemon for row 7 (server key behind a slow TPM); call after the TPM rows. */
  slowTpm(): Promise<{ echo: Maybe; logins: Maybe }>;
  /**
   * Row 1c: the same slow-TPM daemon, and a client whose own TPM also answers after the delay
   * (a second proxy in front of one client swtpm). Call after the TPM rows.
   */
  slowTpmBoth(): Promise<Maybe>;
  /** The file-key daemon again, with `WorkerForkServer yes` (rows 2e and 6b); started on first use. */
  forkServer(): Promise<Maybe>;
}

/** Each response from a TPM held this long, as a typical discrete chip (they take 20-200 ms). */
export const SLOW_TPM_MS = 100;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 300);

async function usable(t: Target): Promise<Target> {
  await loginOnce(t, 60_000);
  return t;
}

/** Runs `fn` over `items`, `width` at a time, keeping the order of the results. */
async function inBatches<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) {
    out.push(...await Promise.all(items.slice(i, i + width).map((item, j) => fn(item, i + j))));
  }
  return out;
}

/**
 * @param noSwtpm why swtpm cannot be had, when it cannot: the TPM rows are skipped with it.
 * @param clientTpms how many client TPMs to make: one per login of the largest parallel burst,
 *   since each user logs in from a machine with its own TPM. tlssh makes logins on one TPM take
 *   turns (a TPM without a resource manager cannot serve two at once), so a burst sharing one
 *   software TPM would measure that queue on the client side instead of the server.
 */
export async function setupTlssh(ws: Workspace, cleanup: Cleanup, log: (line: string) => void, clientTpms: number, noSwtpm?: string): Promise<TlsshSide> {
  const built = ['src/client/main.js', 'src/server/main.js'].filter((f) => !existsSync(join(REPO, 'dist', f)));
  if (built.length > 0) {
    const why = `tlssh is not built (missing dist/${built.join(', dist/')}): run npx tsc -p tsconfig.json`;
    return { file: why, tpm: why, slowTpm: async () => ({ echo: why, logins: why }), slowTpmBoth: async () => why, forkServer: async () => why };
  }
  const pkiDir = join(ws.dir, 'pki');
  const pki: Pki = await makePki(pkiDir, ws.user);
  const fileServer: KeyPair = { cert: pki.serverCert, key: pki.serverKey };
  const fileClient: KeyPair = { cert: pki.clientCert, key: pki.clientKey };

  let file: Maybe;
  try {
    const d = await startTlsshd(ws, 'file', fileServer, pki.caCert);
    cleanup.add('tlsshd (file keys)', () => d.stop());
    file = await usable(tlsshTarget(ws, 'file', 'tlssh', d, [fileClient], pki.caCert)).catch((e: unknown) => {
      throw new Error(`${message(e)}; tlsshd log: ${d.recentLog().replace(/\s+/g, ' ').slice(-300)}`);
    });
  } catch (e) {
    file = `failed: ${message(e)}`;
  }
  log(typeof file === 'string' ? `tlssh (file keys): ${file}` : 'tlssh (file keys): ready');

  let serverTpm: Swtpm | undefined;
  let serverKey: KeyPair | undefined;
  let clientKeys: KeyPair[] = [];
  let clientSwtpms: Swtpm[] = [];
  let tpmDaemon: Daemon | undefined;
  let tpm: Maybe;
  if (noSwtpm !== undefined) {
    tpm = noSwtpm;
  } else {
    try {
      serverTpm = await startSwtpm();
      cleanup.add('swtpm (server)', serverTpm.stop);
      serverKey = await makeTpmKey(pki, pkiDir, 'server-tpm', serverTpm.tcti, 'server', '127.0.0.1');
      const n = Math.max(1, clientTpms);
      log(`making ${n} client TPMs with a key each`);
      const made = await inBatches(Array.from({ length: n }, (_, i) => i), 8, async (i) => {
        const t = await startSwtpm();
        cleanup.add(`swtpm (client ${i})`, t.stop);
        return { tpm: t, key: await makeTpmKey(pki, pkiDir, `client-tpm-${i}`, t.tcti, 'client', ws.user) };
      });
      clientKeys = made.map((m) => m.key);
      clientSwtpms = made.map((m) => m.tpm);
      const d = await startTlsshd(ws, 'tpm', serverKey, pki.caCert);
      tpmDaemon = d;
      cleanup.add('tlsshd (TPM key)', () => d.stop());
      tpm = await usable(tlsshTarget(ws, 'tpm', 'tlssh (TPM keys)', d, clientKeys, pki.caCert)).catch((e: unknown) => {
        throw new Error(`${message(e)}; tlsshd log: ${d.recentLog().replace(/\s+/g, ' ').slice(-300)}`);
      });
    } catch (e) {
      tpm = `failed: ${message(e)}`;
    }
  }
  log(typeof tpm === 'string' ? `tlssh (TPM keys): ${tpm}` : 'tlssh (TPM keys): ready');

  // One daemon whose TPM answers slowly, started once for whichever of rows 1c and 7 asks first.
  let slowDaemon: Promise<Daemon> | undefined;
  const startSlowDaemon = (): Promise<Daemon> => {
    slowDaemon ??= (async () => {
      // The TPM daemon's agent holds swtpm's only connection slot: it has to go first.
      await tpmDaemon!.stop();
      const proxy = await startDelayProxy(serverTpm!.port, SLOW_TPM_MS, 'server');
      cleanup.add('TPM delay proxy', proxy.close);
      const d = await startTlsshd(ws, 'slow-tpm', { ...serverKey!, tpmTcti: proxy.tcti }, pki.caCert);
      cleanup.add('tlsshd (slow TPM)', () => d.stop());
      return d;
    })();
    return slowDaemon;
  };

  const slowTpm = async (): Promise<{ echo: Maybe; logins: Maybe }> => {
    if (typeof tpm === 'string') return { echo: tpm, logins: tpm };
    try {
      const d = await startSlowDaemon();
      const echo = await usable(tlsshTarget(ws, 'slow-echo', 'tlssh (slow server TPM)', d, [fileClient], pki.caCert));
      const logins = tlsshTarget(ws, 'slow-logins', 'tlssh (TPM keys, slow server TPM)', d, clientKeys, pki.caCert);
      return { echo, logins };
    } catch (e) {
      const why = `slow-TPM tlsshd failed: ${message(e)}`;
      return { echo: why, logins: why };
    }
  };

  const slowTpmBoth = async (): Promise<Maybe> => {
    if (typeof tpm === 'string') return tpm;
    try {
      const d = await startSlowDaemon();
      // The last client TPM: rows 2d and 7 use them all at once, this row one at a time.
      const i = clientSwtpms.length - 1;
      const proxy = await startDelayProxy(clientSwtpms[i]!.port, SLOW_TPM_MS, 'client');
      cleanup.add('client TPM delay proxy', proxy.close);
      // tlssh keeps the key's TPM context in ~/.tlssh/tpm-contexts between logins, as it would
      // for a user (the workspace's client home, see run.ts).
      const key: KeyPair = { ...clientKeys[i]!, tpmTcti: proxy.tcti };
      return await usable(tlsshTarget(ws, 'slow-both', 'tlssh (TPM keys, both TPMs slow)', d, [key], pki.caCert));
    } catch (e) {
      return `slow-TPM login failed: ${message(e)}`;
    }
  };
  let forked: Promise<Maybe> | undefined;
  const forkServer = (): Promise<Maybe> => {
    forked ??= (async (): Promise<Maybe> => {
      try {
        const d = await startTlsshd(ws, 'fork-server', fileServer, pki.caCert, ['WorkerForkServer yes']);
        cleanup.add('tlsshd (fork server)', () => d.stop());
        return await usable(tlsshTarget(ws, 'fork-server', 'tlssh', d, [fileClient], pki.caCert));
      } catch (e) {
        return `failed: ${message(e)}`;
      }
    })();
    return forked;
  };
  return { file, tpm, slowTpm, slowTpmBoth, forkServer };
}
