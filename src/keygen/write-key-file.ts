// Writing private key files: created 0600 from the first byte (never chmod'ed after the secret
// is already on disk), and never over an existing file unless the user said --force.

import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TlsshError } from '../errors';

function fsError(file: string, e: unknown): TlsshError {
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'EEXIST' ? 'already exists (use --force to overwrite)' :
    code === 'ENOENT' ? 'no such directory' :
    code === 'EACCES' ? 'permission denied' :
    code === 'EISDIR' ? 'is a directory' :
    (code ?? String(e));
  return new TlsshError('TLSSH_ERR_USAGE', `${file}: ${why}`, { cause: e });
}

/**
 * Writes `data` to `file` with `mode`. Without `force` the file must not exist (O_EXCL, so a
 * symlink planted at the name is not followed). With `force` a temporary file in the same
 * directory is renamed over the old one, so a crash never leaves a half-written key.
 */
export function writeNewFile(file: string, data: string | Buffer, opts: { mode: number; force: boolean }): void {
  const target = opts.force ? join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`) : file;
  let fd: number;
  try {
    fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode);
  } catch (e) {
    throw fsError(file, e);
  }
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(target);
    } catch {
      // Best effort: the write error is the one worth reporting.
    }
    throw fsError(file, e);
  }
  closeSync(fd);
  if (target !== file) {
    try {
      renameSync(target, file);
    } catch (e) {
      try {
        unlinkSync(target);
      } catch {
        // As above.
      }
      throw fsError(file, e);
    }
  }
}
