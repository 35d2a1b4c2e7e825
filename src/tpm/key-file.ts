// The TSS2 PRIVATE KEY file (draft-bottomley-tpm2-keys, TSSPRIVKEY), the format tpm2-tools,
// tpm2-openssl and tpm2-tss-engine share:
//   TPMKey ::= SEQUENCE {
//     type        OBJECT IDENTIFIER,            -- 2.23.133.10.1.3: loadable key
//     emptyAuth   [0] EXPLICIT BOOLEAN OPTIONAL,
//     policy      [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
//     secret      [2] EXPLICIT OCTET STRING OPTIONAL,
//     authPolicy  [3] EXPLICIT SEQUENCE OF TPMAuthPolicy OPTIONAL,
//     parent      INTEGER,                      -- 0x40000001 or a persistent handle
//     pubkey      OCTET STRING,                 -- marshalled TPM2B_PUBLIC
//     privkey     OCTET STRING }                -- marshalled TPM2B_PRIVATE
import { TlsshError } from '../errors';
import { DerError, decodeUnsigned32, encodeDer, encodeUnsigned, readChildren, readDer } from './der';
import { TpmPublicError, parseTpm2bPublic, type TpmPublic } from './tpm-public';

export const OWNER_PARENT = 0x40000001;

const PEM_LABEL = 'TSS2 PRIVATE KEY';
const OID_LOADABLE_KEY = Buffer.from([0x67, 0x81, 0x05, 0x0a, 0x01, 0x03]);
const OID_IMPORTABLE_KEY = Buffer.from([0x67, 0x81, 0x05, 0x0a, 0x01, 0x04]);
const OID_SEALED_DATA = Buffer.from([0x67, 0x81, 0x05, 0x0a, 0x01, 0x05]);

export interface Tss2PrivateKey {
  /** True when the file says the key needs no password. tpm2-tools 5.4 writes false regardless. */
  readonly emptyAuth: boolean;
  readonly parent: number;
  /** Marshalled TPM2B_PUBLIC, exactly as in the file. */
  readonly pub: Buffer;
  /** Marshalled TPM2B_PRIVATE, exactly as in the file. */
  readonly priv: Buffer;
  readonly public: TpmPublic;
}

function bad(file: string, why: string, cause?: unknown): TlsshError {
  return new TlsshError(
    'TLSSH_ERR_TPM_KEY_FILE',
    `${file} is not a usable TPM key file (${why}); expected "-----BEGIN ${PEM_LABEL}-----" as written by tlssh-keygen or tpm2_encodeobject`,
    { cause },
  );
}

function pemBody(text: string, file: string): Buffer {
  const begin = `-----BEGIN ${PEM_LABEL}-----`;
  const end = `-----END ${PEM_LABEL}-----`;
  const a = text.indexOf(begin);
  if (a < 0) {
    const other = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text);
    throw bad(file, other ? `it holds a ${other[1]}, not a TPM key` : 'no PEM block found');
  }
  const b = text.indexOf(end, a + begin.length);
  if (b < 0) throw bad(file, 'the PEM block is truncated');
  const b64 = text.slice(a + begin.length, b).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw bad(file, 'the PEM block is not base64');
  return Buffer.from(b64, 'base64');
}

export function parseTss2PrivateKey(pem: string | Buffer, file: string): Tss2PrivateKey {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const der = pemBody(text, file);
  try {
    const top = readDer(der, 0);
    if (top.tag !== 0x30 || top.end !== der.length) throw new DerError('not a single SEQUENCE');
    const items = readChildren(top.body);
    let i = 0;
    const next = () => {
      const n = items[i++];
      if (n === undefined) throw new DerError('too few fields');
      return n;
    };
    const type = next();
    if (type.tag !== 0x06) throw new DerError('type is not an OBJECT IDENTIFIER');
    if (type.body.equals(OID_IMPORTABLE_KEY)) throw bad(file, 'it is an importable key; load it with tpm2_import first');
    if (type.body.equals(OID_SEALED_DATA)) throw bad(file, 'it holds sealed data, not a key');
    if (!type.body.equals(OID_LOADABLE_KEY)) throw bad(file, 'unknown key type OID');
    let emptyAuth = false;
    let node = next();
    if (node.tag === 0xa0) {
      const inner = readDer(node.body, 0);
      if (inner.tag !== 0x01 || inner.body.length !== 1 || inner.end !== node.body.length) throw new DerError('bad emptyAuth');
      emptyAuth = inner.body[0] !== 0;
      node = next();
    }
    if (node.tag === 0xa1 || node.tag === 0xa3) {
      throw bad(file, 'the key is bound to a TPM policy, which tlssh cannot satisfy; make a key with a password instead');
    }
    if (node.tag === 0xa2) node = next(); // secret: only meaningful for importable keys
    if (node.tag !== 0x02) throw new DerError('parent is not an INTEGER');
    const parent = decodeUnsigned32(node.body);
    const pubNode = next();
    const privNode = next();
    if (pubNode.tag !== 0x04 || privNode.tag !== 0x04) throw new DerError('pubkey/privkey are not OCTET STRINGs');
    if (i !== items.length) throw new DerError('unexpected trailing fields');
    if (parent !== OWNER_PARENT && parent >>> 24 !== 0x81) {
      throw bad(file, `parent handle 0x${parent.toString(16)} is neither 0x40000001 nor a persistent handle`);
    }
    const pub = Buffer.from(pubNode.body);
    const priv = Buffer.from(privNode.body);
    if (priv.length < 2 || priv.readUInt16BE(0) !== priv.length - 2) throw new DerError('privkey is not a TPM2B_PRIVATE');
    return { emptyAuth, parent, pub, priv, public: parseTpm2bPublic(pub) };
  } catch (e) {
    if (e instanceof TlsshError) throw e;
    if (e instanceof DerError || e instanceof TpmPublicError) throw bad(file, e.message, e);
    throw e;
  }
}

function toPem(der: Buffer): Buffer {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return Buffer.from(`-----BEGIN ${PEM_LABEL}-----\n${lines.join('\n')}\n-----END ${PEM_LABEL}-----\n`);
}

export function encodeTss2PrivateKey(key: { emptyAuth: boolean; parent: number; pub: Buffer; priv: Buffer }): Buffer {
  const fields = [encodeDer(0x06, OID_LOADABLE_KEY)];
  // emptyAuth is OPTIONAL (not DEFAULT), and tpm2-openssl asks for a password only when the
  // field is present and false, so it is always written.
  fields.push(encodeDer(0xa0, encodeDer(0x01, Buffer.from([key.emptyAuth ? 0xff : 0x00]))));
  fields.push(encodeUnsigned(key.parent), encodeDer(0x04, key.pub), encodeDer(0x04, key.priv));
  return toPem(encodeDer(0x30, Buffer.concat(fields)));
}
