// The worker side of the key agent: tlsshd's workers sign their handshakes by asking the
// listener's key agent, whatever holds the key (a TPM, or a PEM file the listener read). They
// load the small agent-only addon (native/agent-engine-addon.cc), not the TPM addon: no libtss2,
// no TPM, and no key material in this process, only each key's public half, from the
// certificate, which the addon's OpenSSL engine "tpm" needs to build the key object.
import * as crypto from 'node:crypto';
import { TlsshError } from '../errors';
import { addonCandidates, loadFirstAddon } from '../native-addon';
import { checkAgentSocketPath } from './agent-protocol';
import { CURVES } from './tpm-public';
import { tpmError } from './tpm-errors';

type AgentKeyPublic = { type: 'ecc'; curve: number; x: Buffer; y: Buffer } | { type: 'rsa'; n: Buffer; exponent: number };

interface AgentEngineBinding {
  readonly engineId: string;
  readonly engineError: string | null;
  configureAgentKey(id: string, pub: AgentKeyPublic, agentPath: string): void;
  takeEngineFailure(): (Error & { keyId?: string }) | null;
}

const ADDON = 'tlssh_agent_engine.node';

let cached: AgentEngineBinding | undefined;

function binding(): AgentEngineBinding {
  if (cached) return cached;
  const found = loadFirstAddon<AgentEngineBinding>(addonCandidates(ADDON, __dirname, process.env['TLSSH_AGENT_ENGINE_ADDON']), (b, file) => {
    if (b.engineError !== null) throw new TlsshError('TLSSH_ERR_TPM_NATIVE_MISSING', `the key agent addon ${file} loaded but ${b.engineError}`);
  });
  if ('binding' in found) return (cached = found.binding);
  throw new TlsshError(
    'TLSSH_ERR_TPM_NATIVE_MISSING',
    `the key agent addon could not be loaded; tried: ${found.tried.join('; ')}. Build it with "npm run build" (needs g++ and make)`,
  );
}

/** The public half the engine needs, from the certificate: ECDSA on a TPM curve, or RSA. */
function publicHalf(keyId: string, cert: Buffer): AgentKeyPublic {
  let key: crypto.KeyObject;
  try {
    key = new crypto.X509Certificate(cert).publicKey;
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_TLS_CERT_FILE', `the certificate for ${keyId} cannot be read: ${(e as Error).message}`, { cause: e });
  }
  const jwk = key.export({ format: 'jwk' });
  const b = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');
  if (jwk.kty === 'EC' && (jwk.crv === 'P-256' || jwk.crv === 'P-384' || jwk.crv === 'P-521')) {
    return { type: 'ecc', curve: CURVES[jwk.crv], x: b(jwk.x), y: b(jwk.y) };
  }
  const e = b(jwk.e);
  if (jwk.kty === 'RSA' && e.length >= 1 && e.length <= 4) return { type: 'rsa', n: b(jwk.n), exponent: e.readUIntBE(0, e.length) };
  throw new TlsshError('TLSSH_ERR_TLS_KEY', `${keyId}: the certificate's ${key.asymmetricKeyType ?? 'unknown'} key cannot sign through the key agent: use an ECDSA (P-256, P-384, P-521) or RSA key`);
}

/** TLS contexts naming `keyId` (privateKeyEngine 'tpm') sign through the agent at socketPath. */
export function useAgentEngine(keyId: string, cert: Buffer, socketPath: string): void {
  checkAgentSocketPath(socketPath);
  binding().configureAgentKey(keyId, publicHalf(keyId, cert), socketPath);
}

/** Why the last signature through the agent failed, if one did (for the connection's log line). */
export function takeAgentEngineError(): TlsshError | undefined {
  const f = cached?.takeEngineFailure();
  return f ? tpmError(f, { keyFile: f.keyId ?? '' }) : undefined;
}
