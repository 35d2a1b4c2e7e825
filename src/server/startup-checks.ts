// What tlsshd checks before it says "listening" (and all that `tlsshd -t` checks): every file a
// login needs, read and parsed as the workers will, so that a broken set-up stops the start with
// one line naming the file, instead of a daemon that runs and refuses every login.
//
// Failures throw a TlsshError whose message is "FILE: problem (Keyword)"; problems that leave
// some logins working are returned as warnings in the same form.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { isEncryptedPem } from '../config/encrypted-pem';
import { untrustedServerFile } from './trusted-files';
import type { ServerConfig } from '../config/types';
import { TlsshError, describeError, isErrorCode, isTlsshError, type ErrorCode } from '../errors';
import { emptyDefaultTrust } from '../transport/default-trust';
import { certificateSubjectDer, crlSignedBy, parseCrl, type CrlInfo } from '../transport/crl-info';
import { pemBlocks } from '../transport/pem-files';
import { EKU_SERVER_AUTH } from '../transport/peer-identity';
import { agentKeyProblem } from './file-key';

type Keyword = 'CertFile' | 'KeyFile' | 'ClientCAFile' | 'ClientCAPath' | 'ClientCRL';

function problem(code: ErrorCode, file: string, keyword: Keyword, what: string, cause?: unknown): TlsshError {
  return new TlsshError(code, `${file}: ${what} (${keyword})`, cause === undefined ? {} : { cause });
}

function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ENOTDIR') return 'not a directory';
  return code ?? describeError(e);
}

function readFile(file: string, keyword: Keyword, code: ErrorCode): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw problem(code, file, keyword, fsReason(e), e);
  }
}

