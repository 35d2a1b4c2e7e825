// The one place that loads the PAM addon (native/pam.cc, build/Release/tlssh_pam.node). It is a
// separate addon from the TPM one so that a host without libpam still runs tlsshd (UsePAM then
// defaults to off) and a host without a TPM stack still gets PAM.
import { addonCandidates, loadFirstAddon } from '../native-addon';

/** An opaque pam_handle_t and its conversation's collected texts. */
export type NativePamHandle = { readonly __pamHandle: unique symbol };

export interface NativePamMessage {
  /** PAM_ERROR_MSG rather than PAM_TEXT_INFO. */
  error: boolean;
  text: string;
}

export interface PamConstants {
  SUCCESS: number;
  NEW_AUTHTOK_REQD: number;
  ACCT_EXPIRED: number;
  PERM_DENIED: number;
  USER_UNKNOWN: number;
  AUTH_ERR: number;
  CONV_ERR: number;
  SYSTEM_ERR: number;
  ESTABLISH_CRED: number;
  DELETE_CRED: number;
  SILENT: number;
}

/** Every call returns a PAM return code; nothing throws across the boundary. */
export interface PamBinding {
  readonly constants: PamConstants;
  /** pam_start, then PAM_RHOST and PAM_TTY when not empty. */
  start(service: string, user: string, rhost: string, tty: string): { rc: number; handle?: NativePamHandle };
  setItem(h: NativePamHandle, item: 'rhost' | 'tty' | 'ruser', value: string): number;
  acctMgmt(h: NativePamHandle, flags: number): number;
  setcred(h: NativePamHandle, flags: number): number;
  openSession(h: NativePamHandle, flags: number): number;
  closeSession(h: NativePamHandle, flags: number): number;
  /** "NAME=value" strings, or null when PAM has none to give. */
  getenvlist(h: NativePamHandle): string[] | null;
  /** Texts the modules showed since the last call. */
  takeMessages(h: NativePamHandle): NativePamMessage[];
  strerror(h: NativePamHandle | null, rc: number): string;
  /** pam_end; `dataSilent` adds PAM_DATA_SILENT (modules keep what they set up). */
  end(h: NativePamHandle, status: number, dataSilent: boolean): number;
}

const ADDON = 'tlssh_pam.node';

let cached: PamBinding | undefined;
let failure: string | undefined;

/** The addon, or the reason it cannot be loaded (naming every path tried). */
export function loadPamBinding(): { binding: PamBinding } | { error: string } {
  if (cached) return { binding: cached };
  if (failure !== undefined) return { error: failure };
  // An override is the only place looked at: that is how a test sees a host without the addon.
  const found = loadFirstAddon<PamBinding>(addonCandidates(ADDON, __dirname, process.env['TLSSH_PAM_ADDON'], true), (b) => {
    if (typeof b.start !== 'function' || typeof b.constants !== 'object') throw new Error('not the tlssh PAM addon');
  });
  if ('binding' in found) {
    cached = found.binding;
    return { binding: found.binding };
  }
  const tried = found.tried;
  failure = `the PAM addon could not be loaded; tried: ${tried.join('; ')}. Build it with "npm run build" (needs libpam0g-dev)`;
  return { error: failure };
}
