// The command line, turned into one typed plan before anything touches a file or the TPM, so
// that every usage mistake is reported up front and nothing is half done.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { TlsshError } from '../errors';
import { parseSubject, type DistinguishedName } from './distinguished-name';
import { parseSan, type SanEntry } from './subject-alt-name';
import { DEFAULT_FILE_KEY_BITS, FILE_KEY_SIZES, type KeyAlgorithm } from './file-key';
import type { Purpose } from './csr-extensions';

export const KEY_PASSWORD_ENV = 'TLSSH_KEY_PASSWORD';
export const SRK_PASSWORD_ENV = 'TLSSH_SRK_PASSWORD';
export const OWNER_PARENT = 0x40000001;

export const TPM_KEY_SIZES = { ec: [256, 384], rsa: [2048, 3072] } as const;
export const DEFAULT_TPM_KEY_BITS = { ec: 256, rsa: 2048 } as const;

/** What to do with the key password when creating a key. */
export type NewPasswordChoice = 'ask' | 'none' | 'if-scripted';

export interface CreatePlan {
  /** 'auto' (no arguments at all): in the TPM when one is usable, else a key file. */
  readonly where: 'tpm' | 'file' | 'auto';
  readonly out: string;
  /** No -o: the default KeyFile, whose directories are made 0700 if missing. */
  readonly defaultOut: boolean;
  readonly type: KeyAlgorithm;
  readonly bits: number;
  /** --wrap: an existing PEM key imported under the TPM parent instead of a new one. */
  readonly wrap?: string;
  readonly force: boolean;
  readonly password: NewPasswordChoice;
}

export interface CsrPlan {
  readonly out: string;
  /** Absent when the key is the one created by the same command. */
  readonly key?: string;
  readonly subject: DistinguishedName;
  readonly san: readonly SanEntry[];
  readonly purposes: readonly Purpose[];
  readonly force: boolean;
}

export interface TpmPlan {
  readonly tcti?: string;
  readonly parent: number;
  readonly srkPassword: boolean;
  readonly srkPasswordFd?: number;
}

export interface Plan {
  readonly create?: CreatePlan;
  readonly csr?: CsrPlan;
  readonly print?: string;
  /** -y: print the public key (PEM) instead of the fingerprint line. */
  readonly printPublic?: boolean;
  readonly tpm: TpmPlan;
  readonly passwordFd?: number;
  readonly quiet: boolean;
}

interface RawOptions {
  tpm?: boolean;
  wrap?: string;
  out?: string;
  file?: string;
  type?: string;
  bits?: string;
  ecc?: string;
  rsa?: string;
  parent?: string;
  tcti?: string;
  password?: boolean;
  passwordFd?: string;
  srkPassword?: boolean;
  srkPasswordFd?: string;
  force?: boolean;
  csr?: string;
  key?: string;
  subject?: string;
  san?: string[];
  client?: boolean;
  server?: boolean;
  /** A file, or true for -l without one (ssh-keygen's `-l -f FILE`). */
  print?: string | true;
  publicKey?: string | true;
  quiet?: boolean;
}

const EXAMPLES = `
Key passwords are never taken from the command line. A new key gets one only with --password
(or when one is supplied by ${KEY_PASSWORD_ENV} or --password-fd); it is asked for twice on
the terminal unless supplied. An empty password means none. TPM keys without a password are
made noDA, so an unclean shutdown cannot lock the TPM out.

Environment:
  ${KEY_PASSWORD_ENV}   password of the key being created or used
  ${SRK_PASSWORD_ENV}   password of the TPM parent key (SRK); empty means none
  TPM2TOOLS_TCTI       TPM to use when --tcti is not given
                       (default device:/dev/tpmrm0, then device:/dev/tpm0)
  TLSSH_WRAP_PASSWORD  password of an encrypted PEM key given to --wrap

Examples:
  tlssh-keygen                       the default key, ~/.tlssh/keys/default.key: in the
                                     TPM when one is usable, else a file (it says which)
  tlssh-keygen --tpm -f /etc/tlssh/tlsshd.key --parent 0x81000001
  tlssh-keygen --csr server.csr --key /etc/tlssh/tlsshd.key \\
               --subject /CN=shell.example.com --server
  tlssh-keygen --tpm --password \\
               --csr alice.csr --subject /CN=alice.users.example.com --client
  tlssh-keygen --wrap old-key.pem -o key.tss
  tlssh-keygen -t rsa -b 3072 -o key.pem
  tlssh-keygen -l key.tss            one line: BITS SHA256:... FILE (TYPE, ...)
  tlssh-keygen -y key.tss            the public key, PEM

See tlssh-keygen(1) for provisioning a TPM and signing requests with openssl.`;

