// Keys kept in ordinary files, for machines without a TPM: PKCS#8 PEM made by Node's OpenSSL,
// optionally encrypted with a password (PBES2, AES-256-CBC), which tlssh and openssl both read.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { TlsshError } from '../errors';
import type { CsrSigner } from './csr-builder';

export type KeyAlgorithm = 'ec' | 'rsa';

export const FILE_KEY_SIZES = { ec: [256, 384, 521], rsa: [2048, 3072, 4096] } as const;
export const DEFAULT_FILE_KEY_BITS = { ec: 256, rsa: 3072 } as const;

const CURVE_BY_BITS: Record<number, string> = { 256: 'prime256v1', 384: 'secp384r1', 521: 'secp521r1' };

export interface GeneratedFileKey {
  readonly pem: string;
  readonly publicKey: KeyObject;
}

export function generateFileKey(type: KeyAlgorithm, bits: number, password: string): GeneratedFileKey {
  if (!(FILE_KEY_SIZES[type] as readonly number[]).includes(bits)) {
    throw new TlsshError('TLSSH_ERR_USAGE', `${type} keys can have ${FILE_KEY_SIZES[type].join(', ')} bits, not ${bits}`);
  }
  const encoding = password === ''
    ? ({ type: 'pkcs8', format: 'pem' } as const)
    : ({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: password } as const);
  const pair = type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: CURVE_BY_BITS[bits] as string, privateKeyEncoding: encoding, publicKeyEncoding: { type: 'spki', format: 'pem' } })
    : generateKeyPairSync('rsa', { modulusLength: bits, privateKeyEncoding: encoding, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return { pem: pair.privateKey, publicKey: createPublicKey(pair.publicKey) };
}

/** The private key of a PEM file; a wrong or missing password is TLSSH_ERR_TLS_KEY. */
export function loadFilePrivateKey(pem: string, file: string, password: string | undefined): KeyObject {
  try {
    return createPrivateKey(password === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase: password });
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(pem);
    throw new TlsshError('TLSSH_ERR_TLS_KEY', encrypted ? `${file}: wrong password, or not a key` : `${file}: not a private key OpenSSL can read`, { cause: e });
  }
}

export function fileKeySigner(privateKey: KeyObject): CsrSigner {
  const publicKey = createPublicKey(privateKey);
  return {
    publicKey,
    sign: async (tbs) => sign('sha256', tbs, privateKey),
  };
}
