// A file holding a TPM or key password must be as private as a key file: readable by its owner
// only, and owned by that user or root (as ssh demands of private keys).
import * as fs from 'node:fs';
import { TlsshError } from '../errors';

/**
 * Files of a loaded config that set TpmSrkPassword or PrivkeyPassword. On the process, not in the
 * module: the client's two bundles each carry a copy of this module, and a config loaded by the
 * light one is used by the full one (scripts/bundle.js).
 */
const SECRET_FILES_KEY = Symbol.for('tlssh.config.secret-files');
const secretFilesOf: WeakMap<object, readonly string[]> = ((globalThis as Record<symbol, WeakMap<object, readonly string[]> | undefined>)[SECRET_FILES_KEY] ??= new WeakMap());

export function recordSecretFiles(cfg: object, files: readonly string[]): void {
  secretFilesOf.set(cfg, Object.freeze([...files]));
}

/** The files of `cfg` that set a password keyword, in the order read. */
export function secretFiles(cfg: object): readonly string[] {
  return secretFilesOf.get(cfg) ?? [];
}

function problem(file: string): string | undefined {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return `contains a password but has mode ${mode}; other users could read it (run chmod 600 ${file})`;
  }
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  if (st.uid !== euid && st.uid !== 0) {
    return `contains a password but belongs to uid ${st.uid}, neither you (${euid}) nor root`;
  }
  return undefined;
}

/** Throws TLSSH_ERR_CONFIG_INSECURE_MODE unless only its owner (us or root) can read the file. */
export function assertPrivateFile(file: string): void {
  let why: string | undefined;
  try {
    why = problem(file);
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_CONFIG_READ', `${file}: cannot check permissions: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  if (why !== undefined) throw new TlsshError('TLSSH_ERR_CONFIG_INSECURE_MODE', `${file}: ${why}`);
}

/**
 * The client's softer check: the password files of `cfg` that others could read, for a warning.
 * A file that vanished since loading is skipped.
 */
export function insecureSecretFiles(cfg: object): string[] {
  return secretFiles(cfg).filter((f) => {
    try {
      return problem(f) !== undefined;
    } catch {
      return false;
    }
  });
}

/**
 * Why a file that decides who may log in (the daemon's configuration, a CA, a CRL, the server's
 * certificate and key) or where the client connects (its per-user configuration) cannot be
 * trusted: another user could write to it, so could add a CA and log in as root, or send the
 * client elsewhere. Its owner must be us or root and nobody else may write it, as ssh demands of
 * ~/.ssh/config. Undefined when it is fine or cannot be looked at (its reader says why).
 */
export function othersMayWrite(file: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  if ((st.mode & 0o022) !== 0) {
    return `other users may write to it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod go-w ${file}`;
  }
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  if (st.uid !== euid && st.uid !== 0) return `it belongs to uid ${st.uid}, neither this user (${euid}) nor root`;
  return undefined;
}

/** Throws TLSSH_ERR_CONFIG_INSECURE_MODE for a configuration file other users may change. */
export function assertOnlyOwnerWrites(file: string): void {
  const why = othersMayWrite(file);
  if (why !== undefined) throw new TlsshError('TLSSH_ERR_CONFIG_INSECURE_MODE', `bad owner or permissions on ${file}: ${why}`);
}