export function buildProgram(version: string): Command {
  const program = new Command('tlssh-keygen');
  program
    .usage(
      '--tpm [-o FILE] [--ecc P-256|P-384 | --rsa 2048|3072] [--parent HANDLE] [--password]\n' +
        '       tlssh-keygen --wrap PEMFILE [-o FILE] [--parent HANDLE] [--password]\n' +
        '       tlssh-keygen [-t ec|ecdsa|rsa] [-b BITS] [-o FILE] [--password]\n' +
        '       tlssh-keygen --csr FILE --key KEYFILE --subject /CN=NAME [--san LIST] [--client|--server]\n' +
        '       tlssh-keygen -l|-y KEYFILE\n' +
        '       tlssh-keygen            (the default key: in the TPM when one is usable, else a file)',
    )
    .description('Create tlssh keys inside a TPM 2.0 or in files, certificate requests for them, and key fingerprints.')
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help and exit')
    .addOption(new Option('--tpm', 'create the key inside the TPM and write a TSS2 PRIVATE KEY file'))
    .addOption(new Option('--wrap <pemfile>', 'import an existing PEM private key under the TPM parent (implies --tpm)'))
    .addOption(new Option('-f, --file <file>', 'file to write the new key to, mode 0600, as ssh-keygen -f (default ~/.tlssh/keys/default.key)'))
    .addOption(new Option('-o, --out <file>', 'the same as -f'))
    .addOption(new Option('-t, --type <type>', 'key type: ec (or ecdsa, as ssh-keygen names it) or rsa (default ec)'))
    .addOption(new Option('-b, --bits <bits>', 'key size: ec 256|384 (521 for files), rsa 2048|3072 (4096 for files)'))
    .addOption(new Option('--ecc <curve>', 'TPM key on this curve (default P-256; implies --tpm)').choices(['P-256', 'P-384']).conflicts(['rsa', 'type', 'bits']))
    .addOption(new Option('--rsa <bits>', 'TPM RSA key of this size (implies --tpm)').choices(['2048', '3072']).conflicts(['type', 'bits']))
    .addOption(new Option('--parent <handle>', 'TPM parent: a persistent handle like 0x81000001, or 0x40000001 for a primary key made on the fly (default)'))
    .addOption(new Option('--tcti <tcti>', 'TPM to use, e.g. device:/dev/tpmrm0 or swtpm:host=127.0.0.1,port=2321'))
    .addOption(new Option('--password', 'give the new key a password (asked on the terminal unless supplied)'))
    .addOption(new Option('--no-password', `make the new key without a password, even if ${KEY_PASSWORD_ENV} is set`))
    .addOption(new Option('--password-fd <n>', 'read the key password from file descriptor N (up to a newline)'))
    .addOption(new Option('--srk-password', `the TPM parent has a password: ask for it (or take ${SRK_PASSWORD_ENV})`))
    .addOption(new Option('--srk-password-fd <n>', 'read the TPM parent password from file descriptor N'))
    .addOption(new Option('--force', 'overwrite existing output files'))
    .addOption(new Option('--csr <file>', 'write a PKCS#10 certificate request ("-" for standard output)'))
    .addOption(new Option('--key <keyfile>', 'key that signs the request: a TSS2 file (signed inside the TPM) or a PEM key'))
    .addOption(new Option('--subject <dn>', 'request subject in OpenSSL form, e.g. /CN=alice.example.com/O=Example'))
    .addOption(new Option('--san <list>', 'subjectAltName entries: DNS:name,IP:addr,email:addr,URI:uri (repeatable)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .addOption(new Option('--client', 'request a client certificate (extendedKeyUsage clientAuth)'))
    .addOption(new Option('--server', 'request a server certificate (extendedKeyUsage serverAuth; SAN DNS:<CN> unless --san)'))
    .addOption(new Option('-l, --print [file]', 'print the SHA-256 fingerprint line of a key file (TSS2 or PEM), certificate or request, as ssh-keygen -l (the file may also follow -f: -lf FILE)'))
    .addOption(new Option('-y, --public-key [file]', 'print the public key (PEM) of a key file, certificate or request (or -yf FILE)'))
    .addOption(new Option('-q, --quiet', 'print nothing but errors and requested output'))
    .addHelpText('after', EXAMPLES)
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  return program;
}

function usage(msg: string): TlsshError {
  return new TlsshError('TLSSH_ERR_USAGE', msg);
}

function parseFd(v: string | undefined, option: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) > 65535) throw usage(`${option} takes a file descriptor number, not "${v}"`);
  return Number(v);
}

