// ssh's -i / IdentityFile for a certificate login: one name stands for the key and its
// certificate. A PEM file holding both a CERTIFICATE and a private key (or TSS2 key) block is
// both; otherwise the file is the key and the certificate sits beside it, tried in this order:
// FILE.crt, FILE-cert.pem (ssh's FILE-cert.pub habit), and STEM.crt for STEM.key, STEM.pem or
// STEM.tss (tlssh-keygen's default.key + default.crt).
import * as fs from 'node:fs';
import { TlsshError } from '../errors';

export interface Identity {
  readonly keyFile: string;
  readonly certFile: string;
}

/** The certificate file names tried for key file `file`, in order. */
export function certificateCandidates(file: string): string[] {
  const out = [`${file}.crt`, `${file}-cert.pem`];
  const stem = /^(.*)\.(key|pem|tss)$/.exec(file)?.[1];
  if (stem !== undefined && stem !== '' && !stem.endsWith('/')) out.push(`${stem}.crt`);
  return out;
}

/** Which PEM blocks the file holds (none when it cannot be read: the key loader says why later). */
function pemKinds(file: string): { certificate: boolean; key: boolean } {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) return { certificate: false, key: false };
    const buf = Buffer.alloc(256 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('latin1');
    return { certificate: text.includes('-----BEGIN CERTIFICATE-----'), key: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text) };
  } catch {
    return { certificate: false, key: false };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Key and certificate for `file`; throws when no certificate can be found for it. */
export function resolveIdentity(file: string, exists: (f: string) => boolean = fs.existsSync): Identity {
  if (!exists(file)) throw new TlsshError('TLSSH_ERR_TLS_KEY', `identity file ${file}: no such file`);
  const blocks = pemKinds(file);
  if (blocks.certificate && blocks.key) return { keyFile: file, certFile: file };
  // ssh users give -i the key; the certificate beside it is found. Given the certificate, say so
  // rather than list the names tried for it as if it were a key.
  if (blocks.certificate) {
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `identity file ${file} is a certificate: -i (IdentityFile) takes the private key, whose certificate is then found beside it`);
  }
  const candidates = certificateCandidates(file);
  const cert = candidates.find((c) => exists(c));
  if (cert === undefined) {
    throw new TlsshError('TLSSH_ERR_TLS_CERT_FILE', `no certificate for identity file ${file}: tried ${candidates.join(', ')}`);
  }
  return { keyFile: file, certFile: cert };
}
