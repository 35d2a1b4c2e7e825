// Recognising what a file holds (TSS2 TPM key, PEM private key, certificate, public key) and
// getting its public key without a TPM: a TSS2 file carries the public area in clear.

import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { TlsshError } from '../errors';
import { DerError, readChildren, readDer } from '../tpm/der';

export type KeyFileKind = 'tss2' | 'private' | 'encrypted-private' | 'certificate' | 'public' | 'request';

export interface KeyFileContents {
  readonly file: string;
  readonly kind: KeyFileKind;
  readonly text: string;
}

const LABELS: readonly [string, KeyFileKind][] = [
  ['TSS2 PRIVATE KEY', 'tss2'],
  ['ENCRYPTED PRIVATE KEY', 'encrypted-private'],
  ['PRIVATE KEY', 'private'],
  ['EC PRIVATE KEY', 'private'],
  ['RSA PRIVATE KEY', 'private'],
  ['CERTIFICATE', 'certificate'],
  ['PUBLIC KEY', 'public'],
  ['RSA PUBLIC KEY', 'public'],
  ['CERTIFICATE REQUEST', 'request'],
  ['NEW CERTIFICATE REQUEST', 'request'],
];

/** Largest key or certificate file worth reading; anything bigger is not one. */
const MAX_FILE = 1 << 20;

export function readKeyFile(file: string): KeyFileContents {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(e));
    throw new TlsshError('TLSSH_ERR_USAGE', `${file}: ${why}`, { cause: e });
  }
  if (data.length > MAX_FILE) throw new TlsshError('TLSSH_ERR_USAGE', `${file}: too large for a key or certificate`);
  const text = data.toString('latin1');
  const first = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
  const label = first?.[1];
  const kind = LABELS.find(([l]) => l === label)?.[1];
  if (kind === undefined) {
    throw new TlsshError('TLSSH_ERR_USAGE', label ? `${file}: a PEM "${label}" is not a key or certificate` : `${file}: not a PEM key or certificate`);
  }
  // PKCS#1 "Proc-Type: 4,ENCRYPTED" keys are encrypted too, under the old label.
  const encrypted = kind === 'private' && /Proc-Type:\s*4,ENCRYPTED/.test(text);
  return { file, kind: encrypted ? 'encrypted-private' : kind, text };
}

export function certificateOf(contents: KeyFileContents): X509Certificate {
  try {
    return new X509Certificate(contents.text);
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_TLS_CERT_FILE', `${contents.file}: not a certificate OpenSSL can read`, { cause: e });
  }
}

/** The public key of anything but a TSS2 file (that needs the TPM module's parser). */
export function plainPublicKey(contents: KeyFileContents, password: string | undefined): KeyObject {
  try {
    switch (contents.kind) {
      case 'certificate':
        return certificateOf(contents).publicKey;
      case 'public':
      case 'private':
        return createPublicKey({ key: contents.text, format: 'pem' });
      case 'encrypted-private':
        return createPublicKey(createPrivateKey({ key: contents.text, format: 'pem', passphrase: password ?? '' }));
      case 'request':
        return createPublicKey({ key: requestSpki(contents), format: 'der', type: 'spki' });
      case 'tss2':
        throw new TlsshError('TLSSH_ERR_INTERNAL', 'TSS2 keys are read by the TPM module');
    }
  } catch (e) {
    if (e instanceof TlsshError) throw e;
    const why = contents.kind === 'encrypted-private' ? 'wrong password, or not a key' : 'not a key OpenSSL can read';
    throw new TlsshError(contents.kind === 'certificate' ? 'TLSSH_ERR_TLS_CERT_FILE' : 'TLSSH_ERR_TLS_KEY', `${contents.file}: ${why}`, { cause: e });
  }
}

/** The SubjectPublicKeyInfo of a PKCS#10 request: the third field of CertificationRequestInfo. */
function requestSpki(contents: KeyFileContents): Buffer {
  const m = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (NEW )?CERTIFICATE REQUEST-----/.exec(contents.text);
  const der = Buffer.from((m?.[2] ?? '').replace(/\s+/g, ''), 'base64');
  try {
    const top = readDer(der, 0);
    const info = readChildren(top.body)[0];
    if (top.tag !== 0x30 || info?.tag !== 0x30) throw new DerError('not a SEQUENCE');
    const fields = readChildren(info.body);
    const spki = fields[2];
    const before = fields[1];
    if (spki?.tag !== 0x30 || before === undefined) throw new DerError('no SubjectPublicKeyInfo');
    return Buffer.from(info.body.subarray(before.end, spki.end));
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_USAGE', `${contents.file}: not a certificate request OpenSSL would read`, { cause: e });
  }
}
