// The typed TPM key API: make keys, wrap existing keys, sign, and configure key files for Node's
// TLS (privateKeyEngine 'tpm'). Arguments are checked here before anything reaches the addon.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { TlsshError } from '../errors';
import { checkAgentSocketPath } from './agent-protocol';
import { loadTpmBinding, loadedTpmBinding, type TpmBinding } from './binding';
import { OWNER_PARENT, encodeTss2PrivateKey, parseTss2PrivateKey, type Tss2PrivateKey } from './key-file';
import { hashForDigestLength, pkcs1v15Encode, pssEncode } from './rsa-padding';
import { resolveTcti } from './tcti';
import { tpmError, type TpmErrorContext } from './tpm-errors';
import { ATTR, marshalPublic, marshalSensitive, publicKeyObject, unusableReason, type CurveName } from './tpm-public';

/** The engine id to pass as Node's `privateKeyEngine`. */
export const TPM_ENGINE_ID = 'tpm';

export interface TpmKeyOptions {
  /** TCTI string, e.g. "device:/dev/tpmrm0" or "swtpm:host=127.0.0.1,port=2321"; default: tpmrm0, then tpm0. */
  tcti?: string;
  /** TpmSrkPassword: the parent's auth (for parent 0x40000001, the owner hierarchy's). */
  parentPassword?: string;
  /** PrivkeyPassword: the key's own auth. */
  keyPassword?: string;
}

export interface TpmCreateOptions {
  tcti?: string;
  /** 0x40000001 (default: a primary made on the fly in the owner hierarchy) or a persistent 0x81xxxxxx. */
  parent?: number;
  parentPassword?: string;
  /** With a password the key keeps dictionary-attack protection; without one it is made noDA. */
  keyPassword?: string;
}

export interface TpmKeyInfo {
  readonly type: 'ecc' | 'rsa';
  readonly curve?: CurveName;
  readonly bits?: number;
  readonly parent: number;
  readonly emptyAuth: boolean;
  readonly publicKey: crypto.KeyObject;
}

interface Configured {
  key: Tss2PrivateKey;
  ctx: TpmErrorContext;
  /** A digest of what configureTpmKey was given, so the same call again skips the addon. */
  given?: string;
}

const configured = new Map<string, Configured>();

/** An object's auth may be no longer than its name hash (SHA-256 for every key tlssh makes). */
const MAX_KEY_PASSWORD = 32;
const MAX_PARENT_PASSWORD = 64;

function passwordBytes(pw: string | undefined, max: number, what: string): Buffer {
  const b = Buffer.from(pw ?? '', 'utf8');
  if (b.length > max) {
    b.fill(0);
    throw new TlsshError('TLSSH_ERR_USAGE', `${what} is longer than the TPM allows (${max} bytes)`);
  }
  return b;
}

function checkParent(parent: number | undefined): number {
  const p = parent ?? OWNER_PARENT;
  if (!Number.isInteger(p) || p < 0 || p > 0xffffffff || (p !== OWNER_PARENT && p >>> 24 !== 0x81)) {
    throw new TlsshError('TLSSH_ERR_USAGE', `TPM parent must be 0x40000001 or a persistent handle 0x81xxxxxx, not ${String(parent)}`);
  }
  return p;
}

function readKeyFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TlsshError('TLSSH_ERR_TPM_KEY_FILE', `cannot read TPM key file ${file}: ${code ?? String(e)}`, { cause: e });
  }
}

function info(key: Tss2PrivateKey): TpmKeyInfo {
  const pub = key.public;
  return {
    type: pub.type,
    ...(pub.type === 'ecc' ? { curve: pub.curve } : { bits: pub.bits }),
    parent: key.parent,
    emptyAuth: key.emptyAuth,
    publicKey: publicKeyObject(pub),
  };
}

function usable(key: Tss2PrivateKey, file: string): void {
  const why = unusableReason(key.public);
  if (why) throw new TlsshError('TLSSH_ERR_TPM_KEY_ATTRIBUTES', `TPM key ${file} cannot be used: ${why}`);
}

function binding(): TpmBinding {
  return loadTpmBinding();
}

/**
 * Registers a key file so that Node TLS can use it with
 * `{ privateKeyEngine: 'tpm', privateKeyIdentifier: keyFile }`, and so that tpmSignDigest works.
 * The engine cannot prompt: passwords are given here. Call again to change them.
 */
