// The TPM side of key loading. The facade in src/tpm is loaded only when a config asks for
// the engine, so that plain-key logins never pay for the native addon.

import * as fs from 'node:fs';
import type { CommonConfig } from '../config/types';
import { TlsshError, isTlsshError } from '../errors';
import { emptyDefaultTrust } from './default-trust';

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

export function tpmKeyOptions(cfg: TpmKeyConfig): EngineKeyOptions {
  facade().configureTpmKey(cfg.KeyFile, { tcti: configuredTcti(cfg), parentPassword: cfg.TpmSrkPassword, keyPassword: cfg.PrivkeyPassword });
  return { privateKeyEngine: 'tpm', privateKeyIdentifier: cfg.KeyFile };
}

/**
 * A server worker: the listener holds the key (in the TPM or read from a PEM file) and its key
 * agent makes each signature; the agent-only addon's engine takes the public half from the
 * certificate. The TPM addon is never loaded in a worker.
 */
export function agentKeyOptions(keyId: string, cert: Buffer, agentSocket: string): EngineKeyOptions {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('../tpm/agent-engine') as typeof import('../tpm/agent-engine')).useAgentEngine(keyId, cert, agentSocket);
  return { privateKeyEngine: 'tpm', privateKeyIdentifier: keyId };
}

export interface PrepareOptions {
  /** How long to keep retrying a TPM that cannot be reached (a TPM without a resource manager can be busy). */
  retryMs?: number;
  /** How long to wait for another tlssh using the same TPM. */
  lockWaitMs?: number;
  debug?: (line: string) => void;
  /** Where saved TPM contexts live (default ~/.tlssh/tpm-contexts); false: none. */
  contextCache?: string | false;
}

export interface PreparedTpmKey {
  /**
   * Settles when the key is in the TPM (or loading failed for good). The engine's signature
   * inside the handshake waits for this load on the addon's TPM lock, so the caller may start
   * the connection before it settles; it must await it before judging the handshake's result.
   */
  loaded: Promise<void>;
  /** True once loading had to be retried: a handshake started meanwhile may have failed for it. */
  retried(): boolean;
  /**
   * Lets the TPM go: flushes the key and its parent on the thread pool, then closes the
   * connection and lets the next tlssh in. After a login that signed, a key loaded the long way
   * has its context saved first (tpm-context-cache.ts); after one that did not, a saved context
   * that was used is forgotten. The returned promise never rejects.
   */
  release(signed?: boolean): Promise<void>;
}

const DEFAULT_RETRY_MS = 1000;
const DEFAULT_LOCK_WAIT_MS = 60_000;

/**
 * Client side: configures the key and starts loading it into the TPM (CreatePrimary + Load, on
 * the thread pool), so that the TPM works while the TCP connection and the server's half of the
 * handshake proceed. A missing TPM, a key from another TPM or a wrong parent password is still
 * reported in the TPM's words (from `loaded`) instead of as a failed handshake. The primary
 * stays loaded until release(): the key is flushed then anyway, and flushing the primary first
 * would put one more TPM command in front of the signature. The key's own password is checked
 * only by the signature, whose failure takeTpmFailure() recovers. On a TPM without a resource
 * manager the TPM is held (tpm-lock.ts) until release(); a TPM that cannot be reached is
 * retried for a moment, as a raw device refuses a second opener.
 */
export async function prepareTpmKey(cfg: CommonConfig, opts: PrepareOptions = {}): Promise<PreparedTpmKey> {
  // Before any TPM work goes to the thread pool: building the default CA store briefly changes
  // the environment, which must not happen while another thread may read it (libtss2 does).
  emptyDefaultTrust();
  const tpm = facade();
  const tcti = tpm.resolveTcti(configuredTcti(cfg));
  tpm.configureTpmKey(cfg.KeyFile, { tcti, parentPassword: cfg.TpmSrkPassword, keyPassword: cfg.PrivkeyPassword });
  const ctx = { keyFile: cfg.KeyFile, tcti, keyPasswordGiven: !!cfg.PrivkeyPassword, parentPasswordGiven: !!cfg.TpmSrkPassword };
  const cache = await import('./tpm-context-cache');
  const binding = tpm.loadTpmBinding();
  // Not with a parent password: a saved context loads without the parent's authorisation, which
  // would take that password's protection away from whoever holds the files.
  const cacheable = opts.contextCache !== false && (cfg.TpmSrkPassword ?? '') === '';
  const cacheFile = !cacheable ? undefined : cache.contextCacheFile(tcti, fs.readFileSync(cfg.KeyFile), opts.contextCache || undefined);
  let saved = cacheFile === undefined ? undefined : cache.readContext(cacheFile);
  let fromContext = false;
  let loadedOk = false;
  const load = async (): Promise<void> => {
    try {
      fromContext = await binding.loadKey(cfg.KeyFile, true, saved);
      loadedOk = true;
      if (saved !== undefined && !fromContext) opts.debug?.(`TPM context ${cacheFile ?? ''} did not load (another TPM, or it was reset); loaded the key from ${cfg.KeyFile}`);
      else if (fromContext) opts.debug?.(`TPM key ${cfg.KeyFile} loaded from its saved context ${cacheFile ?? ''}`);
      saved = undefined;
    } catch (e) {
      throw tpm.tpmError(e, ctx);
    }
  };
  /** After the handshake: keep the context of a key loaded the long way, drop one that did not sign. */
  const keepContext = async (signed: boolean): Promise<void> => {
    if (cacheFile === undefined || !loadedOk) return;
    if (fromContext) {
      if (!signed) cache.forgetContext(cacheFile);
      return;
    }
    if (!signed || typeof binding.saveKeyContext !== 'function') return;
    try {
      cache.writeContext(cacheFile, await binding.saveKeyContext(cfg.KeyFile));
    } catch {
      // best effort: the next login loads the long way
    }
  };
  const { lockTpm } = await import('./tpm-lock');
  const lock = await lockTpm(tcti, { waitMs: opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, ...(opts.debug ? { debug: opts.debug } : {}) });
  let released: Promise<void> | undefined;
  const release = (signed = false): Promise<void> => {
    released ??= keepContext(signed)
      .then(() => tpm.flushAllAsync())
      .then(() => lock.release());
    return released;
  };
  let retried = false;
  const loaded = (async (): Promise<void> => {
    const deadline = Date.now() + (opts.retryMs ?? DEFAULT_RETRY_MS);
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      try {
        await load();
        return;
      } catch (e) {
        if (!isTlsshError(e) || e.code !== 'TLSSH_ERR_TPM_UNAVAILABLE' || Date.now() + delay > deadline) throw e;
        retried = true;
        opts.debug?.(`TPM not reachable (${e.message}); retrying in ${delay} ms`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  })();
  // Observed by the caller; this only keeps an early failure from counting as unhandled.
  loaded.catch(() => undefined);
  return { loaded, retried: () => retried, release };
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