function utc(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function spki(key: crypto.KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** The certificates in a PEM file, parsed; a file without one, or with a broken one, fails. */
function certificates(file: string, keyword: Keyword, code: ErrorCode, text: string): crypto.X509Certificate[] {
  const blocks = pemBlocks(text, 'CERTIFICATE');
  if (blocks.length === 0) throw problem(code, file, keyword, 'no PEM certificate in the file');
  return blocks.map((pem, i) => {
    try {
      return new crypto.X509Certificate(pem);
    } catch (e) {
      throw problem(code, file, keyword, `certificate ${i + 1} cannot be parsed: ${describeError(e)}`, e);
    }
  });
}

export interface ServerFiles {
  /** The server's own certificate (the first of CertFile). */
  cert: crypto.X509Certificate;
  warnings: string[];
}

/**
 * CertFile, KeyFile (a PEM key: it decrypts and matches the certificate; a TPM key file: its public
 * key matches the certificate), ClientCAFile/ClientCAPath and ClientCRL. Needs no TPM and binds
 * nothing; the TPM key's signature is checkTpmSignature's.
 */
export function checkServerFiles(cfg: ServerConfig, now: Date = new Date()): ServerFiles {
  const warnings: string[] = [];
  // Whoever may write these decides who logs in (a CA, a CRL) or may impersonate the server.
  const untrusted = untrustedServerFile(cfg);
  if (untrusted !== undefined) throw problem('TLSSH_ERR_CONFIG_INSECURE_MODE', untrusted.file, untrusted.keyword, untrusted.why);

  const certPem = readFile(cfg.CertFile, 'CertFile', 'TLSSH_ERR_TLS_CERT_FILE');
  const chain = certificates(cfg.CertFile, 'CertFile', 'TLSSH_ERR_TLS_CERT_FILE', certPem.toString('latin1'));
  const cert = chain[0] as crypto.X509Certificate;
  // Every client refuses a certificate outside its dates or not meant for a server.
  if (new Date(cert.validTo) < now) {
    throw problem('TLSSH_ERR_TLS_CERT_FILE', cfg.CertFile, 'CertFile', `certificate expired on ${utc(new Date(cert.validTo))}`);
  }
  if (new Date(cert.validFrom) > now) {
    throw problem('TLSSH_ERR_TLS_CERT_FILE', cfg.CertFile, 'CertFile', `certificate is not valid before ${utc(new Date(cert.validFrom))} (is the clock right?)`);
  }
  const eku = cert.keyUsage as string[] | undefined;
  if (eku && eku.length > 0 && !eku.includes(EKU_SERVER_AUTH)) {
    throw problem('TLSSH_ERR_TLS_CERT_FILE', cfg.CertFile, 'CertFile', 'certificate is not for server authentication (extendedKeyUsage)');
  }

  const keyText = readFile(cfg.KeyFile, 'KeyFile', cfg.PrivkeyEngine === 'tpm' ? 'TLSSH_ERR_TPM_KEY_FILE' : 'TLSSH_ERR_TLS_KEY');
  if (cfg.PrivkeyEngine === 'tpm') checkTpmKeyFile(cfg, keyText, cert);
  else checkPemKey(cfg, keyText, cert);

  const cas = checkClientCas(cfg, now, warnings);
  if (cfg.ClientCRL) checkClientCrl(cfg, cas, now, warnings);

  if (cfg.PrivkeyEngine !== 'tpm') {
    // Last, OpenSSL itself: whatever it would refuse in a worker's handshake, it refuses here.
    emptyDefaultTrust();
    try {
      tls.createSecureContext({
        cert: certPem, key: keyText, ...(cfg.PrivkeyPassword !== undefined ? { passphrase: cfg.PrivkeyPassword } : {}),
        ca: cas.map((c) => c.toString()), minVersion: 'TLSv1.3',
      });
    } catch (e) {
      throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', `OpenSSL refuses it with ${cfg.CertFile}: ${describeError(e)}`, e);
    }
  }
  return { cert, warnings };
}

/** Why a PEM key did not open, in words an administrator can act on. */
export function pemKeyOpenFailure(keyText: Buffer, passwordGiven: boolean, e: unknown): string {
  // Node 20 reports a missing password as "interrupted or cancelled", not ERR_MISSING_PASSPHRASE.
  if ((e as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE' || (!passwordGiven && isEncryptedPem(keyText))) {
    return 'the key is encrypted and tlsshd never prompts: set PrivkeyPassword in a config file of mode 0600';
  }
  // A wrong password usually fails the padding check ("bad decrypt"), but about once in 256 the
  // garbage it decrypts to passes it and the DER decoder refuses it instead ("unsupported"). An
  // encrypted key that does not open with the password given is the password's fault either way.
  if (passwordGiven && (isEncryptedPem(keyText) || /decrypt|bad|password/i.test(describeError(e)))) {
    return 'cannot decrypt the key with PrivkeyPassword';
  }
  return `not a PEM private key: ${describeError(e)}`;
}

function checkPemKey(cfg: ServerConfig, keyText: Buffer, cert: crypto.X509Certificate): void {
  if (keyText.includes('BEGIN TSS2 PRIVATE KEY')) {
    throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', 'is a TPM key: set PrivkeyEngine tpm');
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: keyText, ...(cfg.PrivkeyPassword !== undefined ? { passphrase: cfg.PrivkeyPassword } : {}) });
  } catch (e) {
    throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', pemKeyOpenFailure(keyText, cfg.PrivkeyPassword !== undefined, e), e);
  }
  if (!spki(crypto.createPublicKey(key)).equals(spki(cert.publicKey))) {
    throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', `does not match the certificate in ${cfg.CertFile}`);
  }
  // The listener's key agent signs for the workers (file-key.ts), with the operations the TPM has.
  const unsignable = agentKeyProblem(key);
  if (unsignable !== undefined) throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', unsignable);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(cfg.KeyFile);
  } catch {
    // It was just read; a vanished file is the next reader's problem.
  }
  // As sshd refuses such a host key (and tlssh such a user key): whoever read it is the server.
  // Only our own file, as sshd judges it: a root key that a non-root daemon reads through its
  // group (ssl-cert's 0640) is someone else's decision.
  if (st !== undefined && (st.mode & 0o077) !== 0 && st.uid === process.geteuid?.()) {
    throw problem('TLSSH_ERR_CONFIG_INSECURE_MODE', cfg.KeyFile, 'KeyFile', `private key is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod 600 ${cfg.KeyFile}`);
  }
}

/** TPMA_OBJECT noDA (TPM 2.0 part 2, 8.3). */
const TPMA_OBJECT_NO_DA = 0x00000400;

