// The one place that loads the native addon. Everything else in tlssh goes through src/tpm/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TlsshError } from '../errors';

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
  /** _exit(2): skips Node's join of the thread pool, which a TPM command that never returns would hang. */
  exitNow?(code: number): never;
  takeEngineFailure(): NativeTpmError | null;
  ecdsaSign(id: string, digest: Buffer): Promise<Buffer>;
  rsaPrivate(id: string, input: Buffer): Promise<Buffer>;
  loadKey(id: string): Promise<void>;
  createKey(o: { tcti: string; parent: number; parentAuth: Buffer; keyAuth: Buffer; template: Buffer }): Promise<{ pub: Buffer; priv: Buffer }>;
  importKey(o: { tcti: string; parent: number; parentAuth: Buffer; pub: Buffer; sensitive: Buffer }): Promise<Buffer>;
}

const ADDON = 'tlssh_tpm.node';

/** build/ is at the package root; this file runs from src/tpm (sources) or dist/src/tpm. */
function candidates(): string[] {
  const out: string[] = [];
  const override = process.env['TLSSH_TPM_ADDON'];
  if (override) out.push(override);
  for (const up of ['../..', '../../..']) {
    const root = path.resolve(__dirname, up);
    out.push(path.join(root, 'build', 'Release', ADDON), path.join(root, 'build', 'Debug', ADDON));
  }
  return [...new Set(out)];
}

let cached: TpmBinding | undefined;

/** The addon if something already loaded it; never loads it. */
export function loadedTpmBinding(): TpmBinding | undefined {
  return cached;
}

export function loadTpmBinding(): TpmBinding {
  if (cached) return cached;
  const tried: string[] = [];
  for (const file of candidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file} (not found)`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const b = require(file) as TpmBinding;
      if (b.engineError !== null) {
        throw new TlsshError('TLSSH_ERR_TPM_NATIVE_MISSING', `the TPM addon ${file} loaded but ${b.engineError}`);
      }
      cached = b;
      // Transient objects must not outlive the process: a TPM without a resource manager has
      // only a few slots. The addon also flushes from its environment cleanup hook.
      process.once('exit', () => b.flushAll());
      return b;
    } catch (e) {
      if (e instanceof TlsshError) throw e;
      tried.push(`${file} (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
  }
  throw new TlsshError(
    'TLSSH_ERR_TPM_NATIVE_MISSING',
    `the TPM addon could not be loaded; tried: ${tried.join('; ')}. Build it with "npm run build" (needs libtss2-dev, g++ and make)`,
  );
}
