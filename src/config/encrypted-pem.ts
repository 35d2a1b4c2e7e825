// Whether a PEM private key is encrypted, from its text alone: PKCS#8 says so in its label, the
// older PKCS#1 form in a Proc-Type header. The client asks for a passphrase when it is, and
// tlsshd blames PrivkeyPassword for any failure to open such a key.

export function isEncryptedPem(keyText: Buffer): boolean {
  const text = keyText.toString('latin1');
  return text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /^Proc-Type:\s*4,ENCRYPTED/m.test(text);
}