export function parseHandle(v: string): number {
  const n = /^0x[0-9a-f]{1,8}$/i.test(v) ? parseInt(v.slice(2), 16) : /^[0-9]{1,10}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n > 0xffffffff) throw usage(`--parent takes a TPM handle such as 0x81000001, not "${v}"`);
  if (n !== OWNER_PARENT && n >>> 24 !== 0x81) {
    throw usage(`--parent must be a persistent handle (0x81xxxxxx) or 0x40000001, not 0x${n.toString(16)}`);
  }
  return n;
}

function keySpec(o: RawOptions, where: 'tpm' | 'file'): { type: KeyAlgorithm; bits: number } {
  if (o.ecc !== undefined) return { type: 'ec', bits: o.ecc === 'P-384' ? 384 : 256 };
  if (o.rsa !== undefined) return { type: 'rsa', bits: Number(o.rsa) };
  const type = keyType(o.type);
  const sizes: readonly number[] = where === 'tpm' ? TPM_KEY_SIZES[type] : FILE_KEY_SIZES[type];
  const defaults = where === 'tpm' ? DEFAULT_TPM_KEY_BITS : DEFAULT_FILE_KEY_BITS;
  if (o.bits === undefined) return { type, bits: defaults[type] };
  const bits = /^[0-9]+$/.test(o.bits) ? Number(o.bits) : NaN;
  if (!sizes.includes(bits)) {
    throw usage(`${where === 'tpm' ? 'TPM ' : ''}${type} keys can have ${sizes.join(' or ')} bits, not ${o.bits}`);
  }
  return { type, bits };
}

/**
 * -t as ssh-keygen users type it. Its default, ed25519, gets a reason rather than commander's list:
 * no TPM 2.0 chip in use signs with Ed25519, and the daemon's key agent signs only what a TPM can.
 */
function keyType(t: string | undefined): KeyAlgorithm {
  const lower = (t ?? 'ec').toLowerCase();
  if (lower === 'ec' || lower === 'ecdsa') return 'ec';
  if (lower === 'rsa') return 'rsa';
  const why = /^(ed25519|ed448|dsa)|-sk$/.test(lower)
    ? `${t} keys are not made: tlssh keys are ECDSA or RSA, what TPM 2.0 chips sign with (use -t ec, the default, or -t rsa)`
    : `-t takes ec (or ecdsa) or rsa, not "${t}"`;
  throw usage(why);
}

/** Validates the parsed options into a Plan; every inconsistency is a TLSSH_ERR_USAGE. */
/** tlssh's default KeyFile, where a new key goes without -o, as ssh-keygen writes ~/.ssh/id_*. */
export function defaultKeyFile(home: string): string {
  return join(home, '.tlssh', 'keys', 'default.key');
}

