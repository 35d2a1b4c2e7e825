// What the tlssh TPM tests share: a client config that logs in with a TPM key (made in the test's
// swtpm and certified by the fixture's CA), and tlssh run without a controlling terminal.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configureTpmKey, createTpmKey } from '../../src/tpm';
import type { Swtpm } from '../helpers/swtpm';
import { TLSSH, type ClientFixture } from './client-fixture';
import { testHome } from '../helpers/test-home';

/**
 * A TPM key `name`, a certificate for it from the test CA, and a client config using both;
 * `rewrite` may change the key file as another tool would have written it.
 */
export async function tpmClientConfig(
  fx: ClientFixture, tpm: Swtpm, name: string, keyPassword?: string,
  extra: Record<string, string> = {}, rewrite?: (pem: Buffer) => Buffer,
): Promise<string> {
  const keyFile = path.join(fx.dir, `${name}.tss2`);
  let pem = await createTpmKey({ tcti: tpm.tcti, type: 'ecc', keyPassword });
  if (rewrite) pem = rewrite(pem);
  fs.writeFileSync(keyFile, pem, { mode: 0o600 });
  const info = configureTpmKey(keyFile, { tcti: tpm.tcti, keyPassword });
  const pubFile = path.join(fx.dir, `${name}.pub`);
  fs.writeFileSync(pubFile, info.publicKey.export({ type: 'spki', format: 'pem' }));
  const certFile = path.join(fx.dir, `${name}.crt`);
  execFileSync('openssl', ['x509', '-new', '-CA', fx.ca.certFile, '-CAkey', fx.ca.keyFile, '-force_pubkey', pubFile, '-subj', `/CN=${fx.user}`, '-days', '2', '-out', certFile], { stdio: 'ignore' });
  const conf = path.join(fx.dir, `${name}.conf`);
  const lines = fs
    .readFileSync(fx.configFile, 'utf8')
    .replace(/^CertFile .*$/m, `CertFile ${certFile}`)
    .replace(/^KeyFile .*$/m, `KeyFile ${keyFile}`);
  const more = Object.entries({ TpmTcti: tpm.tcti, ...extra }).map(([k, v]) => `${k} ${v}\n`).join('');
  fs.writeFileSync(conf, lines + more, { mode: 0o600 });
  return conf;
}

/** tlssh in a session of its own: no controlling terminal, so a prompt fails rather than waits. */
export function runWithoutTerminal(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [TLSSH, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: testHome() } });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}
