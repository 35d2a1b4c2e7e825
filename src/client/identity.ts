// The client's identity before connecting: whether KeyFile is a TPM key (a TSS2 file is used in
// the TPM without -E), that a file key is private to its owner (ssh's "UNPROTECTED PRIVATE KEY
// FILE"), and the -v lines that say which certificate and key are used.
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type { ClientConfig } from '../config/types';
import { isTss2KeyFile } from '../config/tss2-key-file';
import { TlsshError } from '../errors';

export { isTss2KeyFile };

/** `cfg` with PrivkeyEngine tpm when KeyFile is a TPM key and no engine was named. */
export function withDetectedEngine(cfg: ClientConfig, debug?: (line: string) => void): ClientConfig {
  if (cfg.PrivkeyEngine !== '' || !isTss2KeyFile(cfg.KeyFile)) return cfg;
  debug?.(`${cfg.KeyFile} is a TPM key: using it in the TPM`);
  return Object.freeze({ ...cfg, PrivkeyEngine: 'tpm' });
}

/**
 * Refuses a private key file that others may read, as ssh does. TPM key files are exempt: their
 * private part is encrypted by the TPM and useless anywhere else.
 */
export function assertKeyFilePrivate(cfg: Pick<ClientConfig, 'KeyFile' | 'PrivkeyEngine'>): void {
  if (cfg.PrivkeyEngine === 'tpm') return;
  let st: fs.Stats;
  try {
    st = fs.statSync(cfg.KeyFile);
  } catch {
    return; // reported by the transport, with the keyword that named the file
  }
  if (!st.isFile() || (st.mode & 0o077) === 0) return;
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  throw new TlsshError(
    'TLSSH_ERR_KEY_INSECURE_MODE',
    `UNPROTECTED PRIVATE KEY FILE: permissions ${mode} for '${cfg.KeyFile}' are too open; it must be readable by its owner only (chmod 600 ${cfg.KeyFile})`,
  );
}

/** -v lines: the certificate (subject, serial, expiry) and where its key lives. */
export function describeIdentity(cfg: ClientConfig, tcti: string | undefined): string[] {
  const lines: string[] = [];
  try {
    const x = new X509Certificate(fs.readFileSync(cfg.CertFile));
    lines.push(`identity: certificate ${cfg.CertFile} (${cfg.origin['CertFile'] ?? 'default'}): subject "${x.subject.replace(/\n/g, ', ')}", serial ${x.serialNumber}, valid until ${x.validTo}`);
  } catch {
    lines.push(`identity: certificate ${cfg.CertFile} (${cfg.origin['CertFile'] ?? 'default'})`);
  }
  lines.push(
    cfg.PrivkeyEngine === 'tpm'
      ? `identity: key ${cfg.KeyFile} in the TPM (TCTI ${tcti ?? 'default: device:/dev/tpmrm0, then /dev/tpm0'})`
      : `identity: key file ${cfg.KeyFile}`,
  );
  return lines;
}
