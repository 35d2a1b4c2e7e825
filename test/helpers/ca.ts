// Real X.509 material for tests, made by the openssl command line: a CA, certificates it signs,
// CRLs. Run through execFileSync with argument vectors (never a shell); private keys travel over
// stdout into files created 0600, never through argv.

import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { registerTemp } from './temp-registry';

export interface Ca {
  dir: string;
  certFile: string;
  keyFile: string;
  /** The CA's common name. */
  name: string;
}

export interface Issued {
  certFile: string;
  keyFile: string;
  /** SHA-256 of the DER certificate, "AB:CD:…" as node's X509Certificate.fingerprint256. */
  fingerprint: string;
  /** Upper-case hex, as node's X509Certificate.serialNumber and `openssl x509 -serial`. */
  serial: string;
}

export type Eku = 'serverAuth' | 'clientAuth' | 'both' | 'codeSigning' | 'none';

export interface IssueOptions {
  cn: string;
  /** Upper-case hex serial; default random. */
  serial?: string;
  /** subjectAltName entries, e.g. ['DNS:localhost', 'IP:127.0.0.1']. */
  san?: string[];
  /** Default: serverAuth when there is a SAN, clientAuth otherwise. 'none': no EKU extension. */
  eku?: Eku;
  /** Validity from now; default 365. Ignored when notBefore/notAfter are given. */
  days?: number;
  /** Explicit validity, e.g. a notAfter in the past for an expired certificate. */
  notBefore?: Date;
  notAfter?: Date;
  keyType?: 'ec' | 'rsa';
  /** Base name of the files in ca.dir; default derived from cn. */
  fileStem?: string;
  /** Use this existing (PEM, openssl-readable) key instead of generating one. */
  keyFile?: string;
  /** The subject's CNs, each its own RDN, in order; default [cn]. */
  subjectCns?: string[];
  /** basicConstraints CA:TRUE (a CA certificate used as a leaf); default false. */
  ca?: boolean;
  /** keyUsage value, e.g. 'critical,keyEncipherment'; null: no keyUsage extension. Default 'critical,digitalSignature'. */
  keyUsage?: string | null;
}

export interface IssueFromCsrOptions {
  /** Upper-case hex serial; default random. A leading zero byte ('05...') tests how serials are printed. */
  serial?: string;
  san?: string[];
  eku?: Eku;
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
  keyUsage?: string | null;
}

const tempDirs: string[] = [];

/**
 * A fresh directory under the system's temporary directory, removed when the test file's process
 * exits: every run of the suite used to leave a dozen behind. When the file failed they stay, and
 * their paths are printed, so the daemons' configs and logs in them can be read.
 */
