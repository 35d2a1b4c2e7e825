// A warm worker's prepared TLS holds only while nothing it was built from has changed: the
// configuration's generation, and each file (certificate, key, CA file, every entry of the CA
// directory, CRL) as stat sees it.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildServerTls, filesStamp, handshakeTimeoutMs, stillCurrent, type PreparedTls, type TlsSource } from '../../src/server/warm-tls';
import { issueCert, makeCa } from '../helpers/ca';
import type { WorkerConfig } from '../../src/server/worker-config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-warm-tls-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

describe('warm TLS freshness', () => {
  const caDir = path.join(dir, 'ca.d');
  fs.mkdirSync(caDir);
  fs.writeFileSync(path.join(caDir, 'a.pem'), 'a');
  const src: TlsSource = {
    config: {
      CertFile: file('cert.pem', 'c'), KeyFile: file('key.pem', 'k'), ClientCAFile: file('ca.pem', 'ca'),
      ClientCAPath: caDir, ClientCRL: file('crl.pem', 'crl'),
    } as WorkerConfig,
    logSink: 'stderr',
  };
  const prepared = (): PreparedTls => ({ generation: 3, stamp: filesStamp(src) } as PreparedTls);

  it('holds for the same generation and unchanged files', () => {
    const p = prepared();
    assert.equal(stillCurrent(p, src, 3), p);
    assert.equal(stillCurrent(p, src, 4), undefined);
    assert.equal(stillCurrent(p, src, undefined), undefined);
    assert.equal(stillCurrent(undefined, src, 3), undefined);
  });

  for (const [what, change] of [
    ['the CRL rewritten', () => fs.writeFileSync(src.config.ClientCRL, 'crl two')],
    ['the certificate replaced by rename', () => { fs.writeFileSync(`${src.config.CertFile}.new`, 'c2'); fs.renameSync(`${src.config.CertFile}.new`, src.config.CertFile); }],
    ['a CA added to ClientCAPath', () => fs.writeFileSync(path.join(caDir, `b-${Date.now()}.pem`), 'b')],
    ['a CA in ClientCAPath rewritten', () => fs.writeFileSync(path.join(caDir, 'a.pem'), `a ${Date.now()}`)],
  ] as const) {
    it(`is set aside after ${what}`, () => {
      const p = prepared();
      change();
      assert.equal(stillCurrent(p, src, 3), undefined);
    });
  }

  it('ignores KeyFile, PEM or TPM: only the listener\'s key agent reads it', () => {
    for (const engine of ['', 'tpm']) {
      const s = { ...src, config: { ...src.config, KeyFile: file(`key-${engine}.pem`, 'k'), PrivkeyEngine: engine } as WorkerConfig };
      const p = { generation: 1, stamp: filesStamp(s) } as PreparedTls;
      fs.writeFileSync(s.config.KeyFile, 'k again');
      assert.equal(stillCurrent(p, s, 1), p);
    }
  });
});

describe('the handshake\'s own timeout', () => {
  it('lies past LoginGraceTime, so the grace timer (and its grace-exceeded penalty) always decides', () => {
    const ca = makeCa(path.join(dir, 'hs-ca'));
    const server = issueCert(ca, { cn: 'server', eku: 'serverAuth', fileStem: 'hs-server' });
    const built = (grace: number): number | undefined => buildServerTls({
      config: { CertFile: server.certFile, KeyFile: server.keyFile, ClientCAFile: ca.certFile, ClientCAPath: '', ClientCRL: '', LoginGraceTime: grace } as WorkerConfig,
      logSink: 'stderr',
    }).setup.options.handshakeTimeout;
    // Node's default is 120 s: the default LoginGraceTime's, where it used to win as a noauth.
    assert.equal(built(120), 125_000);
    assert.equal(built(600), 605_000);
    assert.equal(built(0), 2 ** 31 - 1, 'no limit: as long as a timer goes');
    assert.equal(handshakeTimeoutMs(10 ** 9), 2 ** 31 - 1);
  });
});
