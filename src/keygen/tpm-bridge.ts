// The keygen's use of the TPM facade, loaded only when a TPM key is involved so that plain-key
// commands never pay for it.

import { createHash, type KeyObject } from 'node:crypto';
import { TlsshError } from '../errors';
import type { CsrSigner } from './csr-builder';
import { emsaPkcs1v15Sha256 } from './rsa-pkcs1-padding';

export type TpmFacade = typeof import('../tpm');

/** tpm2-tools users already export this; --tcti wins over it. */
export const TCTI_ENV = 'TPM2TOOLS_TCTI';

let facade: TpmFacade | undefined;

export function tpmFacade(): TpmFacade {
  if (!facade) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    facade = require('../tpm') as TpmFacade;
  }
  return facade;
}

export interface TpmAccess {
  readonly tcti?: string;
  readonly parentPassword?: string;
  readonly keyPassword?: string;
}

export function tctiFrom(option: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (option !== undefined) return option;
  const fromEnv = env[TCTI_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/**
 * Signs inside the TPM. ECDSA: the chip signs the SHA-256 digest. RSA: the EMSA-PKCS1-v1_5 block
 * is made here and the chip does only the raw private operation, the one RSA operation tlssh's
 * keys (null scheme, for TLS 1.3's PSS) allow.
 */
export function tpmSigner(keyFile: string, keyPem: string, access: TpmAccess): CsrSigner {
  const tpm = tpmFacade();
  const info = tpm.configureTpmKey(keyFile, { ...access, pem: keyPem });
  const publicKey: KeyObject = info.publicKey;
  return {
    publicKey,
    sign: async (tbs) => {
      const digest = createHash('sha256').update(tbs).digest();
      try {
        if (info.type === 'ecc') return await tpm.tpmEcdsaSign(keyFile, digest);
        const bits = publicKey.asymmetricKeyDetails?.modulusLength;
        if (bits === undefined) throw new TlsshError('TLSSH_ERR_TPM_KEY_ATTRIBUTES', `${keyFile}: RSA key without a modulus length`);
        return await tpm.tpmRsaPrivate(keyFile, emsaPkcs1v15Sha256(digest, Math.ceil(bits / 8)));
      } finally {
        tpm.unconfigureTpmKey(keyFile);
      }
    },
  };
}

/**
 * Flushes loaded objects and closes the TPM connection, if the facade was ever loaded: swtpm
 * and TPMs without a resource manager serve one client at a time.
 */
export function releaseTpm(): void {
  facade?.flushAll();
}

/** The facade speaks in configuration keywords; tlssh-keygen users set options instead. */
const KEYWORD_TO_OPTION: readonly [RegExp, string][] = [
  [/set TpmSrkPassword/g, 'give --srk-password (or set TLSSH_SRK_PASSWORD)'],
  [/TpmSrkPassword/g, '--srk-password'],
  [/PrivkeyPassword/g, 'key password'],
  [/set TpmTcti/g, 'use --tcti (or TPM2TOOLS_TCTI)'],
  [/a TpmTcti/g, 'a --tcti'],
  [/TpmTcti/g, '--tcti'],
];

/** A TPM message in tlssh-keygen's words: its options, not the client's keywords. */
export function inKeygenWords(text: string): string {
  let msg = text;
  for (const [re, to] of KEYWORD_TO_OPTION) msg = msg.replace(re, to);
  return msg;
}

export function inKeygenTerms(e: TlsshError): TlsshError {
  const msg = inKeygenWords(e.message);
  return msg === e.message ? e : new TlsshError(e.code, msg, { cause: e });
}