export function makeTempDir(prefix: string): string {
  const dir = registerTemp(mkdtempSync(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`)));
  if (tempDirs.push(dir) === 1) process.once('exit', removeTempDirs);
  return dir;
}

function removeTempDirs(code: number): void {
  if (code !== 0) {
    process.stderr.write(`test files kept for inspection:\n${tempDirs.map((d) => `  ${d}\n`).join('')}`);
    return;
  }
  for (const dir of tempDirs) {
    // A daemon that is still exiting may add a file meanwhile: retry, and never throw on the way
    // out (a leftover is reported by the test runner, which names it).
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Left for the runner to report.
    }
  }
}

export function makeCa(dir: string, name = 'tlssh test CA'): Ca {
  checkCn(name);
  mkdirSync(dir, { recursive: true });
  const stem = freeStem(dir, stemOf(name));
  const keyFile = path.join(dir, `${stem}.key`);
  const certFile = path.join(dir, `${stem}.crt`);
  writeKey(keyFile, 'ec');
  const cnf = writeConfig(dir, `${stem}-req.cnf`, [
    reqSection(),
    '[v3_ca]',
    'basicConstraints = critical,CA:true',
    'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always',
  ]);
  openssl([
    'req', '-new', '-x509', '-config', cnf, '-extensions', 'v3_ca', '-utf8',
    '-key', keyFile, '-subj', subjectOf(name), '-sha256', '-days', '3650',
    '-set_serial', `0x${newSerial()}`, '-out', certFile,
  ]);
  return { dir, certFile, keyFile, name };
}

export function issueCert(ca: Ca, opts: IssueOptions): Issued {
  checkCn(opts.cn);
  const stem = freeStem(ca.dir, opts.fileStem ?? stemOf(opts.cn));
  const certFile = path.join(ca.dir, `${stem}.crt`);
  let keyFile: string;
  if (opts.keyFile !== undefined) {
    keyFile = opts.keyFile;
  } else {
    keyFile = path.join(ca.dir, `${stem}.key`);
    writeKey(keyFile, opts.keyType ?? 'ec');
  }
  const csrFile = path.join(ca.dir, `${stem}.csr`);
  const cnf = writeConfig(ca.dir, `${stem}-req.cnf`, [reqSection()]);
  const subject = (opts.subjectCns ?? [opts.cn]).map((cn) => { checkCn(cn); return subjectOf(cn); }).join('');
  openssl(['req', '-new', '-config', cnf, '-utf8', '-key', keyFile, '-subj', subject, '-out', csrFile]);
  const serial = signCsr(ca, csrFile, certFile, opts, stem);
  return { certFile, keyFile, fingerprint: new X509Certificate(readFileSync(certFile)).fingerprint256, serial };
}

/** Signs a CSR made elsewhere (e.g. by tlssh-keygen for a TPM key); returns outFile. */
export function issueFromCsr(ca: Ca, csrFile: string, outFile: string, opts: IssueFromCsrOptions = {}): string {
  signCsr(ca, csrFile, outFile, opts, stemOf(path.basename(outFile)));
  return outFile;
}

/**
 * A PEM CRL signed by `ca` listing the given certificates as revoked. Each call starts from an
 * empty revocation database, so the result depends only on the arguments. `expired` gives a CRL
 * whose nextUpdate is a day in the past (dates set explicitly: no sleeping).
 */
export function makeCrl(ca: Ca, revokedCertFiles: string[], opts: { expired?: boolean } = {}): string {
  const db = mkdtempSync(path.join(ca.dir, 'crl-'));
  const cnf = writeCaConfig(db);
  writeFileSync(path.join(db, 'crlnumber'), '01\n');
  for (const file of new Set(revokedCertFiles)) {
    openssl(['ca', '-batch', '-config', cnf, '-cert', ca.certFile, '-keyfile', ca.keyFile, '-revoke', file]);
  }
  const out = path.join(db, 'crl.pem');
  const dates = opts.expired
    ? ['-crl_lastupdate', asn1Time(daysFromNow(-2)), '-crl_nextupdate', asn1Time(daysFromNow(-1))]
    : ['-crl_lastupdate', asn1Time(new Date(Date.now() - 60_000)), '-crl_nextupdate', asn1Time(daysFromNow(30))];
  openssl(['ca', '-batch', '-config', cnf, '-cert', ca.certFile, '-keyfile', ca.keyFile, '-gencrl', ...dates, '-out', out]);
  return out;
}

/* ------------------------------------------------------------------------------------------ */

function openssl(args: string[]): Buffer {
  try {
    return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr}`, { cause: e });
  }
}

function writeKey(file: string, type: 'ec' | 'rsa'): void {
  const args =
    type === 'ec'
      ? ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve']
      : ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'];
  writeFileSync(file, openssl(args), { mode: 0o600 });
  chmodSync(file, 0o600); // mode above applies only when the file is new
}

function signCsr(ca: Ca, csrFile: string, outFile: string, opts: IssueFromCsrOptions, stem: string): string {
  const db = caDatabase(ca);
  const serial = opts.serial ?? newSerial();
  writeFileSync(path.join(db, 'serial'), `${serial}\n`);
  const extFile = writeConfig(ca.dir, `${stem}-ext.cnf`, leafExtensions(opts));
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = opts.notAfter ?? daysFromNow(opts.days ?? 365);
  openssl([
    'ca', '-batch', '-notext', '-preserveDN', '-config', writeCaConfig(db),
    '-cert', ca.certFile, '-keyfile', ca.keyFile, '-md', 'sha256',
    '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter),
    '-extfile', extFile, '-extensions', 'leaf', '-in', csrFile, '-out', outFile,
  ]);
  return serial;
}