export function configureTpmKey(keyFile: string, opts: TpmKeyOptions & { pem?: string | Buffer } = {}): TpmKeyInfo {
  const pem = opts.pem ?? readKeyFile(keyFile);
  const tcti = resolveTcti(opts.tcti);
  // The client configures the key before its early load and again for the handshake, while the
  // load holds the addon's TPM lock: the same settings again must not wait for that lock.
  const given = crypto.createHash('sha256').update(JSON.stringify([tcti, opts.parentPassword ?? null, opts.keyPassword ?? null])).update(pem).digest('hex');
  const known = configured.get(keyFile);
  if (known !== undefined && known.given === given) return info(known.key);
  const key = parseTss2PrivateKey(pem, keyFile);
  usable(key, keyFile);
  const parentAuth = passwordBytes(opts.parentPassword, MAX_PARENT_PASSWORD, 'TpmSrkPassword');
  const keyAuth = passwordBytes(opts.keyPassword, MAX_KEY_PASSWORD, 'PrivkeyPassword');
  try {
    binding().configureKey(keyFile, { tcti, parent: key.parent, parentAuth, keyAuth, pub: key.pub, priv: key.priv, agentPath: '' });
  } catch (e) {
    throw tpmError(e, { keyFile, tcti });
  } finally {
    parentAuth.fill(0);
    keyAuth.fill(0);
  }
  configured.set(keyFile, {
    key,
    ctx: { keyFile, tcti, keyPasswordGiven: !!opts.keyPassword, parentPasswordGiven: !!opts.parentPassword },
    given,
  });
  return info(key);
}

/**
 * Worker side of the key agent: TLS contexts naming keyFile sign by asking the agent at
 * socketPath. The TPM is never opened in this process; the public key comes from the file.
 */
export function useKeyAgent(keyFile: string, socketPath: string, pem?: string | Buffer): TpmKeyInfo {
  checkAgentSocketPath(socketPath);
  const key = parseTss2PrivateKey(pem ?? readKeyFile(keyFile), keyFile);
  usable(key, keyFile);
  try {
    binding().configureKey(keyFile, {
      tcti: '', parent: key.parent, parentAuth: Buffer.alloc(0), keyAuth: Buffer.alloc(0), pub: key.pub, priv: key.priv, agentPath: socketPath,
    });
  } catch (e) {
    throw tpmError(e, { keyFile });
  }
  configured.set(keyFile, { key, ctx: { keyFile } });
  return info(key);
}

function configuredKey(keyFile: string): Configured {
  const c = configured.get(keyFile);
  if (!c) throw new TlsshError('TLSSH_ERR_INTERNAL', `TPM key ${keyFile} used before configureTpmKey()`);
  return c;
}

/** Forgets a configured key and flushes it from the TPM. */
export function unconfigureTpmKey(keyFile: string): void {
  if (!configured.delete(keyFile)) return;
  binding().removeKey(keyFile);
}

/**
 * Loads the key and makes one signature with it, so that a wrong or missing password, a missing
 * TPM or a key from another TPM is reported before a TLS handshake needs the key.
 */
export async function checkTpmKey(keyFile: string): Promise<void> {
  const c = configuredKey(keyFile);
  try {
    if (c.key.public.type === 'ecc') await binding().ecdsaSign(keyFile, Buffer.alloc(32, 1));
    else await binding().rsaPrivate(keyFile, Buffer.from([2]));
  } catch (e) {
    throw tpmError(e, c.ctx);
  }
}

/**
 * Signs a digest (20, 32, 48 or 64 bytes; the hash is implied by the length) with a configured
 * key. ECC: a DER ECDSA-Sig-Value. RSA: an RSASSA-PSS (salt length = digest length, default) or
 * PKCS#1 v1.5 signature. Runs on the thread pool.
 */
export async function tpmSignDigest(
  keyFile: string,
  digest: Buffer,
  opts: TpmKeyOptions & { rsaPadding?: 'pss' | 'pkcs1' } = {},
): Promise<Buffer> {
  if (!configured.has(keyFile) || opts.tcti !== undefined || opts.keyPassword !== undefined || opts.parentPassword !== undefined) {
    configureTpmKey(keyFile, opts);
  }
  const c = configuredKey(keyFile);
  const hash = hashForDigestLength(digest.length);
  if (!hash) throw new TlsshError('TLSSH_ERR_USAGE', `digest must be 20, 32, 48 or 64 bytes, not ${digest.length}`);
  const pub = c.key.public;
  try {
    if (pub.type === 'ecc') return await binding().ecdsaSign(keyFile, digest);
    const block =
      opts.rsaPadding === 'pkcs1' ? pkcs1v15Encode(digest, hash, pub.modulus.length) : pssEncode(digest, hash, pub.bits);
    return await binding().rsaPrivate(keyFile, block);
  } catch (e) {
    throw tpmError(e, c.ctx);
  }
}

