// Key files travel between tlssh and the standard tools: tpm2-tools (tpm2_create +
// tpm2_encodeobject) and the tpm2-openssl provider, with the owner-hierarchy primary made on
// the fly or a persistent parent.
import { after, before, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { registerTemp } from '../helpers/temp-registry';
import { configureTpmKey, createTpmKey, flushAll, parseTss2PrivateKey, tpmSignDigest, unconfigureTpmKey } from '../../src/tpm';

const PRIMARY_ATTRS = 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda';

function verifies(pub: crypto.KeyObject, data: Buffer, sig: Buffer): boolean {
  if (pub.asymmetricKeyType === 'rsa') {
    return crypto.verify('sha256', data, { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
  }
  return crypto.verify('sha256', data, pub, sig);
}

describe('TPM key files and the standard tools', () => {
  let tpm: Swtpm;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const run = (cmd: string, args: string[]): Buffer => {
    // swtpm serves one client at a time: let go of it while a tool runs.
    flushAll();
    const out = execFileSync(cmd, args, { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    // Without a resource manager tpm2-tools leaves its sessions behind, and a TPM has only a few.
    if (cmd.startsWith('tpm2_')) {
      for (const flag of ['-l', '-s']) execFileSync('tpm2_flushcontext', [flag], { env, stdio: 'ignore' });
    }
    return out;
  };
  const file = (name: string) => path.join(dir, name);

  async function signsAndVerifies(keyFile: string, opts: { keyPassword?: string; parentPassword?: string } = {}): Promise<void> {
    const info = configureTpmKey(keyFile, { tcti: tpm.tcti, ...opts });
    const data = crypto.randomBytes(64);
    const sig = await tpmSignDigest(keyFile, crypto.createHash('sha256').update(data).digest());
    assert.ok(verifies(info.publicKey, data, sig), `${path.basename(keyFile)} signs verifiably`);
    unconfigureTpmKey(keyFile);
  }

  function toolsKey(name: string, alg: string, attrs: string, opts: { password?: string; parent?: string } = {}): string {
    const parent = opts.parent ?? 'prim.ctx';
    if (!opts.parent) run('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc256:null:aes128cfb', '-a', PRIMARY_ATTRS, '-c', 'prim.ctx']);
    run('tpm2_create', ['-C', parent, '-G', alg, '-a', attrs, ...(opts.password ? ['-p', opts.password] : []), '-u', `${name}.pub`, '-r', `${name}.priv`]);
    run('tpm2_flushcontext', ['-t']);
    run('tpm2_encodeobject', ['-C', parent, '-u', `${name}.pub`, '-r', `${name}.priv`, '-o', `${name}.tss2`]);
    run('tpm2_flushcontext', ['-t']);
    return file(`${name}.tss2`);
  }

  before(async () => {
    tpm = await startSwtpm();
    dir = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpm-interop-')));
    env = { ...process.env, TPM2TOOLS_TCTI: tpm.tcti, TPM2OPENSSL_TCTI: tpm.tcti, TSS2_LOG: 'all+none' };
  });
  after(async () => {
    flushAll();
    await tpm.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => flushAll());

  it('loads an ECC key made by tpm2_create + tpm2_encodeobject (emptyAuth written as false)', async () => {
    const k = toolsKey('tools-ecc', 'ecc256:null:null', 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda');
    assert.equal(parseTss2PrivateKey(fs.readFileSync(k), k).emptyAuth, false);
    await signsAndVerifies(k);
  });

  it('loads a password-protected tpm2-tools key given its password', async () => {
    const k = toolsKey('tools-ecc-pw', 'ecc256:null:null', 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth', { password: 'tools pw' });
    await signsAndVerifies(k, { keyPassword: 'tools pw' });
  });

  it('loads a tpm2-tools RSA key with decrypt and the null scheme and signs RSA-PSS', async () => {
    const k = toolsKey('tools-rsa', 'rsa2048:null:null', 'sign|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda');
    await signsAndVerifies(k);
  });

  it('refuses a tpm2-tools RSA key with a fixed RSASSA scheme and no decrypt', () => {
    const k = toolsKey('tools-rsassa', 'rsa2048:rsassa-sha256:null', 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda');
    assert.throws(() => configureTpmKey(k, { tcti: tpm.tcti }), { code: 'TLSSH_ERR_TPM_KEY_ATTRIBUTES' });
  });

  it('uses a persistent parent 0x81000001 for keys from both tlssh and tpm2-tools', async () => {
    run('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc256:null:aes128cfb', '-a', PRIMARY_ATTRS, '-c', 'srk.ctx']);
    run('tpm2_evictcontrol', ['-C', 'o', '-c', 'srk.ctx', '0x81000001']);
    run('tpm2_flushcontext', ['-t']);
    const ours = file('persistent-ours.tss2');
    fs.writeFileSync(ours, await createTpmKey({ tcti: tpm.tcti, type: 'ecc', parent: 0x81000001 }));
    assert.equal(parseTss2PrivateKey(fs.readFileSync(ours), ours).parent, 0x81000001);
    await signsAndVerifies(ours);
    const theirs = toolsKey('persistent-tools', 'rsa2048:null:null', 'sign|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda', { parent: '0x81000001' });
    assert.equal(parseTss2PrivateKey(fs.readFileSync(theirs), theirs).parent, 0x81000001);
    await signsAndVerifies(theirs);
  });

  for (const spec of [
    { type: 'ecc' as const, keyPassword: undefined },
    { type: 'rsa' as const, keyPassword: undefined },
    { type: 'ecc' as const, keyPassword: 'provider pw' },
  ]) {
    it(`our ${spec.type} key${spec.keyPassword ? ' with a password' : ''} loads and signs in the tpm2-openssl provider`, async () => {
      const k = file(`ours-${spec.type}-${spec.keyPassword ? 'pw' : 'nopw'}.tss2`);
      const pem = await createTpmKey({ tcti: tpm.tcti, type: spec.type, keyPassword: spec.keyPassword });
      fs.writeFileSync(k, pem);
      const ourPub = configureTpmKey(k, { tcti: tpm.tcti, keyPassword: spec.keyPassword }).publicKey;
      unconfigureTpmKey(k);
      const pass = ['-passin', `pass:${spec.keyPassword ?? ''}`];
      const theirPub = crypto.createPublicKey(run('openssl', ['pkey', '-provider', 'tpm2', '-provider', 'base', ...pass, '-in', k, '-pubout']));
      assert.ok(theirPub.equals(ourPub));
      const data = Buffer.from('signed by the provider');
      fs.writeFileSync(file('digest.bin'), crypto.createHash('sha256').update(data).digest());
      const rsaOpts = spec.type === 'rsa' ? ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', 'rsa_pss_saltlen:32'] : [];
      run('openssl', ['pkeyutl', '-provider', 'tpm2', '-provider', 'base', ...pass, '-sign', '-inkey', k, '-pkeyopt', 'digest:sha256', ...rsaOpts, '-in', 'digest.bin', '-out', 'sig.bin']);
      assert.ok(verifies(ourPub, data, fs.readFileSync(file('sig.bin'))));
    });
  }

  it('loads keys made by the tpm2-openssl provider', async () => {
    run('openssl', ['genpkey', '-provider', 'tpm2', '-provider', 'base', '-algorithm', 'EC', '-pkeyopt', 'group:P-256', '-out', 'provider-ec.tss2']);
    await signsAndVerifies(file('provider-ec.tss2'));
    run('openssl', ['genpkey', '-provider', 'tpm2', '-provider', 'base', '-algorithm', 'RSA', '-pkeyopt', 'bits:2048', '-out', 'provider-rsa.tss2']);
    await signsAndVerifies(file('provider-rsa.tss2'));
  });
});
