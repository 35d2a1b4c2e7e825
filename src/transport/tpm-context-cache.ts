// The client's saved TPM contexts: after a login that loaded its key the long way (CreatePrimary
// + Load), the key's context (TPM2_ContextSave) is kept in ~/.tlssh/tpm-contexts, so the next
// login loads it with one TPM2_ContextLoad and no primary to make or flush.
//
// Why this is safe: the blob is encrypted and integrity-protected by the TPM itself, with a key
// that exists only in that TPM and changes at every TPM Reset (reboot, TPM2_Clear); a blob from
// another TPM or from before a reset does not load, and the key is then loaded the long way and
// its context saved again. It holds nothing the key file does not (the TPM-wrapped private key;
// never the key's password, which every signature still needs). The file name is a digest of the
// TCTI and the key file's TPM blobs, so a changed key file or another TPM never meets a stale
// blob. Never for a parent with a password (TpmSrkPassword): a context loads without the
// parent's authorisation, so it would bypass that password. The directory is 0700 and the files 0600, written whole (rename), read only when the
// file is ours and not writable by others; any failure here just means the long way.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Saved contexts are small (a TPMS_CONTEXT); anything bigger is not ours. */
const MAX_CONTEXT_BYTES = 8192;

export function contextCacheDir(home = os.homedir()): string {
  return path.join(home, '.tlssh', 'tpm-contexts');
}

export function contextCacheFile(tcti: string, keyFilePem: Buffer, dir = contextCacheDir()): string {
  const digest = createHash('sha256').update(tcti).update('\0').update(keyFilePem).digest('hex');
  return path.join(dir, `${digest}.ctx`);
}

/** The saved context, or undefined when there is none we should trust. */
export function readContext(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    const uid = process.getuid?.();
    if (!st.isFile() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0 || st.size > MAX_CONTEXT_BYTES || st.size === 0) return undefined;
    return fs.readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Best effort: a cache that cannot be written only costs the next login two TPM commands. */
export function writeContext(file: string, blob: Buffer): void {
  try {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, blob, { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch {
    // ignored: see above
  }
}

export function forgetContext(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