/** The raw RSA private operation (input: a modulus-sized block, already padded). */
export async function tpmRsaPrivate(keyFile: string, block: Buffer): Promise<Buffer> {
  const c = configuredKey(keyFile);
  if (c.key.public.type !== 'rsa') throw new TlsshError('TLSSH_ERR_TPM_KEY_ATTRIBUTES', `${keyFile} is not an RSA key`);
  if (block.length > c.key.public.modulus.length) throw new TlsshError('TLSSH_ERR_USAGE', 'RSA input longer than the modulus');
  try {
    return await binding().rsaPrivate(keyFile, block);
  } catch (e) {
    throw tpmError(e, c.ctx);
  }
}

/** ECDSA over a digest with a configured ECC key: DER ECDSA-Sig-Value. */
export async function tpmEcdsaSign(keyFile: string, digest: Buffer): Promise<Buffer> {
  const c = configuredKey(keyFile);
  if (c.key.public.type !== 'ecc') throw new TlsshError('TLSSH_ERR_TPM_KEY_ATTRIBUTES', `${keyFile} is not an ECC key`);
  if (!hashForDigestLength(digest.length)) throw new TlsshError('TLSSH_ERR_USAGE', `bad digest length ${digest.length}`);
  try {
    return await binding().ecdsaSign(keyFile, digest);
  } catch (e) {
    throw tpmError(e, c.ctx);
  }
}

/** The type of a configured key, or undefined. */
export function configuredKeyType(keyFile: string): 'ecc' | 'rsa' | undefined {
  return configured.get(keyFile)?.key.public.type;
}

/** The public key of a TPM key file as a KeyObject; needs no TPM. */
export function tpmPublicKey(keyFilePem: string | Buffer, file = 'TPM key file'): crypto.KeyObject {
  return publicKeyObject(parseTss2PrivateKey(keyFilePem, file).public);
}

function keyAttributes(type: 'ecc' | 'rsa', imported: boolean, password: boolean): number {
  let a: number = ATTR.userWithAuth | ATTR.sign;
  if (type === 'rsa') a |= ATTR.decrypt;
  // Imported keys did not originate in the TPM; the TPM refuses fixedTPM/fixedParent on import.
  if (!imported) a |= ATTR.fixedTPM | ATTR.fixedParent | ATTR.sensitiveDataOrigin;
  if (!password) a |= ATTR.noDA;
  return a;
}

/** Makes a new key inside the TPM; returns the key file (PEM "TSS2 PRIVATE KEY"). */
export async function createTpmKey(opts: TpmCreateOptions & { type: 'ecc' | 'rsa'; curve?: 'P-256' | 'P-384'; bits?: 2048 | 3072 }): Promise<Buffer> {
  const parent = checkParent(opts.parent);
  const tcti = resolveTcti(opts.tcti);
  let template: Buffer;
  const password = !!opts.keyPassword;
  if (opts.type === 'ecc') {
    const curve = opts.curve ?? 'P-256';
    if (curve !== 'P-256' && curve !== 'P-384') throw new TlsshError('TLSSH_ERR_USAGE', `unsupported curve ${String(curve)}`);
    template = marshalPublic({ type: 'ecc', curve, attributes: keyAttributes('ecc', false, password) });
  } else if (opts.type === 'rsa') {
    const bits = opts.bits ?? 2048;
    if (bits !== 2048 && bits !== 3072) throw new TlsshError('TLSSH_ERR_USAGE', `unsupported RSA size ${String(bits)}`);
    template = marshalPublic({ type: 'rsa', bits, attributes: keyAttributes('rsa', false, password) });
  } else {
    throw new TlsshError('TLSSH_ERR_USAGE', `unsupported key type ${String((opts as { type: unknown }).type)}`);
  }
  const parentAuth = passwordBytes(opts.parentPassword, MAX_PARENT_PASSWORD, 'TpmSrkPassword');
  const keyAuth = passwordBytes(opts.keyPassword, MAX_KEY_PASSWORD, 'the key password');
  try {
    const made = await binding().createKey({ tcti, parent, parentAuth, keyAuth, template });
    return encodeTss2PrivateKey({ emptyAuth: !password, parent, pub: made.pub, priv: made.priv });
  } catch (e) {
    throw tpmError(e, { tcti, parentPasswordGiven: !!opts.parentPassword });
  } finally {
    parentAuth.fill(0);
    keyAuth.fill(0);
  }
}

function fixedLength(b: Buffer, len: number, what: string): Buffer {
  if (b.length > len) throw new TlsshError('TLSSH_ERR_TLS_KEY', `${what} is longer than the key size`);
  return b.length === len ? b : Buffer.concat([Buffer.alloc(len - b.length), b]);
}

