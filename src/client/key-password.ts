// Before connecting: if the private key needs a password that the configuration does not give,
// ask for it on the terminal, as ssh does for an encrypted key. The TLS handshake itself cannot
// stop to ask (key loading is synchronous inside tls.connect), so the answer is put into the
// config the transport reads.

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isEncryptedPem } from '../config/encrypted-pem';
import type { ClientConfig } from '../config/types';
import { TlsshError, isTlsshError } from '../errors';
import { writeStderrLine } from './stderr-log';

/** TPMA_OBJECT noDA (TPM 2.0 part 2, 8.3). */
const NO_DA = 0x00000400;

/** Whether a TPM key file's key is noDA: a wrong password costs no dictionary-attack strike. */
export function isNoDaTpmKey(file: string, readKey: (file: string) => Buffer = readFileSync): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseTss2PrivateKey } = require('../tpm/key-file') as typeof import('../tpm/key-file');
    return (parseTss2PrivateKey(readKey(file), file).public.attributes & NO_DA) !== 0;
  } catch {
    return false;
  }
}

/** BatchMode's refusal to ask: passed on as it is, since it already says what to do. */
export class BatchModeRefusal extends TlsshError {
  constructor(question: string) {
    super('TLSSH_ERR_TTY', `BatchMode is on, so tlssh does not ask for the ${question.replace(/^Enter /, '').replace(/: $/, '')}; set PrivkeyPassword in a config file of mode 0600`);
  }
}

export type PasswordPrompt = (prompt: string) => Promise<string>;

/** Which password, if any, the key in `cfg` still needs; undefined when none. */
export function missingKeyPassword(cfg: ClientConfig, readKey: (file: string) => Buffer = readFileSync): string | undefined {
  if (cfg.PrivkeyPassword !== undefined) return undefined;
  let key: Buffer;
  try {
    key = readKey(cfg.KeyFile);
  } catch {
    // Unreadable: the transport reports that with the right code and wording.
    return undefined;
  }
  if (cfg.PrivkeyEngine === 'tpm') {
    // A TPM key with a password keeps dictionary-attack protection, so guessing "no password"
    // first would cost a lockout strike: ask whenever the file does not say emptyAuth. Keys whose
    // writer got that flag wrong work with an empty PrivkeyPassword in the config.
    if (!key.includes('BEGIN TSS2 PRIVATE KEY')) return undefined;
    // Loaded only for TPM keys, to keep the start-up of plain-key logins short.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { parseTss2PrivateKey } = require('../tpm/key-file') as typeof import('../tpm/key-file');
    let emptyAuth: boolean;
    try {
      const parsed = parseTss2PrivateKey(key, cfg.KeyFile);
      // tpm2_encodeobject writes emptyAuth FALSE even for keys without a password. For a noDA
      // key a wrong guess costs no lockout strike, so the empty password is tried first and the
      // terminal asked only if the TPM refuses it.
      emptyAuth = parsed.emptyAuth || (parsed.public.attributes & NO_DA) !== 0;
    } catch {
      return undefined;
    }
    return emptyAuth ? undefined : `Enter password for TPM key ${cfg.KeyFile}: `;
  }
  if (isEncryptedPem(key)) {
    return `Enter passphrase for key ${cfg.KeyFile}: `;
  }
  return undefined;
}

/** `cfg`, with PrivkeyPassword filled in from the terminal when the key needs one. */
export async function withKeyPassword(cfg: ClientConfig, prompt: PasswordPrompt): Promise<ClientConfig> {
  const question = missingKeyPassword(cfg);
  if (question === undefined) return cfg;
  if (cfg.PrivkeyEngine === 'tpm') {
    // No TPM at all is known without the password: say so before asking for one.
    const [{ configuredTcti }, { resolveTcti }] = await Promise.all([import('../transport/tpm-key'), import('../tpm/tcti')]);
    resolveTcti(configuredTcti(cfg));
  }
  let password: string;
  try {
    password = await prompt(question);
  } catch (err) {
    // No terminal (cron, a pipeline under setsid): say how to give the password instead.
    if (cfg.PrivkeyEngine === 'tpm' && isTlsshError(err) && err.code === 'TLSSH_ERR_TTY' && !(err instanceof BatchModeRefusal)) {
      throw new TlsshError(
        'TLSSH_ERR_TTY',
        `TPM key ${cfg.KeyFile} needs a password and there is no terminal to ask it on: set PrivkeyPassword in a config file of mode 0600`,
        { cause: err },
      );
    }
    throw err;
  }
  if (cfg.PrivkeyEngine !== 'tpm') {
    // A PEM key can be tried here, before any connection: ask again as ssh does.
    for (let typed = 1; !passphraseOpens(cfg.KeyFile, password); typed++) {
      if (typed >= cfg.NumberOfPasswordPrompts) {
        throw new TlsshError('TLSSH_ERR_TLS_KEY', `wrong passphrase for key ${cfg.KeyFile}, ${typed} ${typed === 1 ? 'time' : 'times'}; giving up`);
      }
      const left = cfg.NumberOfPasswordPrompts - typed;
      writeStderrLine(`Wrong passphrase for key ${cfg.KeyFile}; ${left} ${left === 1 ? 'try' : 'tries'} left.`);
      password = await prompt(question);
    }
  }
  return Object.freeze({ ...cfg, PrivkeyPassword: password });
}

/** Whether `passphrase` decrypts the PEM key in `file`; true when the file cannot be read (reported later). */
function passphraseOpens(file: string, passphrase: string): boolean {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch {
    return true;
  }
  try {
    createPrivateKey({ key: pem, passphrase });
    return true;
  } catch {
    return false;
  }
}

/**
 * `cfg` with TpmSrkPassword from the terminal, after the TPM refused to load the key under its
 * parent without one. Only loading has failed, and loading checks the parent's auth alone, so
 * the question is about the parent, never the key.
 */
export async function withParentPassword(cfg: ClientConfig, prompt: PasswordPrompt, refusal: TlsshError): Promise<ClientConfig> {
  let password: string;
  try {
    password = await prompt(`Enter password for the TPM parent key of ${cfg.KeyFile} (TpmSrkPassword): `);
  } catch (err) {
    if (isTlsshError(err) && err.code === 'TLSSH_ERR_TTY') throw refusal;
    throw err;
  }
  return Object.freeze({ ...cfg, TpmSrkPassword: password });
}