function checkTpmKeyFile(cfg: ServerConfig, keyText: Buffer, cert: crypto.X509Certificate): void {
  // The facade, not the addon: parsing a key file needs no TPM.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tpm = require('../tpm') as typeof import('../tpm');
  let pub: crypto.KeyObject;
  let emptyAuth: boolean;
  try {
    const parsed = tpm.parseTss2PrivateKey(keyText, cfg.KeyFile);
    // tpm2_encodeobject writes emptyAuth FALSE even for keys without a password: a noDA key is
    // tried with the empty password, which costs no dictionary-attack strike.
    emptyAuth = parsed.emptyAuth || (parsed.public.attributes & TPMA_OBJECT_NO_DA) !== 0;
    pub = tpm.tpmPublicKey(keyText, cfg.KeyFile);
  } catch (e) {
    throw problem('TLSSH_ERR_TPM_KEY_FILE', cfg.KeyFile, 'KeyFile', `not a TPM key file: ${describeError(e)}`, e);
  }
  if (!spki(pub).equals(spki(cert.publicKey))) {
    throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', `holds a different key than the certificate in ${cfg.CertFile}`);
  }
  if (cfg.PrivkeyPassword === undefined && !emptyAuth) {
    // Trying "no password" on a DA-protected key would cost a dictionary-attack strike on every start.
    throw problem('TLSSH_ERR_TPM_AUTH', cfg.KeyFile, 'KeyFile', 'the TPM key needs a password and tlsshd never prompts: set PrivkeyPassword in a config file of mode 0600 (an empty value if the key has none)');
  }
}

function checkClientCas(cfg: ServerConfig, now: Date, warnings: string[]): crypto.X509Certificate[] {
  // Each CA once, with the first file that holds it: c_rehash's links (abcd1234.0) and a CA both
  // in ClientCAFile and in ClientCAPath are one CA, and a warning about it is one line.
  const found = new Map<string, { ca: crypto.X509Certificate; file: string; keyword: Keyword }>();
  const add = (file: string, keyword: Keyword, text: string): void => {
    for (const ca of certificates(file, keyword, 'TLSSH_ERR_TLS_CA', text)) {
      if (!found.has(ca.fingerprint256)) found.set(ca.fingerprint256, { ca, file, keyword });
    }
  };
  if (cfg.ClientCAFile) add(cfg.ClientCAFile, 'ClientCAFile', readFile(cfg.ClientCAFile, 'ClientCAFile', 'TLSSH_ERR_TLS_CA').toString('latin1'));
  if (cfg.ClientCAPath) {
    let names: string[];
    try {
      names = fs.readdirSync(cfg.ClientCAPath).sort();
    } catch (e) {
      throw problem('TLSSH_ERR_TLS_CA', cfg.ClientCAPath, 'ClientCAPath', fsReason(e), e);
    }
    let inPath = 0;
    for (const name of names) {
      const full = `${cfg.ClientCAPath.replace(/\/+$/, '')}/${name}`;
      let text: string;
      try {
        if (!fs.statSync(full).isFile()) continue;
        text = fs.readFileSync(full, 'latin1');
      } catch {
        continue; // As the workers' loader does: an unreadable entry is skipped.
      }
      if (pemBlocks(text, 'CERTIFICATE').length > 0) {
        add(full, 'ClientCAPath', text);
        inPath++;
      }
    }
    if (inPath === 0 && !cfg.ClientCAFile) {
      throw problem('TLSSH_ERR_TLS_CA', cfg.ClientCAPath, 'ClientCAPath', 'no PEM certificate in the directory');
    }
  }
  for (const { ca, file, keyword } of found.values()) {
    if (new Date(ca.validTo) < now) {
      warnings.push(`${file}: CA "${ca.subject.replace(/\n/g, ', ')}" expired on ${utc(new Date(ca.validTo))}; no certificate it signed can log in (${keyword})`);
    }
  }
  return [...found.values()].map((f) => f.ca);
}