/**
 * Moves an existing private key (PEM/PKCS#8/SEC1/PKCS#1) into the TPM (TPM2_Import under the
 * parent) and returns a TPM key file. The caller should destroy the original afterwards.
 */
export async function wrapKeyInTpm(opts: TpmCreateOptions & { pemKey: string | Buffer; passphrase?: string }): Promise<Buffer> {
  const parent = checkParent(opts.parent);
  const tcti = resolveTcti(opts.tcti);
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(opts.passphrase === undefined ? { key: opts.pemKey } : { key: opts.pemKey, passphrase: opts.passphrase });
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `cannot read the private key to wrap: ${(e as Error).message}`, { cause: e });
  }
  const jwk = key.export({ format: 'jwk' });
  const password = !!opts.keyPassword;
  let pub: Buffer;
  let secret: Buffer;
  let type: 'ecc' | 'rsa';
  if (jwk.kty === 'EC') {
    const curve = jwk.crv;
    if (curve !== 'P-256' && curve !== 'P-384') throw new TlsshError('TLSSH_ERR_TLS_KEY', `cannot wrap an EC key on curve ${String(curve)}; use P-256 or P-384`);
    const size = curve === 'P-256' ? 32 : 48;
    const b = (s: string | undefined) => fixedLength(Buffer.from(s ?? '', 'base64url'), size, 'an EC coordinate');
    type = 'ecc';
    pub = marshalPublic({ type, curve, attributes: keyAttributes(type, true, password), x: b(jwk.x), y: b(jwk.y) });
    secret = b(jwk.d);
  } else if (jwk.kty === 'RSA') {
    const n = Buffer.from(jwk.n ?? '', 'base64url');
    const bits = n.length * 8;
    if (bits !== 2048 && bits !== 3072) throw new TlsshError('TLSSH_ERR_TLS_KEY', `cannot wrap a ${bits}-bit RSA key; use 2048 or 3072 bits`);
    const e = Buffer.from(jwk.e ?? '', 'base64url');
    if (e.length > 4) throw new TlsshError('TLSSH_ERR_TLS_KEY', 'RSA public exponent too large for the TPM');
    type = 'rsa';
    pub = marshalPublic({ type, bits, attributes: keyAttributes(type, true, password), modulus: n, exponent: e.readUIntBE(0, e.length) });
    secret = fixedLength(Buffer.from(jwk.p ?? '', 'base64url'), bits / 16, 'an RSA prime');
  } else {
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `cannot wrap a ${String(jwk.kty)} key; only EC and RSA keys fit in a TPM`);
  }
  const auth = passwordBytes(opts.keyPassword, MAX_KEY_PASSWORD, 'the key password');
  const parentAuth = passwordBytes(opts.parentPassword, MAX_PARENT_PASSWORD, 'TpmSrkPassword');
  const sensitive = marshalSensitive({ type, auth, seed: crypto.randomBytes(32), secret });
  secret.fill(0);
  auth.fill(0);
  try {
    const priv = await binding().importKey({ tcti, parent, parentAuth, pub, sensitive });
    return encodeTss2PrivateKey({ emptyAuth: !password, parent, pub, priv });
  } catch (e) {
    throw tpmError(e, { tcti, parentPasswordGiven: !!opts.parentPassword });
  } finally {
    sensitive.fill(0);
    parentAuth.fill(0);
  }
}

/**
 * The failure behind the last failed TPM signature inside a TLS handshake, as a TlsshError, so
 * the TLS layer can report it instead of OpenSSL's error queue. Taking it clears it.
 */
export function takeTpmEngineError(): TlsshError | undefined {
  const b = loadedBinding();
  const f = b?.takeEngineFailure();
  if (!f) return undefined;
  return tpmError(f, configured.get(f.keyId ?? '')?.ctx ?? { keyFile: f.keyId });
}

function loadedBinding(): TpmBinding | undefined {
  return loadedTpmBinding();
}

/** flushAll on the thread pool; resolves once the TPM is let go (never rejects). */
export async function flushAllAsync(): Promise<void> {
  const b = loadedBinding();
  if (!b) return;
  try {
    await (typeof b.flushAllAsync === 'function' ? b.flushAllAsync() : Promise.resolve(b.flushAll()));
  } catch {
    // Flushing is best effort: the objects go with the connection or at the TPM's next reset.
  }
}

/** Flushes every loaded key and closes every TPM connection (they reopen when next needed). */
export function flushAll(): void {
  loadedBinding()?.flushAll();
}
