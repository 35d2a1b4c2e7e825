// The certificate fields the login decision rests on, read from certificates the real openssl
// made: every CN in order, basicConstraints CA, keyUsage bits.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { CertFieldError, readCertFields } from '../../src/transport/cert-fields';
import { issueCert, makeCa, makeTempDir } from '../helpers/ca';

const dir = makeTempDir('tlssh-cert-fields');
const ca = makeCa(path.join(dir, 'ca'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const fieldsOf = (file: string): ReturnType<typeof readCertFields> => readCertFields(new X509Certificate(fs.readFileSync(file)).raw);

test('an ordinary client certificate: one CN, not a CA, keyUsage digitalSignature', () => {
  const c = issueCert(ca, { cn: 'alice' });
  assert.deepEqual(fieldsOf(c.certFile), { commonNames: ['alice'], isCa: false, keyUsage: ['digitalSignature'] });
});

test('every CN is reported, in order', () => {
  const c = issueCert(ca, { cn: 'bob', subjectCns: ['bob', 'alice'] });
  assert.deepEqual(fieldsOf(c.certFile).commonNames, ['bob', 'alice']);
  const u = issueCert(ca, { cn: 'x', subjectCns: ['jörg'] });
  assert.deepEqual(fieldsOf(u.certFile).commonNames, ['jörg']);
});

test('CA:TRUE and keyUsage bits, or no keyUsage at all', () => {
  const c = issueCert(ca, { cn: 'a-ca', ca: true, keyUsage: null });
  assert.deepEqual(fieldsOf(c.certFile), { commonNames: ['a-ca'], isCa: true, keyUsage: undefined });
  const k = issueCert(ca, { cn: 'enc', keyUsage: 'critical,keyEncipherment,keyAgreement' });
  assert.deepEqual(fieldsOf(k.certFile).keyUsage, ['keyEncipherment', 'keyAgreement']);
  assert.deepEqual(fieldsOf(ca.certFile), { commonNames: ['tlssh test CA'], isCa: true, keyUsage: ['keyCertSign', 'cRLSign'] });
});

test('bytes that are not a certificate are an error, never defaults', () => {
  assert.throws(() => readCertFields(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), CertFieldError);
  assert.throws(() => readCertFields(Buffer.from('garbage')), CertFieldError);
  const raw = new X509Certificate(fs.readFileSync(issueCert(ca, { cn: 'cut' }).certFile)).raw;
  assert.throws(() => readCertFields(raw.subarray(0, raw.length - 40)), CertFieldError);
});
