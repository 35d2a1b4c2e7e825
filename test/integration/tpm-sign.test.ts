// Keys made, wrapped and used inside a real (software) TPM; every signature is checked by Node's
// own crypto against the public key read from the key file.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import {
  configureTpmKey,
  createTpmKey,
  flushAll,
  parseTss2PrivateKey,
  tpmPublicKey,
  tpmSignDigest,
  wrapKeyInTpm,
} from '../../src/tpm';

const NO_DA = 0x400;

function verify(pub: crypto.KeyObject, data: Buffer, sig: Buffer, padding: 'pss' | 'pkcs1' = 'pss'): boolean {
  if (pub.asymmetricKeyType === 'rsa') {
    const pad = padding === 'pss' ? crypto.constants.RSA_PKCS1_PSS_PADDING : crypto.constants.RSA_PKCS1_PADDING;
    return crypto.verify('sha256', data, { key: pub, padding: pad, saltLength: 32 }, sig);
  }
  return crypto.verify('sha256', data, pub, sig);
}

describe('TPM keys on swtpm', () => {
  let tpm: Swtpm;
  let dir: string;
  before(async () => {
    tpm = await startSwtpm();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpm-sign-'));
  });
  after(async () => {
    flushAll();
    await tpm.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const specs = [
    { type: 'ecc', curve: 'P-256' },
    { type: 'ecc', curve: 'P-384' },
    { type: 'rsa', bits: 2048 },
    { type: 'rsa', bits: 3072 },
    { type: 'ecc', curve: 'P-256', keyPassword: 'correct horse' },
    { type: 'rsa', bits: 2048, keyPassword: 'battery staple' },
  ] as const;

  for (const spec of specs) {
    const name = `${spec.type} ${'curve' in spec ? spec.curve : spec.bits}${'keyPassword' in spec ? ' with password' : ''}`;
    it(`creates an ${name} key that signs verifiably`, async () => {
      const pem = await createTpmKey({ tcti: tpm.tcti, ...spec });
      const file = path.join(dir, `${name.replace(/ /g, '-')}.tss2`);
      fs.writeFileSync(file, pem, { mode: 0o600 });
      const key = parseTss2PrivateKey(pem, file);
      const hasPassword = 'keyPassword' in spec;
      assert.equal(key.emptyAuth, !hasPassword);
      assert.equal(key.parent, 0x40000001);
      assert.equal((key.public.attributes & NO_DA) !== 0, !hasPassword, 'noDA exactly when there is no password');
      if (key.public.type === 'ecc') assert.equal(key.public.curve, 'curve' in spec ? spec.curve : '');
      else assert.equal(key.public.bits, 'bits' in spec ? spec.bits : 0);

      const info = configureTpmKey(file, { tcti: tpm.tcti, keyPassword: hasPassword ? spec.keyPassword : undefined });
      const pub = tpmPublicKey(pem, file);
      assert.ok(pub.equals(info.publicKey));
      const data = crypto.randomBytes(100);
      const digest = crypto.createHash('sha256').update(data).digest();
      const sig = await tpmSignDigest(file, digest);
      assert.ok(verify(pub, data, sig), 'signature verifies');
      assert.ok(!verify(pub, Buffer.concat([data, Buffer.from('x')]), sig), 'and not for other data');
      if (spec.type === 'rsa') {
        const sig1 = await tpmSignDigest(file, digest, { rsaPadding: 'pkcs1' });
        assert.ok(verify(pub, data, sig1, 'pkcs1'));
      }
    });
  }

  for (const [type, options] of [
    ['ec', { namedCurve: 'P-256' }],
    ['ec', { namedCurve: 'P-384' }],
    ['rsa', { modulusLength: 2048 }],
  ] as const) {
    it(`wraps an existing ${type} ${JSON.stringify(options)} key so that the TPM signs for it`, async () => {
      const { privateKey, publicKey } =
        type === 'ec' ? crypto.generateKeyPairSync('ec', options as { namedCurve: string }) : crypto.generateKeyPairSync('rsa', options as { modulusLength: number });
      const pemKey = privateKey.export({ type: 'pkcs8', format: 'pem' });
      const pem = await wrapKeyInTpm({ tcti: tpm.tcti, pemKey, keyPassword: 'pw' });
      assert.ok(!pem.toString().includes(pemKey.toString().split('\n')[1] as string));
      const file = path.join(dir, `wrapped-${type}-${crypto.randomUUID()}.tss2`);
      fs.writeFileSync(file, pem, { mode: 0o600 });
      const info = configureTpmKey(file, { tcti: tpm.tcti, keyPassword: 'pw' });
      assert.ok(info.publicKey.equals(publicKey));
      const data = Buffer.from('wrapped');
      const sig = await tpmSignDigest(file, crypto.createHash('sha256').update(data).digest());
      assert.ok(verify(publicKey, data, sig));
    });
  }

  it('wraps an encrypted PEM key given its passphrase', async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pemKey = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'open sesame' });
    const pem = await wrapKeyInTpm({ tcti: tpm.tcti, pemKey, passphrase: 'open sesame' });
    assert.ok(tpmPublicKey(pem).equals(publicKey));
    assert.equal(parseTss2PrivateKey(pem, 'wrapped').emptyAuth, true);
  });
});
