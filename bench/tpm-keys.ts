// TPM-resident keys for both ends, made with tlssh-keygen in the TPM that will use them, with
// certificate requests signed by the benchmark's CA.

import { join } from 'node:path';
import { runChecked } from './lib/proc';
import { CLIENT_EXT, SERVER_EXT, signCsr, type Pki } from './lib/pki';
import { REPO, type KeyPair } from './tlsshd';

const KEYGEN = join(REPO, 'bin', 'tlssh-keygen');

export async function makeTpmKey(pki: Pki, dir: string, name: string, tcti: string, role: 'client' | 'server', cn: string): Promise<KeyPair> {
  const key = join(dir, `${name}.tss`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  await runChecked([KEYGEN, '--tpm', '--tcti', tcti, '-o', key, '--csr', csr, '--subject', `/CN=${cn}`, `--${role}`, '--quiet'], {
    env: { ...process.env, TSS2_LOG: 'all+none' },
    timeoutMs: 60_000,
  });
  // The CA decides the extensions (EKU, SAN), as a real CA would, whatever the request asked for.
  await signCsr(pki.caCert, pki.caKey, csr, cert, role === 'server' ? SERVER_EXT : CLIENT_EXT);
  return { cert, key, tpmTcti: tcti };
}
