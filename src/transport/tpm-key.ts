// The TPM side of key loading. The facade in src/tpm is loaded only when a config asks for
// the engine, so that plain-key logins never pay for the native addon.

import type { CommonConfig } from '../config/types';
import { TlsshError, isTlsshError } from '../errors';

export interface EngineKeyOptions {
  privateKeyEngine: 'tpm';
  privateKeyIdentifier: string;
}

type TpmFacade = typeof import('../tpm');

/** tpm2-tools users already export this; TpmTcti in a config wins over it. */
export const TCTI_ENV = 'TPM2TOOLS_TCTI';

function facade(): TpmFacade {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../tpm') as TpmFacade;
}

/**
 * The TCTI a config means: TpmTcti, else $TPM2TOOLS_TCTI, else undefined (the facade then tries
 * device:/dev/tpmrm0 and device:/dev/tpm0).
 */
export function configuredTcti(cfg: Pick<CommonConfig, 'TpmTcti'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (cfg.TpmTcti !== '') return cfg.TpmTcti;
  const fromEnv = env[TCTI_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** The TPM key fields; passwords optional, as a server worker's config has none (it uses the agent). */
export type TpmKeyConfig = Pick<CommonConfig, 'KeyFile' | 'TpmTcti'> & Partial<Pick<CommonConfig, 'TpmSrkPassword' | 'PrivkeyPassword'>>;

export function tpmKeyOptions(cfg: TpmKeyConfig, agentSocket: string | undefined): EngineKeyOptions {
  const tpm = facade();
  if (agentSocket) tpm.useKeyAgent(cfg.KeyFile, agentSocket);
  else tpm.configureTpmKey(cfg.KeyFile, { tcti: configuredTcti(cfg), parentPassword: cfg.TpmSrkPassword, keyPassword: cfg.PrivkeyPassword });
  return { privateKeyEngine: 'tpm', privateKeyIdentifier: cfg.KeyFile };
}

export interface PrepareOptions {
  /** How long to keep retrying a TPM that cannot be reached (a TPM without a resource manager can be busy). */
  retryMs?: number;
  /** How long to wait for another tlssh using the same TPM. */
  lockWaitMs?: number;
  debug?: (line: string) => void;
}

export interface PreparedTpmKey {
  /** Lets the TPM go: flushes the key, closes the connection, lets the next tlssh in. */
  release(): void;
}

const DEFAULT_RETRY_MS = 1000;
const DEFAULT_LOCK_WAIT_MS = 60_000;

/**
 * Client side, before connecting: configures the key and loads it into the TPM, so that a missing
 * TPM, a key from another TPM or a wrong parent password is reported in the TPM's words instead
 * of as a failed handshake. Loading costs no TPM command the handshake would not have sent
 * anyway (the engine keeps the loaded key); the key's own password is checked only by the
 * signature, whose failure takeTpmFailure() recovers. On a TPM without a resource manager the
 * TPM is held (tpm-lock.ts) until release(); a TPM that cannot be reached is retried for a
 * moment, as a raw device refuses a second opener.
 */
export async function prepareTpmKey(cfg: CommonConfig, opts: PrepareOptions = {}): Promise<PreparedTpmKey> {
  const tpm = facade();
  const tcti = tpm.resolveTcti(configuredTcti(cfg));
  tpm.configureTpmKey(cfg.KeyFile, { tcti, parentPassword: cfg.TpmSrkPassword, keyPassword: cfg.PrivkeyPassword });
  const ctx = { keyFile: cfg.KeyFile, tcti, keyPasswordGiven: !!cfg.PrivkeyPassword, parentPasswordGiven: !!cfg.TpmSrkPassword };
  const load = async (): Promise<void> => {
    try {
      await tpm.loadTpmBinding().loadKey(cfg.KeyFile);
    } catch (e) {
      throw tpm.tpmError(e, ctx);
    }
  };
  const { lockTpm } = await import('./tpm-lock');
  const lock = await lockTpm(tcti, { waitMs: opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, ...(opts.debug ? { debug: opts.debug } : {}) });
  const release = (): void => {
    tpm.flushAll();
    lock.release();
  };
  try {
    const deadline = Date.now() + (opts.retryMs ?? DEFAULT_RETRY_MS);
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      try {
        await load();
        return { release };
      } catch (e) {
        if (!isTlsshError(e) || e.code !== 'TLSSH_ERR_TPM_UNAVAILABLE' || Date.now() + delay > deadline) throw e;
        opts.debug?.(`TPM not reachable (${e.message}); retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  } catch (e) {
    release();
    throw e;
  }
}

/**
 * After a failed handshake with a TPM key: the TPM's own failure behind it (wrong key password,
 * TPM gone, ...), which OpenSSL reports only as "EVP lib". Undefined when the TPM did not fail.
 */
export function takeTpmFailure(): TlsshError | undefined {
  return facade().takeTpmEngineError();
}

/**
 * How many more wrong passwords the TPM takes before it locks out, for a DA-protected key; undefined
 * when the TPM cannot say (an older addon, or the query failed). Never throws: it only adds to a message.
 */
export async function tpmFailuresLeft(cfg: Pick<CommonConfig, 'TpmTcti'>): Promise<number | undefined> {
  try {
    const tpm = facade();
    const binding = tpm.loadTpmBinding();
    if (typeof binding.lockoutInfo !== 'function') return undefined;
    const info = await binding.lockoutInfo(tpm.resolveTcti(configuredTcti(cfg)));
    return info.maxTries > 0 ? Math.max(0, info.maxTries - info.counter) : undefined;
  } catch {
    return undefined;
  }
}
