// The TSS2 key file codec and TPM2B_PUBLIC parsing, without any TPM.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { encodeTss2PrivateKey, parseTss2PrivateKey, tpmPublicKey } from '../../src/tpm';
import { encodeDer, encodeUnsigned } from '../../src/tpm/der';
import { ATTR, marshalPublic, parseTpm2bPublic, unusableReason } from '../../src/tpm/tpm-public';

// Made by tpm2_create + tpm2_encodeobject (tpm2-tools 5.4) on a throwaway swtpm: an ECC P-256
// key under the owner-hierarchy primary, no password, yet emptyAuth written as FALSE.
const TOOLS_KEY = `-----BEGIN TSS2 PRIVATE KEY-----
MIHwBgZngQUKAQOgAwEBAAIEQAAAAQRYAFYAIwALAAQEcgAAABAAEAADABAAIJ4L
ScHRqBMd/FyM/E9i+H4K6LM7XzL1I2MPt/p0p2wlACAoFtI0xPN2khzDOAtAf8E8
HCCsSqqzHDmhyBxk6OPeyASBgAB+ACBXg2SB1HaIli7a2xWJtSQE4ClzrowWQB5a
497hkii4ZAAQS/1rO5K6orCmkxodEN3cWYzFuP7HF3Jb2WU7rZernq7J5qboLFe1
WQvCZSI5h8hZCZJtdIqPruubcALFTS5GsoiZopcTvGuXqpGJq7F3V4dT/J86/Yoy
D3cF
-----END TSS2 PRIVATE KEY-----
`;

const OID = Buffer.from([0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03]);

function pem(der: Buffer): string {
  return `-----BEGIN TSS2 PRIVATE KEY-----\n${der.toString('base64')}\n-----END TSS2 PRIVATE KEY-----\n`;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('TSS2 PRIVATE KEY files', () => {
  it('parses a tpm2-tools key and its public area', () => {
    const k = parseTss2PrivateKey(TOOLS_KEY, 'tools.tss2');
    assert.equal(k.emptyAuth, false);
    assert.equal(k.parent, 0x40000001);
    assert.equal(k.public.type, 'ecc');
    if (k.public.type === 'ecc') {
      assert.equal(k.public.curve, 'P-256');
      assert.equal(k.public.x.length, 32);
    }
    assert.ok(k.public.attributes & ATTR.sign);
    assert.equal(unusableReason(k.public), undefined);
    assert.equal(tpmPublicKey(TOOLS_KEY).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('round-trips through encode, with emptyAuth and persistent parents', () => {
    const k = parseTss2PrivateKey(TOOLS_KEY, 'tools.tss2');
    for (const [emptyAuth, parent] of [[true, 0x40000001], [false, 0x81000001], [true, 0x81ffffff]] as const) {
      const again = parseTss2PrivateKey(encodeTss2PrivateKey({ emptyAuth, parent, pub: k.pub, priv: k.priv }), 'x');
      assert.equal(again.emptyAuth, emptyAuth);
      assert.equal(again.parent, parent);
      assert.ok(again.pub.equals(k.pub) && again.priv.equals(k.priv));
    }
  });

  it('rejects damaged or foreign files with TLSSH_ERR_TPM_KEY_FILE', () => {
    const k = parseTss2PrivateKey(TOOLS_KEY, 'tools.tss2');
    const der = Buffer.from(TOOLS_KEY.split('\n').slice(1, -2).join(''), 'base64');
    const body = (fields: Buffer[]) => pem(encodeDer(0x30, Buffer.concat(fields)));
    const pub = encodeDer(0x04, k.pub);
    const priv = encodeDer(0x04, k.priv);
    const bad: Record<string, string> = {
      'no PEM': 'hello',
      'other PEM': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      'not base64': '-----BEGIN TSS2 PRIVATE KEY-----\n!!!\n-----END TSS2 PRIVATE KEY-----\n',
      'no END': TOOLS_KEY.slice(0, 100),
      truncated: pem(der.subarray(0, der.length - 10)),
      'trailing bytes': pem(Buffer.concat([der, Buffer.from([0])])),
      'importable key': body([Buffer.from([0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x04]), encodeUnsigned(0x40000001), pub, priv]),
      'policy key': body([OID, encodeDer(0xa1, encodeDer(0x30, Buffer.alloc(0))), encodeUnsigned(0x40000001), pub, priv]),
      'negative parent': body([OID, encodeDer(0x02, Buffer.from([0xff])), pub, priv]),
      'transient parent': body([OID, encodeUnsigned(0x80000001), pub, priv]),
      'missing privkey': body([OID, encodeUnsigned(0x40000001), pub]),
      'bad TPM2B_PUBLIC': body([OID, encodeUnsigned(0x40000001), encodeDer(0x04, k.pub.subarray(0, 20)), priv]),
      'bad TPM2B_PRIVATE size': body([OID, encodeUnsigned(0x40000001), pub, encodeDer(0x04, Buffer.from([0, 9, 1]))]),
    };
    for (const [name, text] of Object.entries(bad)) {
      assert.equal(code(() => parseTss2PrivateKey(text, 'bad.tss2')), 'TLSSH_ERR_TPM_KEY_FILE', name);
    }
  });

  it('writes templates that parse back, and judges which keys the engine can use', () => {
    const ecc = parseTpm2bPublic(marshalPublic({ type: 'ecc', curve: 'P-384', attributes: ATTR.sign | ATTR.userWithAuth }));
    assert.equal(ecc.type === 'ecc' && ecc.curve, 'P-384');
    assert.equal(unusableReason(ecc), undefined);
    const rsaSignOnly = parseTpm2bPublic(marshalPublic({ type: 'rsa', bits: 2048, attributes: ATTR.sign | ATTR.userWithAuth }));
    assert.match(unusableReason(rsaSignOnly) ?? '', /decrypt/);
    const rsa = parseTpm2bPublic(marshalPublic({ type: 'rsa', bits: 3072, attributes: ATTR.sign | ATTR.decrypt | ATTR.userWithAuth, exponent: 3 }));
    assert.equal(rsa.type === 'rsa' && rsa.exponent, 3);
    assert.equal(unusableReason(rsa), undefined);
    const policyOnly = parseTpm2bPublic(marshalPublic({ type: 'ecc', curve: 'P-256', attributes: ATTR.sign }));
    assert.match(unusableReason(policyOnly) ?? '', /userWithAuth/);
  });
});
