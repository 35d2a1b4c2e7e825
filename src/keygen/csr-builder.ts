// PKCS#10 (RFC 2986) certification requests, built here rather than by `openssl req` so that a
// key inside the TPM can sign one without any OpenSSL engine or provider.

import { verify, type KeyObject } from 'node:crypto';
import { TlsshError } from '../errors';
import { bitString, contextConstructed, integer, nullValue, oid, sequence, setOf } from './der-writer';
import { encodeName, type DistinguishedName } from './distinguished-name';
import { encodeExtensions, OID, type ExtensionRequest } from './csr-extensions';

/** Whatever holds the private key: node crypto for a PEM file, the TPM for a TSS2 file. */
export interface CsrSigner {
  readonly publicKey: KeyObject;
  /**
   * Signs `tbs` with SHA-256: an ECDSA signature in DER (Ecdsa-Sig-Value), or an RSASSA-PKCS1-v1_5
   * signature as many bytes as the modulus.
   */
  sign(tbs: Buffer): Promise<Buffer>;
}

export interface CsrRequest extends ExtensionRequest {
  readonly subject: DistinguishedName;
}

function signatureAlgorithm(key: KeyObject): Buffer {
  switch (key.asymmetricKeyType) {
    case 'ec':
      // RFC 5758 §3.2: ecdsa-with-SHA256 has no parameters at all.
      return sequence(oid(OID.ecdsaWithSha256));
    case 'rsa':
      return sequence(oid(OID.sha256WithRsaEncryption), nullValue());
    default:
      throw new TlsshError('TLSSH_ERR_USAGE', `unsupported key type for a certificate request: ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

/** CertificationRequestInfo: the bytes the key signs. */
export function encodeRequestInfo(req: CsrRequest, publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const extensions = encodeExtensions(req);
  const attributes = extensions.length > 0 ? [sequence(oid(OID.extensionRequest), setOf(sequence(...extensions)))] : [];
  return sequence(
    integer(0),
    encodeName(req.subject),
    spki,
    // attributes [0] IMPLICIT SET OF Attribute: the context tag replaces the SET tag.
    contextConstructed(0, Buffer.concat([...attributes].sort(Buffer.compare))),
  );
}

/**
 * The DER request, signed by `signer` and checked against its public key before it is
 * returned, so a TPM that signed with some other key (or a bad padding) never yields a file.
 */
export async function buildCsr(req: CsrRequest, signer: CsrSigner): Promise<Buffer> {
  const algorithm = signatureAlgorithm(signer.publicKey);
  const info = encodeRequestInfo(req, signer.publicKey);
  const signature = await signer.sign(info);
  let ok = false;
  try {
    ok = verify('sha256', info, signer.publicKey, signature);
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_INTERNAL', 'the certificate request signature is malformed', { cause: e });
  }
  if (!ok) throw new TlsshError('TLSSH_ERR_INTERNAL', 'the certificate request signature does not verify with the key\'s public key');
  return sequence(info, algorithm, bitString(signature));
}

export function csrToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}-----END CERTIFICATE REQUEST-----\n`;
}
