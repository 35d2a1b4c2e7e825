// What each tlssh-keygen mode does, given a validated Plan.

import { type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { isatty } from 'node:tty';
import { dirname } from 'node:path';
import { certificateCandidates } from '../config/identity-file';
import { TlsshError } from '../errors';
import type { CreatePlan, CsrPlan, Plan } from './cli-options';
import { KEY_PASSWORD_ENV, SRK_PASSWORD_ENV } from './cli-options';
import { buildCsr, csrToPem, type CsrSigner } from './csr-builder';
import { formatSubject } from './distinguished-name';
import { fileKeySigner, generateFileKey, loadFilePrivateKey } from './file-key';
import { describeKey, spkiFingerprint } from './fingerprint';
import { certificateOf, plainPublicKey, readKeyFile, type KeyFileContents } from './key-files';
import { hasScriptedPassword, obtainNewPassword, obtainPassword, type PasswordSource } from './password-input';
import { formatSan } from './subject-alt-name';
import { inKeygenWords, releaseTpm, tctiFrom, tpmFacade, tpmSigner, type TpmAccess } from './tpm-bridge';
import { writeNewFile } from './write-key-file';

export const WRAP_PASSWORD_ENV = 'TLSSH_WRAP_PASSWORD';

export interface Output {
  out(line: string): void;
  info(line: string): void;
}

/** Passwords are read at most once per run: a descriptor can only be drained once. */
class Secrets {
  private keyPassword: string | undefined;
  private parentPassword: string | undefined;
  private parentRead = false;

  constructor(private readonly plan: Plan, readonly env: NodeJS.ProcessEnv) {}

  private keySource(): PasswordSource {
    return { envName: KEY_PASSWORD_ENV, fd: this.plan.passwordFd, label: 'Key password', fdOption: '--password-fd' };
  }

  /**
   * `inFile`: the key goes into a file in the clear unless it gets a password. As ssh-keygen
   * does, someone at a terminal is asked (an empty answer leaves it unencrypted); a script is
   * not. A TPM key cannot be copied off the machine, so it is not asked for unless wanted.
   */
  async newKeyPassword(choice: CreatePlan['password'], inFile: boolean): Promise<string> {
    const src = this.keySource();
    let pw = '';
    const scripted = hasScriptedPassword(src, this.env);
    if (choice === 'ask' || (choice === 'if-scripted' && !scripted && inFile && isatty(0) && isatty(2))) pw = await obtainNewPassword({ ...src, label: 'New key password' }, this.env);
    else if (choice === 'if-scripted' && scripted) pw = await obtainPassword(src, this.env);
    this.keyPassword = pw;
    return pw;
  }

  async existingKeyPassword(file: string): Promise<string> {
    if (this.keyPassword === undefined) this.keyPassword = await obtainPassword({ ...this.keySource(), label: `Password for ${file}` }, this.env);
    return this.keyPassword;
  }

  /** The parent's password when the user said there is one (or supplied one); otherwise empty. */
  async parentPasswordIfAny(): Promise<string | undefined> {
    if (this.parentRead) return this.parentPassword;
    this.parentRead = true;
    const src: PasswordSource = { envName: SRK_PASSWORD_ENV, fd: this.plan.tpm.srkPasswordFd, label: 'TPM parent (SRK) password', fdOption: '--srk-password-fd' };
    if (this.plan.tpm.srkPassword || hasScriptedPassword(src, this.env)) this.parentPassword = await obtainPassword(src, this.env);
    return this.parentPassword;
  }
}

function keyLine(publicKey: KeyObject, file: string, what: string): string {
  const d = describeKey(publicKey);
  return `${d.bits} ${spkiFingerprint(publicKey)} ${file} (${d.type}${what ? `, ${what}` : ''})`;
}

function tpmKeyNote(contents: KeyFileContents): string {
  const k = tpmFacade().parseTss2PrivateKey(contents.text, contents.file);
  const parent = `parent 0x${k.parent.toString(16).padStart(8, '0')}`;
  return `TPM key, ${parent}, ${k.emptyAuth ? 'no password' : 'password'}`;
}

function certificateSubject(cert: X509Certificate): string {
  return cert.subject
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `/${l}`)
    .join('');
}

async function printKey(file: string, publicOnly: boolean, secrets: Secrets, io: Output): Promise<void> {
  const contents = readKeyFile(file);
  let publicKey: KeyObject;
  let note: string;
  switch (contents.kind) {
    case 'tss2':
      publicKey = tpmFacade().tpmPublicKey(contents.text, file);
      note = tpmKeyNote(contents);
      break;
    case 'certificate': {
      publicKey = plainPublicKey(contents, undefined);
      // Serial and fingerprint as tlsshd's log and tlsshctl name a certificate, so that a log
      // line can be matched with the file.
      const cert = certificateOf(contents);
      note = `certificate for ${certificateSubject(cert)}, serial ${cert.serialNumber.toUpperCase()} fingerprint ${cert.fingerprint256}`;
      break;
    }
    case 'encrypted-private':
      publicKey = plainPublicKey(contents, await secrets.existingKeyPassword(file));
      note = 'encrypted key file';
      break;
    case 'private':
      publicKey = plainPublicKey(contents, undefined);
      note = 'key file';
      break;
    case 'public':
      publicKey = plainPublicKey(contents, undefined);
      note = 'public key';
      break;
    case 'request':
      publicKey = plainPublicKey(contents, undefined);
      note = 'certificate request';
      break;
  }
  // ssh-keygen's habits: -l is the one fingerprint line (scripts take field 2), -y the key.
  if (publicOnly) io.out((publicKey.export({ type: 'spki', format: 'pem' }) as string).trimEnd());
  else io.out(keyLine(publicKey, file, note));
}

