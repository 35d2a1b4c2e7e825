// A first run has no key and no certificate at the default place: the error says where they come
// from, not only that a file is missing. A path the user chose is reported as it is.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadClientConfig } from '../../src/config/load-client-config';
import { clientTlsOptions } from '../../src/transport/connect';

test('the default certificate missing points at tlssh-keygen; a configured one does not', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-first-run-'));
  try {
    const fresh = loadClientConfig({ host: 'h', file: '/dev/null', home });
    assert.throws(() => clientTlsOptions(fresh), {
      code: 'TLSSH_ERR_TLS_CERT_FILE',
      message: `CertFile ${path.join(home, '.tlssh', 'keys', 'default.crt')}: no such file: no key and certificate yet? tlssh-keygen makes the key and a request for your CA to sign, whose certificate goes there (tlssh-keygen(1), or the README's walkthrough)`,
    });
    const chosen = loadClientConfig({ host: 'h', file: '/dev/null', home, overrides: [`CertFile=${path.join(home, 'x.crt')}`] });
    assert.throws(() => clientTlsOptions(chosen), { code: 'TLSSH_ERR_TLS_CERT_FILE', message: `CertFile ${path.join(home, 'x.crt')}: no such file` });
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
