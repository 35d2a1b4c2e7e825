// Whether a KeyFile is a TPM key: a "TSS2 PRIVATE KEY" PEM file says so itself, so neither tlssh
// nor tlsshd needs PrivkeyEngine tpm to be told.
import * as fs from 'node:fs';

const TSS2_LABEL = '-----BEGIN TSS2 PRIVATE KEY-----';

/** Whether `file` holds a TSS2 PRIVATE KEY block; false when unreadable or not a regular file. */
export function isTss2KeyFile(file: string): boolean {
  if (file === '') return false;
  let fd: number | undefined;
  try {
    // Non-blocking and regular files only: a FIFO named by mistake must not hang us here.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) return false;
    const buf = Buffer.alloc(64 * 1024);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('latin1').includes(TSS2_LABEL);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
