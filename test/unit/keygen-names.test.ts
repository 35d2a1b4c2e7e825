import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonName, encodeName, formatSubject, parseSubject } from '../../src/keygen/distinguished-name';
import { encodeGeneralNames, ipv6Bytes, parseSan } from '../../src/keygen/subject-alt-name';

test('subjects in openssl -subj form, in the order written', () => {
  const dn = parseSubject('/C=SE/O=Example AB/CN=alice.example.com');
  assert.deepEqual(dn.map((rdn) => rdn.map((a) => [a.type.shortName, a.value])), [[['C', 'SE']], [['O', 'Example AB']], [['CN', 'alice.example.com']]]);
  assert.equal(commonName(dn), 'alice.example.com');
  assert.equal(formatSubject(dn), '/C=SE/O=Example AB/CN=alice.example.com');
});

test('long names, dotted OIDs, escapes and multi-valued RDNs', () => {
  const dn = parseSubject('/commonName=a\\/b\\+c/OU=x+UID=bob/2.5.4.46=q=r/');
  assert.equal(dn.length, 3);
  assert.equal(dn[0]?.[0]?.value, 'a/b+c');
  assert.deepEqual(dn[1]?.map((a) => a.type.shortName), ['OU', 'UID']);
  assert.equal(dn[2]?.[0]?.type.oid, '2.5.4.46');
  assert.equal(dn[2]?.[0]?.value, 'q=r');
});

test('string types: PrintableString for C, IA5 for emailAddress and DC, UTF8 otherwise', () => {
  const der = encodeName(parseSubject('/C=SE/DC=example/emailAddress=a@example.com/CN=Åsa'));
  const hex = der.toString('hex');
  assert.ok(hex.includes('0603550406' + '13025345'), 'C as PrintableString');
  assert.ok(hex.includes('1607' + Buffer.from('example').toString('hex')), 'DC as IA5String');
  assert.ok(hex.includes('160d' + Buffer.from('a@example.com').toString('hex')), 'email as IA5String');
  assert.ok(hex.includes('0c04' + Buffer.from('Åsa').toString('hex')), 'CN as UTF8String');
});

test('bad subjects are usage errors', () => {
  for (const bad of ['CN=alice', '/CN', '/CN=', '/XX=1', '/C=Sweden', '/C=S1', '/CN=a\u0001', '/CN=' + 'a'.repeat(65), '/emailAddress=å@x', '/CN=a\\']) {
    assert.throws(() => parseSubject(bad), { code: 'TLSSH_ERR_USAGE' }, bad);
  }
});

test('subjectAltName entries of every type', () => {
  const san = parseSan('DNS:host.example.com, IP:192.0.2.1,IP:2001:db8::1,email:a@example.com,URI:https://example.com/x,DNS:*.example.com');
  assert.deepEqual(san.map((e) => e.kind), ['DNS', 'IP', 'IP', 'email', 'URI', 'DNS']);
  const der = encodeGeneralNames(san).toString('hex');
  assert.ok(der.includes('8704c0000201'));
  assert.ok(der.includes('871020010db8000000000000000000000001'));
  assert.ok(der.includes('8210' + Buffer.from('host.example.com').toString('hex')));
});

test('IPv6 text forms become the right 16 bytes', () => {
  assert.equal(ipv6Bytes('::1').toString('hex'), '00000000000000000000000000000001');
  assert.equal(ipv6Bytes('::').toString('hex'), '00000000000000000000000000000000');
  assert.equal(ipv6Bytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
  assert.equal(ipv6Bytes('1:2:3:4:5:6:7:8').toString('hex'), '00010002000300040005000600070008');
  assert.equal(ipv6Bytes('::ffff:192.0.2.1').toString('hex'), '00000000000000000000ffffc0000201');
  assert.equal(ipv6Bytes('64:ff9b::192.0.2.33').toString('hex'), '0064ff9b0000000000000000c0000221');
});

test('bad subjectAltName entries are usage errors', () => {
  for (const bad of ['host', 'DNS:', 'DNS:-bad.example', 'DNS:a..b', 'DNS:*.com', 'IP:1.2.3', 'IP:fe80::1%eth0', 'email:nobody', 'URI:nope', 'RID:1.2.3', 'DNS:ex ample.com']) {
    assert.throws(() => parseSan(bad), { code: 'TLSSH_ERR_USAGE' }, bad);
  }
});