function leafExtensions(opts: IssueFromCsrOptions): string[] {
  const san = opts.san ?? [];
  for (const entry of san) {
    if (!/^(DNS|IP|email|URI):[^,\n\r\\]+$/.test(entry)) throw new Error(`bad subjectAltName entry: ${entry}`);
  }
  const eku = opts.eku ?? (san.length > 0 ? 'serverAuth' : 'clientAuth');
  const ekuValue = { serverAuth: 'serverAuth', clientAuth: 'clientAuth', both: 'serverAuth,clientAuth', codeSigning: 'codeSigning', none: null }[eku];
  const keyUsage = opts.keyUsage === undefined ? 'critical,digitalSignature' : opts.keyUsage;
  if (keyUsage !== null && !/^[A-Za-z,]+$/.test(keyUsage)) throw new Error(`bad keyUsage: ${keyUsage}`);
  return [
    '[leaf]',
    `basicConstraints = critical,CA:${opts.ca ? 'true' : 'false'}`,
    ...(keyUsage === null ? [] : [`keyUsage = ${keyUsage}`]),
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid,issuer',
    ...(ekuValue === null ? [] : [`extendedKeyUsage = ${ekuValue}`]),
    ...(san.length > 0 ? [`subjectAltName = ${san.join(',')}`] : []),
  ];
}

/** The CA's own issuing database, next to its key. */
function caDatabase(ca: Ca): string {
  const db = ca.keyFile.replace(/\.key$/, '') + '.db';
  if (!existsSync(db)) {
    mkdirSync(path.join(db, 'newcerts'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(db, 'index.txt'), '');
  }
  return db;
}

function writeCaConfig(db: string): string {
  if (/[$"'\\\n\r]/.test(db)) throw new Error(`unusable directory for an openssl config: ${db}`);
  mkdirSync(path.join(db, 'newcerts'), { recursive: true, mode: 0o700 });
  const index = path.join(db, 'index.txt');
  if (!existsSync(index)) writeFileSync(index, '');
  return writeConfig(db, 'ca.cnf', [
    '[ca]',
    'default_ca = test_ca',
    '[test_ca]',
    `dir = ${db}`,
    'database = $dir/index.txt',
    'new_certs_dir = $dir/newcerts',
    'serial = $dir/serial',
    'crlnumber = $dir/crlnumber',
    'default_md = sha256',
    'default_days = 365',
    'default_crl_days = 30',
    'policy = policy_any',
    'unique_subject = no',
    'copy_extensions = none',
    'crl_extensions = crl_ext',
    '[policy_any]',
    'commonName = supplied',
    '[crl_ext]',
    'authorityKeyIdentifier = keyid:always',
  ]);
}

function reqSection(): string {
  return ['[req]', 'distinguished_name = dn', 'string_mask = utf8only', 'prompt = no', '[dn]', 'CN = unused'].join('\n');
}

function writeConfig(dir: string, name: string, lines: string[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function checkCn(cn: string): void {
  if (cn.length === 0 || /[\u0000-\u001f\u007f]/.test(cn)) throw new Error(`bad common name: ${JSON.stringify(cn)}`);
}

/** `-subj` syntax: "/" separates RDNs and "+" joins them; both, and "\", are escaped. */
function subjectOf(cn: string): string {
  return `/CN=${cn.replace(/[\\/+]/g, (c) => `\\${c}`)}`;
}

function stemOf(s: string): string {
  return s.replace(/\.(crt|pem|cer)$/, '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'cert';
}

/** A file stem not used yet in `dir`, so issuing the same CN twice keeps both certificates. */
function freeStem(dir: string, stem: string): string {
  let candidate = stem;
  for (let i = 2; existsSync(path.join(dir, `${candidate}.crt`)); i++) candidate = `${stem}-${i}`;
  return candidate;
}

/** 16 random bytes, first byte 0x01..0x7f: positive, no leading zero, so the hex is canonical. */
function newSerial(): string {
  const b = randomBytes(16);
  b[0] = 1 + ((b[0] as number) % 0x7f);
  return b.toString('hex').toUpperCase();
}

function daysFromNow(days: number): Date {
  return new Date(Date.now() + days * 86_400_000);
}

/** YYYYMMDDHHMMSSZ, the GeneralizedTime form openssl ca accepts for its date options. */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '');
}
