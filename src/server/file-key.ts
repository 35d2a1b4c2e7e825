// A server key from a PEM file stays in the listener, as a TPM key stays in the TPM: the
// listener's key agent (src/tpm/key-agent.ts) makes the signatures, and no worker, which parses
// network bytes and then runs as the session's user, ever holds the key or PrivkeyPassword. A
// worker that user took over (an exploit, a debugger) could otherwise copy the key and
// impersonate the server to everyone; sshd keeps host keys out of its unprivileged child too.
//
// The key is read again when the file changes on disk, checked at every signature (one stat), so
// a renewed key and certificate take effect at the next login without a reload, as they did when
// each worker read them.

import * as crypto from 'node:crypto';
import type { ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import { AGENT_OP } from '../tpm/agent-protocol';
import { readConfiguredFile } from '../transport/pem-files';
import { fileStamp } from './file-stamp';

export type FileKeyConfig = Pick<ServerConfig, 'KeyFile' | 'PrivkeyPassword'>;

/** A key opened from its file: PKCS#8 DER, and the file's stat when it was read. */
export interface OpenedFileKey {
  readonly file: string;
  readonly der: Buffer;
  readonly stamp: string;
}

/** The raw private operations, in Node's OpenSSL (the TPM addon's softwarePrivateOp). */
export type PrivateOp = (op: number, pkcs8: Buffer, input: Buffer) => Buffer;

/** Reads and opens KeyFile (with PrivkeyPassword when set); throws TLSSH_ERR_TLS_KEY saying why. */
export function openFileKey(cfg: FileKeyConfig): OpenedFileKey {
  // Before reading: a file replaced meanwhile then looks changed at the next signature.
  const stamp = fileStamp(cfg.KeyFile);
  const pem = readConfiguredFile(cfg.KeyFile, 'KeyFile', 'TLSSH_ERR_TLS_KEY');
  try {
    const key = crypto.createPrivateKey({ key: pem, format: 'pem', ...(cfg.PrivkeyPassword !== undefined ? { passphrase: cfg.PrivkeyPassword } : {}) });
    return { file: cfg.KeyFile, der: key.export({ type: 'pkcs8', format: 'der' }), stamp };
  } catch (e) {
    const reason = (e as { reason?: string }).reason ?? (e as Error).message;
    const how = cfg.PrivkeyPassword !== undefined ? 'cannot open with PrivkeyPassword' : 'cannot read the private key';
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `KeyFile ${cfg.KeyFile}: ${how}: ${reason}`, { cause: e });
  } finally {
    pem.fill(0);
  }
}

/**
 * The listener's file key at start: opened, and checked to sign with the addon's operations so
 * that a key they cannot use stops the start instead of failing every login.
 */
export async function startFileKey(cfg: FileKeyConfig, log: (line: string) => void): Promise<FileKeySigner> {
  const { loadTpmBinding } = await import('../tpm/binding');
  const b = loadTpmBinding();
  const op = b.softwarePrivateOp?.bind(b);
  if (!op) throw new TlsshError('TLSSH_ERR_TLS_KEY', 'the native addon has no software key operations: rebuild tlssh (npm run build)');
  const signer = new FileKeySigner(cfg, op, log);
  selfCheck(signer, cfg.KeyFile);
  return signer;
}

/**
 * Why the key agent cannot sign with `key`, or undefined when it can: it has the operations a
 * TPM has, ECDSA on P-256, P-384 or P-521, and RSA.
 */
export function agentKeyProblem(key: crypto.KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === 'rsa' || (type === 'ec' && (curve === 'prime256v1' || curve === 'secp384r1' || curve === 'secp521r1'))) return undefined;
  const what = curve ? `${type ?? '?'} (${curve})` : (type ?? 'unknown');
  return `is an ${what} key: the server key must be ECDSA (P-256, P-384, P-521) or RSA, which the listener's key agent signs with`;
}

/** One operation with the key, verified with its public half. */
function selfCheck(signer: FileKeySigner, file: string): void {
  const pub = crypto.createPublicKey(crypto.createPrivateKey({ key: signer.currentDer(), format: 'der', type: 'pkcs8' }));
  const fail = (why: string): never => {
    throw new TlsshError('TLSSH_ERR_TLS_KEY', `KeyFile ${file}: ${why}`);
  };
  const problem = agentKeyProblem(pub);
  if (problem !== undefined) fail(problem);
  if (pub.asymmetricKeyType === 'ec') {
    const message = crypto.randomBytes(32);
    const sig = signer.privateOp(AGENT_OP.ecdsaSign, crypto.createHash('sha256').update(message).digest());
    if (!crypto.verify('sha256', message, pub, sig)) fail('the key agent\'s signature does not verify');
  } else {
    const bytes = Math.ceil((pub.asymmetricKeyDetails?.modulusLength ?? 2048) / 8);
    // A block below the modulus: the raw operation, undone with the public exponent, gives it back.
    const block = Buffer.concat([Buffer.from([0]), crypto.randomBytes(bytes - 1)]);
    const out = signer.privateOp(AGENT_OP.rsaPrivate, block);
    if (!crypto.publicEncrypt({ key: pub, padding: crypto.constants.RSA_NO_PADDING }, out).equals(block)) fail('the key agent\'s RSA operation does not verify');
  }
}

export class FileKeySigner {
  private current: OpenedFileKey;
  private password: string | undefined;

  constructor(cfg: FileKeyConfig, private readonly op: PrivateOp, private readonly log: (line: string) => void) {
    this.current = openFileKey(cfg);
    this.password = cfg.PrivkeyPassword;
  }

  /** The identifier workers name the key by (their privateKeyIdentifier): its file. */
  get id(): string {
    return this.current.file;
  }

  /** A reload's key, opened beforehand with openFileKey so that a bad one refuses the reload. */
  install(cfg: FileKeyConfig, opened: OpenedFileKey): void {
    this.current.der.fill(0);
    this.current = opened;
    this.password = cfg.PrivkeyPassword;
  }

  /** For the start-up check only. */
  currentDer(): Buffer {
    return this.current.der;
  }

  privateOp(op: number, input: Buffer): Buffer {
    this.refresh();
    return this.op(op, this.current.der, input);
  }

  private refresh(): void {
    const file = this.current.file;
    const stamp = fileStamp(file);
    if (stamp === this.current.stamp) return;
    try {
      this.install({ KeyFile: file, PrivkeyPassword: this.password }, openFileKey({ KeyFile: file, PrivkeyPassword: this.password }));
      this.log(`KeyFile ${file} changed on disk: signing with the key it now holds`);
    } catch (e) {
      // Asked once per change, not at every login: the failure is remembered with the stamp.
      this.current = { ...this.current, stamp };
      this.log(`KeyFile ${file} changed on disk but cannot be used (${e instanceof Error ? e.message : String(e)}): still signing with the key read before`);
    }
  }
}
