import * as fs from 'node:fs';
import { TlsshError } from '../errors';

const DEFAULT_DEVICES = ['/dev/tpmrm0', '/dev/tpm0'] as const;

/**
 * The TCTI to use: the configured one, else the kernel resource manager, else the raw device.
 * Prefers tpmrm0 because it lets several processes share the TPM and cleans up after them.
 */
export function resolveTcti(tcti: string | undefined): string {
  if (tcti !== undefined && tcti !== '') {
    if (tcti.includes('\0') || tcti.length > 4096) {
      throw new TlsshError('TLSSH_ERR_CONFIG_BAD_VALUE', 'TpmTcti is not a valid TCTI string');
    }
    return tcti;
  }
  for (const dev of DEFAULT_DEVICES) if (fs.existsSync(dev)) return `device:${dev}`;
  throw new TlsshError(
    'TLSSH_ERR_TPM_UNAVAILABLE',
    `no TPM found (tried ${DEFAULT_DEVICES.join(', ')}): load the kernel TPM driver, or set TpmTcti (for example swtpm:host=127.0.0.1,port=2321)`,
  );
}
