// Reading certificates, CA bundles, CA directories and CRLs, with errors that name the file
// and the keyword that pointed at it.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TlsshError, type ErrorCode } from '../errors';

export function readConfiguredFile(file: string, keyword: string, code: ErrorCode): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : describeFsError(err);
    throw new TlsshError(code, `${keyword} ${file}: ${why}`, { cause: err });
  }
}

function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory';
  return e.code ?? String(err);
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Every PEM block of the given label in `text`, as separate strings. */
export function pemBlocks(text: string, label: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) if (m[1] === label) out.push(m[0]);
  return out;
}

/**
 * Trust anchors from a CA file and/or an OpenSSL-style CA directory. Node has no CApath, so
 * the directory's regular files are read and their certificates collected; anything else in
 * the directory (hash links to CRLs, READMEs) is ignored.
 */
export function loadCaCertificates(caFile: string, caPath: string, fileKeyword: string, pathKeyword: string): string[] {
  const certs: string[] = [];
  if (caFile) {
    const found = pemBlocks(readConfiguredFile(caFile, fileKeyword, 'TLSSH_ERR_TLS_CA').toString('latin1'), 'CERTIFICATE');
    if (found.length === 0) throw new TlsshError('TLSSH_ERR_TLS_CA', `${fileKeyword} ${caFile}: no PEM certificate in the file`);
    certs.push(...found);
  }
  if (caPath) {
    let names: string[];
    try {
      names = readdirSync(caPath);
    } catch (err) {
      throw new TlsshError('TLSSH_ERR_TLS_CA', `${pathKeyword} ${caPath}: ${describeFsError(err)}`, { cause: err });
    }
    for (const name of names.sort()) {
      const full = join(caPath, name);
      try {
        if (!statSync(full).isFile()) continue;
        certs.push(...pemBlocks(readFileSync(full, 'latin1'), 'CERTIFICATE'));
      } catch {
        // An unreadable entry in a CA directory is skipped, as OpenSSL's lookup would.
      }
    }
  }
  if (certs.length === 0) {
    throw new TlsshError('TLSSH_ERR_TLS_CA', `no trusted CA: set ${fileKeyword} or ${pathKeyword}`);
  }
  return [...new Set(certs)];
}

/** The CRLs in a CRL file (PEM, one or more). Missing or empty is an error: revocation must not silently lapse. */
export function loadCrls(file: string, keyword: string, code: ErrorCode): string[] {
  const crls = pemBlocks(readConfiguredFile(file, keyword, code).toString('latin1'), 'X509 CRL');
  if (crls.length === 0) throw new TlsshError(code, `${keyword} ${file}: no PEM CRL in the file`);
  return crls;
}