function checkClientCrl(cfg: ServerConfig, cas: readonly crypto.X509Certificate[], now: Date, warnings: string[]): void {
  const file = cfg.ClientCRL;
  const blocks = pemBlocks(readFile(file, 'ClientCRL', 'TLSSH_ERR_TLS_CRL').toString('latin1'), 'X509 CRL');
  if (blocks.length === 0) throw problem('TLSSH_ERR_TLS_CRL', file, 'ClientCRL', 'no PEM CRL in the file');
  blocks.forEach((pem, i) => {
    let crl: CrlInfo;
    try {
      crl = parseCrl(Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
    } catch (e) {
      throw problem('TLSSH_ERR_TLS_CRL', file, 'ClientCRL', `CRL ${i + 1} cannot be parsed: ${describeError(e)}`, e);
    }
    // OpenSSL refuses every client certificate while the CRL is outside its dates.
    if (crl.nextUpdate && crl.nextUpdate < now) {
      throw problem('TLSSH_ERR_TLS_CRL', file, 'ClientCRL', `CRL expired on ${utc(crl.nextUpdate)} (nextUpdate): every login would be refused`);
    }
    if (crl.thisUpdate > now) {
      throw problem('TLSSH_ERR_TLS_CRL', file, 'ClientCRL', `CRL is not valid before ${utc(crl.thisUpdate)} (thisUpdate; is the clock right?)`);
    }
    const issuer = cas.find((ca) => {
      try {
        return certificateSubjectDer(ca.raw).equals(crl.issuerDer);
      } catch {
        return false;
      }
    });
    if (!issuer) {
      // The issuer may be an intermediate the clients send themselves, so this is only a warning.
      warnings.push(`${file}: CRL ${i + 1} was not issued by a CA of ClientCAFile/ClientCAPath (ClientCRL)`);
      return;
    }
    if (crlSignedBy(crl, issuer.publicKey) === false) {
      throw problem('TLSSH_ERR_TLS_CRL', file, 'ClientCRL', `CRL ${i + 1} is not signed by its issuer's key: every login would be refused`);
    }
  });
}

/** Signs the digest with the configured TPM key (through the key agent, or in this process for -t). */
export type TpmSigner = (digest: Buffer, keyType: 'ec' | 'rsa') => Promise<Buffer>;

/**
 * The TPM key signs a test digest and the certificate's public key verifies it: the TPM is
 * reachable, the passwords are right, and the key in it is the certificate's.
 */
export async function checkTpmSignature(cfg: ServerConfig, cert: crypto.X509Certificate, sign: TpmSigner): Promise<void> {
  const message = crypto.randomBytes(32);
  const digest = crypto.createHash('sha256').update(message).digest();
  const keyType = cert.publicKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec';
  let signature: Buffer;
  try {
    signature = await sign(digest, keyType);
  } catch (e) {
    const code: ErrorCode = isTlsshError(e) ? e.code : 'TLSSH_ERR_TPM';
    throw problem(code, cfg.KeyFile, 'KeyFile', `the TPM cannot sign with this key: ${describeError(e)}`, e);
  }
  const ok = keyType === 'rsa'
    ? crypto.verify('sha256', message, { key: cert.publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)
    : crypto.verify('sha256', message, cert.publicKey, signature);
  if (!ok) {
    throw problem('TLSSH_ERR_TLS_KEY', cfg.KeyFile, 'KeyFile', `the TPM signed, but the certificate in ${cfg.CertFile} does not verify the signature: a different key`);
  }
}

/** `tlsshd -t`: the TPM key signs in this process, then the TPM is let go. */
export async function signInProcess(cfg: ServerConfig): Promise<TpmSigner> {
  const tpm = await import('../tpm');
  const { configuredTcti } = await import('../transport/tpm-key');
  return async (digest) => {
    try {
      tpm.configureTpmKey(cfg.KeyFile, { tcti: configuredTcti(cfg), parentPassword: cfg.TpmSrkPassword, keyPassword: cfg.PrivkeyPassword });
      // RSA: PSS with a 32-byte salt, as checkTpmSignature verifies.
      return await tpm.tpmSignDigest(cfg.KeyFile, digest);
    } finally {
      tpm.unconfigureTpmKey(cfg.KeyFile);
      tpm.flushAll();
    }
  };
}

/** The daemon: the key agent the listener started signs, over the same socket workers use. */
export function signThroughAgent(cfg: ServerConfig, socketPath: string): TpmSigner {
  return async (digest, keyType) => {
    const tpm = await import('../tpm');
    const { pssEncode } = await import('../tpm/rsa-padding');
    let input = digest;
    if (keyType === 'rsa') {
      const bits = tpm.tpmPublicKey(fs.readFileSync(cfg.KeyFile), cfg.KeyFile).asymmetricKeyDetails?.modulusLength ?? 2048;
      input = pssEncode(digest, 'sha256', bits);
    }
    const request = tpm.encodeRequest({ op: keyType === 'rsa' ? tpm.AGENT_OP.rsaPrivate : tpm.AGENT_OP.ecdsaSign, keyId: cfg.KeyFile, input });
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = net.connect(socketPath);
      sock.setTimeout(60_000, () => sock.destroy(new Error('the key agent did not answer within 60 s')));
      sock.on('data', (b: Buffer) => chunks.push(b));
      sock.on('error', reject);
      sock.on('end', () => resolve(Buffer.concat(chunks)));
      // Not end(): the agent's socket does not allow half-open, so our FIN would close it unanswered.
      sock.write(request);
    });
    const r = tpm.decodeResponse(reply);
    if (!r.ok) throw new TlsshError(isErrorCode(r.code) ? r.code : 'TLSSH_ERR_TPM_AGENT', r.message);
    return r.output;
  };
}
