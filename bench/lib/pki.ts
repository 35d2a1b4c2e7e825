// A private CA and the certificates both tlssh ends need, made with the openssl command line so
// the benchmark depends on nothing but the system's own tools.

import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { runChecked } from './proc';

export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** Signs a CSR with the CA; `ext` is an openssl extension section body. */
export async function signCsr(caCert: string, caKey: string, csr: string, out: string, ext: string): Promise<void> {
  const extFile = `${out}.ext`;
  writeFileSync(extFile, `[v3]\n${ext}\n`);
  // A random serial of its own: a shared serial file (-CAcreateserial) breaks when several
  // certificates are signed at once, as the client TPM keys are.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and a full 16 bytes, as RFC 5280 wants
  await runChecked(['openssl', 'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', `0x${serial.toString('hex')}`,
    '-days', '2', '-sha256', '-extfile', extFile, '-extensions', 'v3', '-out', out]);
}

export const SERVER_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost';
export const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth';

export async function makePki(dir: string, user: string): Promise<Pki> {
  const p = (f: string): string => join(dir, f);
  await runChecked(['openssl', 'req', '-x509', ...EC, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2',
    '-subj', '/CN=tlssh benchmark CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  for (const [name, cn, ext] of [['server', '127.0.0.1', SERVER_EXT], ['client', user, CLIENT_EXT]] as const) {
    await runChecked(['openssl', 'req', '-new', ...EC, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await signCsr(p('ca.crt'), p('ca.key'), p(`${name}.csr`), p(`${name}.crt`), ext);
  }
  return { caCert: p('ca.crt'), caKey: p('ca.key'), serverCert: p('server.crt'), serverKey: p('server.key'), clientCert: p('client.crt'), clientKey: p('client.key') };
}
