// The client's ServerCRL fails closed: a revoked server certificate is refused, and a CRL that
// is missing, unreadable or garbage is an error for the connection, never "no revocation check".

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCrl } from '../helpers/ca';
import { errorCodeOf, runTlssh, startFixture, type ClientFixture } from './client-fixture';

describe('tlssh with ServerCRL', () => {
  let fx: ClientFixture;
  let crlFile: string;
  const withCrl = (file: string): string[] => ['-c', fx.configFile, '-o', `ServerCRL=${file}`, '-v', '127.0.0.1', 'echo logged-in'];

  before(async () => {
    fx = await startFixture();
    crlFile = path.join(fx.dir, 'server.crl');
  });
  after(async () => {
    await fx?.stop();
  });

  it('logs in when the server certificate is not on the CRL', async () => {
    fs.copyFileSync(makeCrl(fx.ca, [fx.client.certFile]), crlFile);
    const r = await runTlssh(withCrl(crlFile));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'logged-in\n');
  });

  it('refuses a server whose certificate the CRL revokes', async () => {
    fs.copyFileSync(makeCrl(fx.ca, [path.join(fx.ca.dir, 'server.crt')]), crlFile);
    const r = await runTlssh(withCrl(crlFile));
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_CERT_REVOKED', r.stderr);
    assert.equal(r.stdout.length, 0, 'no command ran');
  });

  it('refuses when the CRL has expired', async () => {
    fs.copyFileSync(makeCrl(fx.ca, [], { expired: true }), crlFile);
    const r = await runTlssh(withCrl(crlFile));
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_TLS_CRL', r.stderr);
  });

  it('fails closed when the CRL is missing, a directory, not a CRL, or a PEM block OpenSSL cannot parse', async () => {
    const cases: Array<[string, () => void]> = [
      ['missing', () => fs.rmSync(crlFile, { force: true })],
      ['directory', () => fs.mkdirSync(crlFile)],
      ['no PEM', () => { fs.rmdirSync(crlFile); fs.writeFileSync(crlFile, 'garbage\n'); }],
      ['bad PEM', () => fs.writeFileSync(crlFile, '-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n')],
    ];
    for (const [name, make] of cases) {
      make();
      const r = await runTlssh(withCrl(crlFile));
      assert.equal(r.status, 255, `${name}: ${r.stderr}`);
      assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_TLS_CRL', `${name}: ${r.stderr}`);
      assert.equal(r.stdout.length, 0, `${name}: no command ran`);
    }
  });
});
