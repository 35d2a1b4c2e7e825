// Public key fingerprints in ssh-keygen -l's form: "SHA256:" and unpadded base64 of the hash,
// here of the SubjectPublicKeyInfo DER, which is what a certificate carries for the key.

import { createHash, type KeyObject } from 'node:crypto';

export function spkiFingerprint(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
}

/** "ECDSA P-256" / "RSA 3072", as ssh-keygen names key types. */
export function describeKey(publicKey: KeyObject): { bits: number; type: string } {
  const d = publicKey.asymmetricKeyDetails ?? {};
  if (publicKey.asymmetricKeyType === 'rsa') return { bits: d.modulusLength ?? 0, type: 'RSA' };
  if (publicKey.asymmetricKeyType === 'ec') {
    const curves: Record<string, [number, string]> = {
      prime256v1: [256, 'P-256'],
      secp384r1: [384, 'P-384'],
      secp521r1: [521, 'P-521'],
    };
    const [bits, name] = curves[d.namedCurve ?? ''] ?? [0, d.namedCurve ?? '?'];
    return { bits, type: `ECDSA ${name}` };
  }
  return { bits: 0, type: (publicKey.asymmetricKeyType ?? 'unknown').toUpperCase() };
}
