// The one place that loads the native addon. Everything else in tlssh goes through src/tpm/.
import { TlsshError } from '../errors';
import { addonCandidates, loadFirstAddon } from '../native-addon';

/** Error thrown by the addon: what failed, the TSS2_RC, an errno, maybe an already-known code. */
export interface NativeTpmError extends Error {
  op: string;
  detail: string;
  rc: number;
  errno: number;
  tlsshCode?: string;
  keyId?: string;
}

export interface NativeKeyConfig {
  tcti: string;
  parent: number;
  parentAuth: Buffer;
  keyAuth: Buffer;
  pub: Buffer;
  priv: Buffer;
  /** Non-empty: sign through the key agent listening here instead of opening the TPM. */
  agentPath: string;
}

export interface TpmBinding {
  readonly engineId: string;
  /** Why the OpenSSL engine could not be registered, or null when it was. */
  readonly engineError: string | null;
  configureKey(id: string, cfg: NativeKeyConfig): void;
  removeKey(id: string): void;
  flushAll(): void;
  /** flushAll on the thread pool. */
  flushAllAsync(): Promise<void>;
  /** _exit(2): skips Node's join of the thread pool, which a TPM command that never returns would hang. */
  exitNow?(code: number): never;
  takeEngineFailure(): NativeTpmError | null;
  ecdsaSign(id: string, digest: Buffer): Promise<Buffer>;
  rsaPrivate(id: string, input: Buffer): Promise<Buffer>;
  /**
   * keepParent: a primary made for the key stays loaded until flushAll, and a failure makes the
   * engine's next signature with this key fail the same way instead of loading again.
   * context: a blob from saveKeyContext, tried first (one TPM2_ContextLoad instead of
   * CreatePrimary + Load). Resolves true when the key came from it.
   */
  loadKey(id: string, keepParent?: boolean, context?: Buffer): Promise<boolean>;
  /** TPM2_ContextSave of the loaded key: a blob for loadKey's `context` in a later process. */
  saveKeyContext?(id: string): Promise<Buffer>;
  /** The dictionary-attack state: failures counted (TPM_PT_LOCKOUT_COUNTER) and the limit (TPM_PT_MAX_AUTH_FAIL). */
  lockoutInfo(tcti: string): Promise<{ counter: number; maxTries: number }>;
  createKey(o: { tcti: string; parent: number; parentAuth: Buffer; keyAuth: Buffer; template: Buffer }): Promise<{ pub: Buffer; priv: Buffer }>;
  importKey(o: { tcti: string; parent: number; parentAuth: Buffer; pub: Buffer; sensitive: Buffer }): Promise<Buffer>;
  /** SO_PEERCRED of a connected Unix socket (not TPM work: see native/addon.cc). */
  peerCredentials?(fd: number): { pid: number; uid: number; gid: number };
  /**
   * The key agent's operations with a key from a PEM file, in Node's OpenSSL (not TPM work): op 1
   * signs `input` as a digest (DER ECDSA-Sig-Value), op 2 is the raw RSA private operation on a
   * modulus-sized block. `pkcs8` is the key in DER.
   */
  softwarePrivateOp?(op: number, pkcs8: Buffer, input: Buffer): Buffer;
}

const ADDON = 'tlssh_tpm.node';

let cached: TpmBinding | undefined;

/** The addon if something already loaded it; never loads it. */
export function loadedTpmBinding(): TpmBinding | undefined {
  return cached;
}

export function loadTpmBinding(): TpmBinding {
  if (cached) return cached;
  const found = loadFirstAddon<TpmBinding>(addonCandidates(ADDON, __dirname, process.env['TLSSH_TPM_ADDON']), (b, file) => {
    if (b.engineError !== null) throw new TlsshError('TLSSH_ERR_TPM_NATIVE_MISSING', `the TPM addon ${file} loaded but ${b.engineError}`);
  });
  if ('binding' in found) {
    const b = found.binding;
    cached = b;
    // Transient objects must not outlive the process: a TPM without a resource manager has
    // only a few slots. The addon also flushes from its environment cleanup hook.
    process.once('exit', () => b.flushAll());
    return b;
  }
  const tried = found.tried;
  throw new TlsshError(
    'TLSSH_ERR_TPM_NATIVE_MISSING',
    `the TPM addon could not be loaded; tried: ${tried.join('; ')}. Build it with "npm run build" (needs libtss2-dev, g++ and make)`,
  );
}
