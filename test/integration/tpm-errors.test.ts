// Every way a TPM key can fail ends in one TlsshError code (asserted here) whose message says
// what failed and what to do.
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { registerTemp } from '../helpers/temp-registry';
import {
  TPM_ENGINE_ID,
  checkTpmKey,
  configureTpmKey,
  createTpmKey,
  flushAll,
  takeTpmEngineError,
  tpmPublicKey,
  tpmSignDigest,
} from '../../src/tpm';

const DIGEST = crypto.createHash('sha256').update('x').digest();

describe('TPM failures', () => {
  let a: Swtpm;
  let b: Swtpm;
  let dir: string;
  const file = (n: string) => path.join(dir, n);
  async function keyOn(tpm: Swtpm, name: string, opts: { keyPassword?: string; type?: 'ecc' | 'rsa' } = {}): Promise<string> {
    const f = file(`${name}.tss2`);
    fs.writeFileSync(f, await createTpmKey({ tcti: tpm.tcti, type: opts.type ?? 'ecc', keyPassword: opts.keyPassword }));
    return f;
  }

  before(async () => {
    [a, b] = await Promise.all([startSwtpm(), startSwtpm()]);
    dir = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-tpm-errors-')));
  });
  after(async () => {
    flushAll();
    await Promise.all([a.stop(), b.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('garbage, truncated, missing and non-TPM key files: TLSSH_ERR_TPM_KEY_FILE', async () => {
    const good = fs.readFileSync(await keyOn(a, 'good'));
    const cases: Record<string, Buffer | undefined> = {
      garbage: crypto.randomBytes(300),
      'truncated PEM': good.subarray(0, good.length / 2),
      'truncated DER': Buffer.from(
        `-----BEGIN TSS2 PRIVATE KEY-----\n${Buffer.from(good.toString().split('\n').slice(1, -2).join(''), 'base64').subarray(0, 120).toString('base64')}\n-----END TSS2 PRIVATE KEY-----\n`,
      ),
      'EC private key': Buffer.from(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' })),
      empty: Buffer.alloc(0),
      missing: undefined,
    };
    for (const [name, content] of Object.entries(cases)) {
      const f = file(`bad-${name.replace(/ /g, '-')}.tss2`);
      if (content) fs.writeFileSync(f, content);
      assert.throws(() => configureTpmKey(f, { tcti: a.tcti }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'TLSSH_ERR_TPM_KEY_FILE', name);
        assert.ok(e.message.includes(f), `${name}: the message names the file`);
        return true;
      });
    }
  });

  it('wrong or missing key password: TLSSH_ERR_TPM_AUTH, mentioning dictionary-attack protection', async () => {
    const f = await keyOn(a, 'pw', { keyPassword: 'right' });
    configureTpmKey(f, { tcti: a.tcti, keyPassword: 'wrong' });
    await assert.rejects(checkTpmKey(f), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'TLSSH_ERR_TPM_AUTH');
      assert.match(e.message, /dictionary-attack/);
      return true;
    });
    configureTpmKey(f, { tcti: a.tcti });
    await assert.rejects(checkTpmKey(f), { code: 'TLSSH_ERR_TPM_AUTH' });
    configureTpmKey(f, { tcti: a.tcti, keyPassword: 'right' });
    await checkTpmKey(f);
  });

  it('a TLS handshake that fails inside the engine leaves a clean TlsshError', async () => {
    const f = await keyOn(a, 'tls-pw', { keyPassword: 'right' });
    configureTpmKey(f, { tcti: a.tcti, keyPassword: 'wrong' });
    const dirCa = file('ca');
    fs.mkdirSync(dirCa);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${dirCa}/k`, '-out', `${dirCa}/c`, '-subj', '/CN=ca', '-days', '1'], { stdio: 'ignore' });
    fs.writeFileSync(`${dirCa}/p`, tpmPublicKey(fs.readFileSync(f)).export({ type: 'spki', format: 'pem' }));
    execFileSync('openssl', ['x509', '-new', '-CA', `${dirCa}/c`, '-CAkey', `${dirCa}/k`, '-force_pubkey', `${dirCa}/p`, '-subj', '/CN=s', '-days', '1', '-out', `${dirCa}/s`], { stdio: 'ignore' });
    const srv = tls.createServer({ cert: fs.readFileSync(`${dirCa}/s`), privateKeyEngine: TPM_ENGINE_ID, privateKeyIdentifier: f });
    const serverErrors: Error[] = [];
    srv.on('tlsClientError', (e) => serverErrors.push(e));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await assert.rejects(
      new Promise((resolve, reject) => {
        const c = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(`${dirCa}/c`), checkServerIdentity: () => undefined }, () => resolve(undefined));
        c.on('error', reject);
      }),
    );
    await new Promise((r) => srv.close(r));
    assert.equal(takeTpmEngineError()?.code, 'TLSSH_ERR_TPM_AUTH');
    assert.equal(takeTpmEngineError(), undefined, 'taking it clears it');
  });

  it('a key from another TPM: TLSSH_ERR_TPM_WRONG_TPM', async () => {
    const f = await keyOn(a, 'from-a');
    configureTpmKey(f, { tcti: b.tcti });
    await assert.rejects(tpmSignDigest(f, DIGEST), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'TLSSH_ERR_TPM_WRONG_TPM');
      assert.match(e.message, /TPM2_Load/);
      return true;
    });
  });

  it('a stopped TPM: TLSSH_ERR_TPM_UNAVAILABLE naming the TCTI; it works again once restarted', async () => {
    const f = await keyOn(b, 'stopping');
    configureTpmKey(f, { tcti: b.tcti });
    await checkTpmKey(f);
    await b.kill();
    await assert.rejects(tpmSignDigest(f, DIGEST), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'TLSSH_ERR_TPM_UNAVAILABLE');
      assert.ok(e.message.includes(b.tcti));
      return true;
    });
    await b.restart();
    await checkTpmKey(f);
  });

  it('a TPM device that does not exist: TLSSH_ERR_TPM_UNAVAILABLE', async () => {
    const f = await keyOn(a, 'nodev');
    configureTpmKey(f, { tcti: 'device:/nonexistent/tpmrm9' });
    await assert.rejects(checkTpmKey(f), { code: 'TLSSH_ERR_TPM_UNAVAILABLE' });
  });

  it('a TPM device the user may not open: TLSSH_ERR_TPM_PERMISSION', async () => {
    const f = await keyOn(a, 'noperm');
    if (process.getuid?.() !== 0) {
      const dev = file('fake-tpm');
      fs.writeFileSync(dev, '', { mode: 0o000 });
      configureTpmKey(f, { tcti: `device:${dev}` });
      await assert.rejects(checkTpmKey(f), { code: 'TLSSH_ERR_TPM_PERMISSION' });
      return;
    }
    // Root may open anything, so the check runs as nobody, against a root-only device node.
    const shared = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-noperm-')));
    try {
      fs.chmodSync(shared, 0o755);
      const dev = path.join(shared, 'tpmrm0');
      fs.writeFileSync(dev, '', { mode: 0o600 });
      const key = path.join(shared, 'key.tss2');
      fs.copyFileSync(f, key);
      fs.chmodSync(key, 0o644);
      const facade = path.resolve(__dirname, '..', '..', 'src', 'tpm', 'index.js');
      const script = `const t = require(${JSON.stringify(facade)});
        t.configureTpmKey(${JSON.stringify(key)}, { tcti: ${JSON.stringify(`device:${dev}`)} });
        t.checkTpmKey(${JSON.stringify(key)}).then(() => console.log('OK'), (e) => console.log(e.code));`;
      const out = execFileSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, cwd: shared, encoding: 'utf8' });
      assert.equal(out.trim(), 'TLSSH_ERR_TPM_PERMISSION');
    } finally {
      fs.rmSync(shared, { recursive: true, force: true });
    }
  });

  it('a wrong owner (parent) password: TLSSH_ERR_TPM_AUTH', async () => {
    const c = await startSwtpm();
    try {
      execFileSync('tpm2_changeauth', ['-c', 'o', 'owner secret'], { env: { ...process.env, TPM2TOOLS_TCTI: c.tcti, TSS2_LOG: 'all+none' }, stdio: 'ignore' });
      await assert.rejects(createTpmKey({ tcti: c.tcti, type: 'ecc' }), { code: 'TLSSH_ERR_TPM_AUTH' });
      const pem = await createTpmKey({ tcti: c.tcti, type: 'ecc', parentPassword: 'owner secret' });
      const f = file('owner-pw.tss2');
      fs.writeFileSync(f, pem);
      configureTpmKey(f, { tcti: c.tcti, parentPassword: 'nope' });
      await assert.rejects(checkTpmKey(f), { code: 'TLSSH_ERR_TPM_AUTH' });
      configureTpmKey(f, { tcti: c.tcti, parentPassword: 'owner secret' });
      await checkTpmKey(f);
    } finally {
      flushAll();
      await c.stop();
    }
  });

  it('repeated wrong passwords lock the TPM: TLSSH_ERR_TPM_LOCKOUT', async () => {
    const c = await startSwtpm(); // its own TPM: lockout would disturb the other tests
    try {
      const f = file('lockout.tss2');
      fs.writeFileSync(f, await createTpmKey({ tcti: c.tcti, type: 'ecc', keyPassword: 'right' }));
      configureTpmKey(f, { tcti: c.tcti, keyPassword: 'wrong' });
      const codes: string[] = [];
      for (let i = 0; i < 6; i++) {
        try {
          await checkTpmKey(f);
          codes.push('ok');
        } catch (e) {
          codes.push((e as { code: string }).code);
        }
      }
      assert.equal(codes[0], 'TLSSH_ERR_TPM_AUTH');
      assert.equal(codes.at(-1), 'TLSSH_ERR_TPM_LOCKOUT');
    } finally {
      flushAll();
      await c.stop();
    }
  });

  it('an RSA key without decrypt is refused before the TPM is asked: TLSSH_ERR_TPM_KEY_ATTRIBUTES', async () => {
    const env = { ...process.env, TPM2TOOLS_TCTI: a.tcti, TSS2_LOG: 'all+none' };
    flushAll();
    const run = (args: string[]) => execFileSync(args[0] as string, args.slice(1), { env, cwd: dir, stdio: 'ignore' });
    run(['tpm2_createprimary', '-C', 'o', '-g', 'sha256', '-G', 'ecc256:null:aes128cfb', '-a', 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda', '-c', 'p.ctx']);
    run(['tpm2_create', '-C', 'p.ctx', '-G', 'rsa2048:null:null', '-a', 'sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda', '-u', 'r.pub', '-r', 'r.priv']);
    run(['tpm2_encodeobject', '-C', 'p.ctx', '-u', 'r.pub', '-r', 'r.priv', '-o', 'signonly.tss2']);
    for (const flag of ['-t', '-l', '-s']) run(['tpm2_flushcontext', flag]);
    assert.throws(() => configureTpmKey(file('signonly.tss2'), { tcti: a.tcti }), { code: 'TLSSH_ERR_TPM_KEY_ATTRIBUTES' });
  });
});
