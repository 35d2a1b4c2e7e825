// src/tpm: the typed facade over the native TPM addon. Nothing else imports the binding.
export { loadTpmBinding } from './binding';
export type { TpmBinding } from './binding';
export { OWNER_PARENT, encodeTss2PrivateKey, parseTss2PrivateKey } from './key-file';
export type { Tss2PrivateKey } from './key-file';
export type { TpmPublic, EccPublic, RsaPublic, CurveName } from './tpm-public';
export {
  TPM_ENGINE_ID,
  checkTpmKey,
  configureTpmKey,
  configuredKeyType,
  createTpmKey,
  flushAll,
  flushAllAsync,
  takeTpmEngineError,
  tpmEcdsaSign,
  tpmPublicKey,
  tpmRsaPrivate,
  tpmSignDigest,
  unconfigureTpmKey,
  useKeyAgent,
  wrapKeyInTpm,
} from './keys';
export type { TpmCreateOptions, TpmKeyInfo, TpmKeyOptions } from './keys';
export { resolveTcti } from './tcti';
export { tpmError } from './tpm-errors';
export { startKeyAgent } from './key-agent';
export type { KeyAgent, KeyAgentKey, KeyAgentOptions } from './key-agent';
export type { AgentStats } from './agent-stats';
export { AGENT_OP, decodeResponse, encodeRequest } from './agent-protocol';
