import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import {
  bitString,
  boolean,
  contextPrimitive,
  encodeLength,
  ia5String,
  integer,
  namedBits,
  nullValue,
  octetString,
  oid,
  printableString,
  sequence,
  setOf,
  utf8String,
} from '../../src/keygen/der-writer';

const hex = (b: Buffer): string => b.toString('hex');

test('lengths: short form below 128, long form with the fewest bytes above', () => {
  assert.equal(hex(encodeLength(0)), '00');
  assert.equal(hex(encodeLength(0x7f)), '7f');
  assert.equal(hex(encodeLength(0x80)), '8180');
  assert.equal(hex(encodeLength(0xff)), '81ff');
  assert.equal(hex(encodeLength(0x100)), '820100');
  assert.equal(hex(encodeLength(0x10000)), '83010000');
  assert.throws(() => encodeLength(-1), { code: 'TLSSH_ERR_INTERNAL' });
});

test('integers are minimal two\'s complement, with a zero byte before a set top bit', () => {
  assert.equal(hex(integer(0)), '020100');
  assert.equal(hex(integer(127)), '02017f');
  assert.equal(hex(integer(128)), '02020080');
  assert.equal(hex(integer(256)), '02020100');
  assert.equal(hex(integer(0x40000001)), '020440000001');
  assert.equal(hex(integer(0x81000001)), '02050081000001');
  assert.equal(hex(integer(Buffer.from([0, 0, 0x80]))), '02020080');
  assert.equal(hex(integer(Buffer.from([0, 0, 0x01]))), '020101');
  assert.equal(hex(integer(Buffer.alloc(0))), '020100');
  assert.throws(() => integer(-1), { code: 'TLSSH_ERR_INTERNAL' });
});

test('object identifiers: first two arcs packed, base-128 continuation bytes', () => {
  assert.equal(hex(oid('2.5.29.17')), '0603551d11');
  assert.equal(hex(oid('1.2.840.113549.1.1.11')), '06092a864886f70d01010b');
  assert.equal(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
  assert.equal(hex(oid('0.9.2342.19200300.100.1.25')), '060a0992268993f22c640119');
  assert.equal(hex(oid('2.999.3')), '0603883703');
  for (const bad of ['1', '1.', '3.1', '1.40', '1.2.x', '1.02']) assert.throws(() => oid(bad), { code: 'TLSSH_ERR_INTERNAL' }, bad);
});

test('strings, booleans, null and octet strings', () => {
  assert.equal(hex(utf8String('é')), '0c02c3a9');
  assert.equal(hex(printableString('US')), '13025553');
  assert.throws(() => printableString('a@b'), { code: 'TLSSH_ERR_USAGE' });
  assert.equal(hex(ia5String('a@b')), '1603614062');
  assert.throws(() => ia5String('é'), { code: 'TLSSH_ERR_USAGE' });
  assert.equal(hex(boolean(true)), '0101ff');
  assert.equal(hex(boolean(false)), '010100');
  assert.equal(hex(nullValue()), '0500');
  assert.equal(hex(octetString(Buffer.from([1, 2]))), '04020102');
  assert.equal(hex(contextPrimitive(7, Buffer.from([127, 0, 0, 1]))), '87047f000001');
});

test('bit strings: whole bytes say 0 unused bits; named bits drop trailing zeros', () => {
  assert.equal(hex(bitString(Buffer.from([0xab]))), '030200ab');
  // digitalSignature alone: 1 bit used, 7 unused.
  assert.equal(hex(namedBits([0])), '03020780');
  // digitalSignature + keyEncipherment (bits 0 and 2).
  assert.equal(hex(namedBits([0, 2])), '030205a0');
  // decipherOnly (bit 8) spills into a second byte.
  assert.equal(hex(namedBits([8])), '0303070080');
  assert.equal(hex(namedBits([])), '030100');
});

test('SET OF sorts its members by encoding; SEQUENCE keeps order', () => {
  const a = integer(2);
  const b = integer(1);
  assert.equal(hex(setOf(a, b)), '3106020101020102');
  assert.equal(hex(sequence(a, b)), '3006020102020101');
});

test('long contents round-trip through openssl asn1parse', () => {
  const big = sequence(octetString(Buffer.alloc(300, 7)), utf8String('x'.repeat(200)), integer(Buffer.alloc(129, 0xff)));
  const out = execFileSync('openssl', ['asn1parse', '-inform', 'DER'], { input: big }).toString();
  assert.match(out, /l= 300 prim: OCTET STRING/);
  assert.match(out, /l= 200 prim: UTF8STRING/);
  assert.match(out, /l= 130 prim: INTEGER/);
});

test('the SPKI node exports is a well-formed DER SEQUENCE our writer can nest', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const wrapped = sequence(spki);
  const inner = wrapped.subarray(wrapped.length - spki.length);
  assert.deepEqual(createPublicKey({ key: inner, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' }), spki);
});
