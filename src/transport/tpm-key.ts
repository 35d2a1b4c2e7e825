// The TPM side of key loading. The facade in src/tpm is loaded only when a config asks for
// the engine, so that plain-key logins never pay for the native addon.

import type { CommonConfig } from '../config/types';

export interface EngineKeyOptions {
  privateKeyEngine: 'tpm';
  privateKeyIdentifier: string;
}

export function tpmKeyOptions(cfg: CommonConfig, agentSocket: string | undefined): EngineKeyOptions {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tpm = require('../tpm') as typeof import('../tpm');
  if (agentSocket) tpm.useKeyAgent(cfg.KeyFile, agentSocket);
  else tpm.configureTpmKey(cfg.KeyFile, { tcti: cfg.TpmTcti, parentPassword: cfg.TpmSrkPassword, keyPassword: cfg.PrivkeyPassword });
  return { privateKeyEngine: 'tpm', privateKeyIdentifier: cfg.KeyFile };
}