/** ~/.tlssh/keys, made 0700 like ~/.ssh; an existing directory is left as it is. */
function makePrivateDirs(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_USAGE', `cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

function refuseExisting(file: string, force: boolean): void {
  if (!force && file !== '-' && existsSync(file)) throw new TlsshError('TLSSH_ERR_USAGE', `${file}: already exists (use --force to overwrite)`);
}

/** The unencrypted PKCS#8 PEM of the key to wrap; an encrypted file's password is asked for separately. */
async function keyToWrap(file: string, env: NodeJS.ProcessEnv): Promise<string> {
  const contents = readKeyFile(file);
  if (contents.kind === 'tss2') throw new TlsshError('TLSSH_ERR_USAGE', `${file}: already a TPM key`);
  if (contents.kind !== 'private' && contents.kind !== 'encrypted-private') throw new TlsshError('TLSSH_ERR_USAGE', `${file}: --wrap needs a PEM private key`);
  let password: string | undefined;
  if (contents.kind === 'encrypted-private') {
    password = await obtainPassword({ envName: WRAP_PASSWORD_ENV, label: `Password for ${file}`, fdOption: `(set ${WRAP_PASSWORD_ENV})` }, env);
  }
  const key = loadFilePrivateKey(contents.text, file, password);
  const type = key.asymmetricKeyType;
  if (type !== 'ec' && type !== 'rsa') throw new TlsshError('TLSSH_ERR_USAGE', `${file}: only EC and RSA keys can be wrapped, not ${type ?? 'unknown'}`);
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function tpmAccess(plan: Plan, secrets: Secrets, keyPassword: string | undefined): Promise<TpmAccess> {
  const parentPassword = await secrets.parentPasswordIfAny();
  return { tcti: tctiFrom(plan.tpm.tcti, secrets.env), parentPassword, keyPassword };
}

/**
 * For a bare `tlssh-keygen`: 'tpm' when a TPM can be reached (the configured or default TCTI
 * answers), else 'file' with the reason, so the user is told which kind of key was made.
 */
async function chooseWhere(plan: Plan, env: NodeJS.ProcessEnv): Promise<{ where: 'tpm' | 'file'; why: string }> {
  const tcti = tctiFrom(plan.tpm.tcti, env);
  try {
    const tpm = tpmFacade();
    const resolved = tpm.resolveTcti(tcti);
    tpm.loadTpmBinding();
    return { where: 'tpm', why: resolved };
  } catch (e) {
    const reason = e instanceof TlsshError ? e.message : String(e);
    return { where: 'file', why: reason };
  }
}

const UNUSABLE_TPM = new Set(['TLSSH_ERR_TPM_UNAVAILABLE', 'TLSSH_ERR_TPM_PERMISSION', 'TLSSH_ERR_TPM_NATIVE_MISSING']);

/** Makes the key; says where it went, the TPM or a file (`auto` decides here). */
async function createKey(plan: Plan, given: CreatePlan, secrets: Secrets, env: NodeJS.ProcessEnv, io: Output): Promise<'tpm' | 'file'> {
  let c = given;
  refuseExisting(c.out, c.force);
  if (plan.csr) refuseExisting(plan.csr.out, plan.csr.force);
  if (c.defaultOut) makePrivateDirs(dirname(c.out));
  if (c.where === 'auto') {
    const choice = await chooseWhere(plan, env);
    if (choice.where === 'tpm') {
      io.info(`Generating a key in the TPM (${choice.why}).`);
      try {
        return await createKey(plan, { ...c, where: 'tpm' }, secrets, env, io);
      } catch (e) {
        // A TPM device that is there but cannot be used (no permission, busy, gone): a file key,
        // as when there is none; anything else (a password problem) is the user's to hear.
        if (!(e instanceof TlsshError) || !UNUSABLE_TPM.has(e.code)) throw e;
        io.info(`The TPM cannot be used (${inKeygenWords(e.message)}); generating a key in a file.`);
      }
    } else {
      io.info(`No usable TPM (${inKeygenWords(choice.why)}); generating a key in a file.`);
    }
    c = { ...c, where: 'file' };
  }
  if (c.where === 'file') {
    const password = await secrets.newKeyPassword(c.password, true);
    const key = generateFileKey(c.type, c.bits, password);
    writeNewFile(c.out, key.pem, { mode: 0o600, force: c.force });
    io.info(`Your key has been saved in ${c.out}${password === '' ? '' : ' (encrypted)'}`);
    io.info(keyLine(key.publicKey, c.out, 'key file'));
    return 'file';
  }
  const tpm = tpmFacade();
  const pemKey = c.wrap !== undefined ? await keyToWrap(c.wrap, env) : undefined;
  const keyPassword = await secrets.newKeyPassword(c.password, false);
  const access = await tpmAccess(plan, secrets, keyPassword);
  const common = { tcti: access.tcti, parent: plan.tpm.parent, parentPassword: access.parentPassword, keyPassword };
  const tss2 = pemKey !== undefined
    ? await tpm.wrapKeyInTpm({ ...common, pemKey })
    : await tpm.createTpmKey(c.type === 'ec'
      ? { ...common, type: 'ecc', curve: c.bits === 384 ? 'P-384' : 'P-256' }
      : { ...common, type: 'rsa', bits: c.bits === 3072 ? 3072 : 2048 });
  writeNewFile(c.out, tss2, { mode: 0o600, force: c.force });
  const contents = readKeyFile(c.out);
  const publicKey = tpm.tpmPublicKey(contents.text, c.out);
  io.info(`Your TPM key has been saved in ${c.out}${c.wrap !== undefined ? ` (imported from ${c.wrap})` : ''}`);
  io.info(keyLine(publicKey, c.out, tpmKeyNote(contents)));
  return 'tpm';
}

async function signerFor(file: string, plan: Plan, secrets: Secrets): Promise<CsrSigner> {
  const contents = readKeyFile(file);
  switch (contents.kind) {
    case 'tss2': {
      const parsed = tpmFacade().parseTss2PrivateKey(contents.text, file);
      const keyPassword = parsed.emptyAuth ? '' : await secrets.existingKeyPassword(file);
      const access = await tpmAccess(plan, secrets, keyPassword);
      return tpmSigner(file, contents.text, access);
    }
    case 'private':
      return fileKeySigner(loadFilePrivateKey(contents.text, file, undefined));
    case 'encrypted-private':
      return fileKeySigner(loadFilePrivateKey(contents.text, file, await secrets.existingKeyPassword(file)));
    case 'certificate':
    case 'public':
    case 'request':
      throw new TlsshError('TLSSH_ERR_USAGE', `${file}: a request must be signed by a private key, not a ${contents.kind === 'public' ? 'public key' : contents.kind === 'request' ? 'certificate request' : 'certificate'}`);
  }
}

async function makeCsr(plan: Plan, c: CsrPlan, keyFile: string, secrets: Secrets, io: Output): Promise<void> {
  refuseExisting(c.out, c.force);
  const signer = await signerFor(keyFile, plan, secrets);
  const der = await buildCsr({ subject: c.subject, san: c.san, purposes: c.purposes }, signer);
  const pem = csrToPem(der);
  if (c.out === '-') io.out(pem.trimEnd());
  else writeNewFile(c.out, pem, { mode: 0o644, force: c.force });
  const extras = [c.san.length > 0 ? `SAN ${formatSan(c.san)}` : '', c.purposes.length > 0 ? c.purposes.join('+') : ''].filter((s) => s !== '');
  io.info(`Certificate request for ${formatSubject(c.subject)}${extras.length ? ` (${extras.join('; ')})` : ''}${c.out === '-' ? '' : ` saved in ${c.out}`}`);
  io.info(keyLine(signer.publicKey, keyFile, 'signing key'));
}

/**
 * A key alone logs nobody in: a newcomer needs to hear that a CA must sign a request for it, and
 * where tlssh looks for the certificate (beside the key, identity-file.ts).
 */
function nextStep(plan: Plan, keyFile: string, inTpm: boolean, io: Output): void {
  const candidates = certificateCandidates(keyFile);
  const cert = candidates.length > 2 ? candidates[2]! : candidates[0]!;
  const csr = cert.replace(/\.crt$/, '.csr');
  // A TPM key signs its request in the TPM it was made in: the same --tcti, when one was given.
  const tcti = inTpm && plan.tpm.tcti !== undefined ? ` --tcti ${plan.tpm.tcti}` : '';
  io.info(`Next, a certificate: tlssh-keygen${tcti} --csr ${csr} --key ${keyFile} --subject /CN=${userInfo().username} --client`);
  io.info(`(a server's: --server --san DNS:HOST); your CA signs the request, and the certificate goes in ${cert}.`);
}

export async function runPlan(plan: Plan, env: NodeJS.ProcessEnv, io: Output): Promise<void> {
  const secrets = new Secrets(plan, env);
  try {
    if (plan.print !== undefined) return await printKey(plan.print, plan.printPublic === true, secrets, io);
    const madeIn = plan.create ? await createKey(plan, plan.create, secrets, env, io) : undefined;
    if (plan.csr) await makeCsr(plan, plan.csr, plan.csr.key ?? (plan.create as CreatePlan).out, secrets, io);
    else if (plan.create) nextStep(plan, plan.create.out, madeIn === 'tpm', io);
  } finally {
    releaseTpm();
  }
}
