import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { isTlsshError } from '../../src/errors';
import { loadClientTrust, recheckChain } from '../../src/server/session-recheck';
import { parseCrl } from '../../src/transport/crl-info';
import { issueCert, makeCa, makeCrl, makeTempDir } from '../helpers/ca';

const dir = makeTempDir('tlssh-recheck');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const ca = makeCa(path.join(dir, 'a'), 'recheck CA');
const other = makeCa(path.join(dir, 'b'), 'other CA');
const alice = issueCert(ca, { cn: 'alice', eku: 'clientAuth' });
const bob = issueCert(ca, { cn: 'bob', eku: 'clientAuth' });
const der = (file: string): string => new X509Certificate(fs.readFileSync(file)).raw.toString('base64');
const trust = (crl?: string, caFile = ca.certFile) => loadClientTrust({ ClientCAFile: caFile, ClientCAPath: '', ClientCRL: crl ?? '' });

describe('re-checking a live session\'s certificate on reload', () => {
  it('reads the revoked serials of a CRL', () => {
    const pem = fs.readFileSync(makeCrl(ca, [alice.certFile, bob.certFile]), 'latin1');
    const crl = parseCrl(Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
    assert.deepEqual([...crl.revoked].sort(), [alice.serial, bob.serial].map((s) => s.replace(/^0+/, '')).sort());
    const empty = fs.readFileSync(makeCrl(ca, []), 'latin1');
    assert.equal(parseCrl(Buffer.from(empty.replace(/-----[A-Z0-9 ]+-----/g, '').replace(/\s+/g, ''), 'base64')).revoked.size, 0);
  });

  it('keeps a certificate that still chains and is not revoked', () => {
    assert.deepEqual(recheckChain([der(alice.certFile)], trust(makeCrl(ca, [bob.certFile]))), { ok: true });
    // The CA certificate the handshake appended is an intermediate candidate, never an anchor by itself.
    assert.deepEqual(recheckChain([der(alice.certFile), der(ca.certFile)], trust()), { ok: true });
  });

  it('ends a revoked one with TLSSH_ERR_CERT_REVOKED_IN_SESSION', () => {
    const r = recheckChain([der(alice.certFile)], trust(makeCrl(ca, [alice.certFile])));
    assert.equal(r.ok ? 'ok' : r.code, 'TLSSH_ERR_CERT_REVOKED_IN_SESSION');
  });

  it('ends one that no longer chains, even when it presents its old CA, with TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION', () => {
    for (const chain of [[der(alice.certFile)], [der(alice.certFile), der(ca.certFile)], ['AAAA']]) {
      const r = recheckChain(chain, trust(undefined, other.certFile));
      assert.equal(r.ok ? 'ok' : r.code, 'TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION');
    }
  });

  it('refuses an unparsable CRL or CA file with a TlsshError (the reload keeps the old set)', () => {
    const badCrl = path.join(dir, 'bad.crl');
    fs.writeFileSync(badCrl, '-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n');
    assert.throws(() => trust(badCrl), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_TLS_CRL');
    const badCa = path.join(dir, 'bad.crt');
    fs.writeFileSync(badCa, '-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n');
    assert.throws(() => trust(undefined, badCa), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_TLS_CA');
  });
});
