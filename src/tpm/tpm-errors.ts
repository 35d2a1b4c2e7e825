// TSS2 response codes -> TlsshError codes with advice. The addon reports what failed (op), the
// raw TSS2_RC and an errno; this decides what it means for the user.
import { TlsshError, isErrorCode, type ErrorCode } from '../errors';
import type { NativeTpmError } from './binding';

const LAYER_MASK = 0xff0000;
const TPM_LAYER = 0x000000;
const RESMGR_TPM_LAYER = 0x0c0000;
const TCTI_LAYER = 0x0a0000;

const RC = {
  INITIALIZE: 0x100,
  ATTRIBUTES: 0x082,
  HASH: 0x083,
  VALUE: 0x084,
  HIERARCHY: 0x085,
  KEY_SIZE: 0x087,
  TYPE: 0x08a,
  HANDLE: 0x08b,
  AUTH_FAIL: 0x08e,
  SCHEME: 0x092,
  SIZE: 0x095,
  SYMMETRIC: 0x096,
  KEY: 0x09c,
  INTEGRITY: 0x09f,
  BAD_AUTH: 0x0a2,
  AUTH_UNAVAILABLE: 0x12f,
  LOCKOUT: 0x921,
} as const;

/** The TPM's own code with the layer and the parameter/handle/session number stripped. */
export function tpmResponseCode(rc: number): number | undefined {
  const layer = rc & LAYER_MASK;
  if (layer !== TPM_LAYER && layer !== RESMGR_TPM_LAYER) return undefined;
  const code = rc & 0xffff;
  return code & 0x80 ? 0x80 | (code & 0x3f) : code;
}

export interface TpmErrorContext {
  /** The key file, when one is involved. */
  keyFile?: string;
  tcti?: string;
  keyPasswordGiven?: boolean;
  parentPasswordGiven?: boolean;
}

function isNativeError(e: unknown): e is NativeTpmError {
  return e instanceof Error && typeof (e as Partial<NativeTpmError>).op === 'string' && typeof (e as Partial<NativeTpmError>).rc === 'number';
}

const EACCES = 13;
const ENOENT = 2;

function advice(code: ErrorCode, e: NativeTpmError, ctx: TpmErrorContext): string {
  const where = ctx.tcti ? ` (TCTI ${ctx.tcti})` : '';
  const parentStep = /CreatePrimary|parent|Import|Create under/.test(e.op);
  switch (code) {
    case 'TLSSH_ERR_TPM_PERMISSION':
      return `permission denied${where}: add the user to group tss (or use a TpmTcti this user can open)`;
    case 'TLSSH_ERR_TPM_UNAVAILABLE':
      return `cannot reach the TPM${where}: check that it exists and is running, or set TpmTcti (e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321)`;
    case 'TLSSH_ERR_TPM_AUTH': {
      if (parentStep) {
        return ctx.parentPasswordGiven
          ? 'wrong parent (TpmSrkPassword) password; repeated failures can lock the TPM (dictionary-attack protection)'
          : 'the parent key or owner hierarchy needs a password: set TpmSrkPassword';
      }
      return ctx.keyPasswordGiven
        ? 'wrong key password (PrivkeyPassword); repeated failures can lock the TPM (dictionary-attack protection)'
        : 'the key needs a password (PrivkeyPassword); repeated failures can lock the TPM (dictionary-attack protection)';
    }
    case 'TLSSH_ERR_TPM_LOCKOUT':
      return 'the TPM is in dictionary-attack lockout after too many wrong passwords: wait for the lockout to expire or reset it with the lockout password (tpm2_dictionarylockout --clear-lockout)';
    case 'TLSSH_ERR_TPM_WRONG_TPM':
      return 'the key does not belong to this TPM (or its parent key is missing here): use the TPM the key was made on, or make a new key';
    case 'TLSSH_ERR_TPM_KEY_ATTRIBUTES':
      return 'the key\'s attributes do not allow this use: make it with tlssh-keygen (RSA keys need decrypt and the null scheme)';
    case 'TLSSH_ERR_TPM_KEY_FILE':
      return 'the key file is damaged or not a TPM key: make a new one with tlssh-keygen';
    case 'TLSSH_ERR_TPM_AGENT':
      return 'is tlsshd\'s key agent running?';
    default:
      return 'see the TPM error above';
  }
}

function classify(e: NativeTpmError): ErrorCode {
  if (e.tlsshCode !== undefined && isErrorCode(e.tlsshCode)) return e.tlsshCode;
  if (e.errno === EACCES) return 'TLSSH_ERR_TPM_PERMISSION';
  if (e.errno === ENOENT) return 'TLSSH_ERR_TPM_UNAVAILABLE';
  if ((e.rc & LAYER_MASK) === TCTI_LAYER || e.op.startsWith('connecting to the TPM')) return 'TLSSH_ERR_TPM_UNAVAILABLE';
  const rc = tpmResponseCode(e.rc);
  if (rc === undefined || e.rc === 0) return 'TLSSH_ERR_TPM';
  switch (rc) {
    case RC.AUTH_FAIL:
    case RC.BAD_AUTH:
      return 'TLSSH_ERR_TPM_AUTH';
    case RC.LOCKOUT:
      return 'TLSSH_ERR_TPM_LOCKOUT';
    case RC.INTEGRITY:
      return 'TLSSH_ERR_TPM_WRONG_TPM';
    case RC.HANDLE:
    case RC.HIERARCHY:
      return e.op.includes('parent') || e.op.startsWith('TPM2_Load') ? 'TLSSH_ERR_TPM_WRONG_TPM' : 'TLSSH_ERR_TPM';
    case RC.SIZE:
    case RC.KEY_SIZE:
    case RC.KEY:
    case RC.VALUE:
      // Load checks the blob against the parent: a blob from another TPM (or a corrupted one)
      // fails here before any integrity check can.
      return e.op.startsWith('TPM2_Load') ? 'TLSSH_ERR_TPM_WRONG_TPM' : 'TLSSH_ERR_TPM';
    case RC.ATTRIBUTES:
    case RC.SCHEME:
    case RC.TYPE:
    case RC.HASH:
      return e.op.startsWith('TPM2_Sign') || e.op.startsWith('TPM2_RSA_Decrypt') ? 'TLSSH_ERR_TPM_KEY_ATTRIBUTES' : 'TLSSH_ERR_TPM';
    default:
      return 'TLSSH_ERR_TPM';
  }
}

/** Turns anything the addon threw into a TlsshError; other TlsshErrors pass through. */
export function tpmError(e: unknown, ctx: TpmErrorContext = {}): TlsshError {
  if (e instanceof TlsshError) return e;
  if (!isNativeError(e)) {
    return new TlsshError('TLSSH_ERR_TPM', `TPM operation failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const code = classify(e);
  // A message relayed by the key agent already carries its own advice.
  if (e.tlsshCode !== undefined && e.op.startsWith('asking the TPM key agent') && code !== 'TLSSH_ERR_TPM_AGENT') {
    return new TlsshError(code, `${e.detail} (reported by the key agent)`, { cause: e });
  }
  return new TlsshError(code, `${e.op}: ${e.detail}; ${advice(code, e, ctx)}`, { cause: e });
}