export function planFromOptions(given: RawOptions, home: string = homedir()): Plan {
  let o = given;
  const quiet = o.quiet === true;
  const tpmPlan: TpmPlan = {
    tcti: o.tcti,
    parent: o.parent === undefined ? OWNER_PARENT : parseHandle(o.parent),
    srkPassword: o.srkPassword === true,
    srkPasswordFd: parseFd(o.srkPasswordFd, '--srk-password-fd'),
  };
  const passwordFd = parseFd(o.passwordFd, '--password-fd');
  // ssh-keygen's habit, -l -f FILE (or -lf FILE): with -l or -y, -f names the file to read.
  if (o.print === true || o.publicKey === true) {
    const named = o.file ?? o.out;
    if (named === undefined) throw usage(`${o.print === true ? '-l' : '-y'} needs a file: -l FILE, or -l -f FILE as ssh-keygen`);
    o = { ...o, file: undefined, out: undefined, ...(o.print === true ? { print: named } : { publicKey: named }) };
  }
  if (o.file !== undefined && o.out !== undefined && o.file !== o.out) throw usage('-f and -o name the same output; give one');
  o = { ...o, out: o.out ?? o.file };
  const keyShape = o.type !== undefined || o.bits !== undefined || o.ecc !== undefined || o.rsa !== undefined;
  // --ecc and --rsa exist only for TPM keys, so they say --tpm too.
  const inTpm = o.tpm === true || o.wrap !== undefined || o.ecc !== undefined || o.rsa !== undefined;
  const explicit = inTpm || o.out !== undefined || keyShape;
  const requestOnly = o.csr !== undefined || o.key !== undefined || o.subject !== undefined || o.san !== undefined || o.client === true || o.server === true;
  // As ssh-keygen: no arguments makes the default key.
  const creating = explicit || (!requestOnly && o.print === undefined && o.publicKey === undefined);

  if (o.print !== undefined || o.publicKey !== undefined) {
    if (o.print !== undefined && o.publicKey !== undefined) throw usage('-l and -y: give one');
    if (explicit || requestOnly) throw usage('-l/-y cannot be combined with creating keys or requests');
    const file = o.print ?? o.publicKey;
    if (typeof file !== 'string') throw usage('-l and -y need a file');
    return { print: file, printPublic: o.publicKey !== undefined, tpm: tpmPlan, passwordFd, quiet };
  }

  let create: CreatePlan | undefined;
  if (creating) {
    if (o.key !== undefined) throw usage('--key names an existing key; it cannot be combined with creating one (-o/--tpm/--wrap)');
    const where = inTpm ? 'tpm' : explicit ? 'file' : 'auto';
    if (o.wrap !== undefined && keyShape) throw usage('--wrap keeps the type and size of the imported key; drop -t, -b, --ecc and --rsa');
    const spec = o.wrap !== undefined ? { type: 'ec' as const, bits: 0 } : keySpec(o, where === 'file' ? 'file' : 'tpm');
    const password: NewPasswordChoice = o.password === true ? 'ask' : o.password === false ? 'none' : 'if-scripted';
    if (password === 'none' && passwordFd !== undefined) throw usage('--no-password and --password-fd contradict each other');
    create = { where, out: o.out ?? defaultKeyFile(home), defaultOut: o.out === undefined, ...spec, wrap: o.wrap, force: o.force === true, password };
  } else {
    if (o.password !== undefined) throw usage('--password/--no-password apply when creating a key (-o FILE)');
  }

  let csr: CsrPlan | undefined;
  if (o.csr !== undefined) {
    if (o.key === undefined && !create) throw usage('--csr needs the key that signs it: --key KEYFILE, or create one in the same command (--tpm or -o FILE)');
    if (o.subject === undefined) throw usage('--csr needs --subject, e.g. --subject /CN=alice.example.com');
    const subject = parseSubject(o.subject);
    let san = (o.san ?? []).flatMap((s) => parseSan(s));
    const purposes: Purpose[] = [];
    if (o.client === true) purposes.push('client');
    if (o.server === true) purposes.push('server');
    if (o.server === true && san.length === 0) {
      // tlssh checks the host name against the SAN alone, so a server request without one
      // would yield a certificate no client accepts.
      const cn = subject.flatMap((rdn) => rdn).find((a) => a.type.shortName === 'CN')?.value;
      if (cn === undefined) throw usage('--server needs --san, or a subject CN that is the host name');
      san = parseSan(/^[0-9.]+$|:/.test(cn) ? `IP:${cn}` : `DNS:${cn}`);
    }
    csr = { out: o.csr, key: o.key, subject, san, purposes, force: o.force === true };
  } else if (o.key !== undefined || o.subject !== undefined || o.san !== undefined || o.client === true || o.server === true) {
    throw usage('--key, --subject, --san, --client and --server describe a certificate request: add --csr FILE');
  }

  if (!create && !csr) throw usage('nothing to do: create a key (--tpm, or -o FILE for a key file), a request (--csr) or print one (-l FILE); see --help');
  return { create, csr, tpm: tpmPlan, passwordFd, quiet };
}

/** argv (without node and script) to a Plan, for callers that need no help/version handling. */
export function planFromArgv(argv: readonly string[], version = 'test'): Plan {
  const program = buildProgram(version).exitOverride().configureOutput({ outputError: () => undefined, writeOut: () => undefined, writeErr: () => undefined });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_USAGE', e instanceof Error ? e.message.replace(/^error: /, '') : String(e), { cause: e });
  }
  return planFromOptions(program.opts());
}
