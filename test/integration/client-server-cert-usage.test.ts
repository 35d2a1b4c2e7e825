// tlssh refuses a server certificate whose keyUsage forbids signing, which OpenSSL's own purpose
// check lets through (keyEncipherment suffices for it), naming keyUsage in the refusal.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { issueCert, makeCa, makeTempDir, type Ca } from '../helpers/ca';
import { loginUser, startTlsshd, type TlsshdHandle } from '../helpers/server-harness';
import { TLSSH, errorCodeOf, runTlssh } from './client-fixture';

let dir: string;
let ca: Ca;
const me = loginUser();
const daemons: TlsshdHandle[] = [];

before(() => {
  dir = makeTempDir('tlssh-server-usage');
  fs.chmodSync(dir, 0o755);
  ca = makeCa(path.join(dir, 'ca'));
});
after(async () => {
  for (const d of daemons) await d.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function clientAgainst(keyUsage: string | null): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const server = issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth', keyUsage });
  const d = await startTlsshd({ dir, config: { CertFile: server.certFile, KeyFile: server.keyFile, ClientCAFile: ca.certFile, ...me.config } });
  daemons.push(d);
  const client = issueCert(ca, { cn: me.name });
  const conf = path.join(dir, `tlssh-${d.port}.conf`);
  fs.writeFileSync(conf, `Port ${d.port}\nServerCAFile ${ca.certFile}\nCertFile ${client.certFile}\nKeyFile ${client.keyFile}\n`, { mode: 0o600 });
  const r = await runTlssh(['-c', conf, '-v', '127.0.0.1', 'echo ran']);
  return { status: r.status, stderr: r.stderr, stdout: r.stdout.toString() };
}

test('a server certificate with keyUsage keyEncipherment only is refused as TLSSH_ERR_SERVER_KEY_USAGE', async () => {
  assert.ok(fs.existsSync(TLSSH));
  const r = await clientAgainst('critical,keyEncipherment');
  assert.equal(r.status, 255, r.stderr);
  assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_KEY_USAGE', r.stderr);
  assert.equal(r.stdout, '');
});

test('the control: without keyUsage, or with digitalSignature, it serves', async () => {
  for (const ku of [null, 'critical,digitalSignature,keyEncipherment']) {
    const r = await clientAgainst(ku);
    assert.equal(r.status, 0, `${String(ku)}: ${r.stderr}`);
    assert.equal(r.stdout, 'ran\n');
  }
});

test('a server certificate for client authentication only is refused as TLSSH_ERR_SERVER_EKU', async () => {
  // tlsshd itself refuses to start with one (tlsshd -t), so a bare TLS server presents it.
  const server = issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'clientAuth' });
  const srv = tls.createServer({ key: fs.readFileSync(server.keyFile), cert: fs.readFileSync(server.certFile), minVersion: 'TLSv1.3' }, (c) => c.end());
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  try {
    const port = (srv.address() as { port: number }).port;
    const client = issueCert(ca, { cn: me.name });
    const conf = path.join(dir, 'tlssh-eku.conf');
    fs.writeFileSync(conf, `Port ${port}\nServerCAFile ${ca.certFile}\nCertFile ${client.certFile}\nKeyFile ${client.keyFile}\n`, { mode: 0o600 });
    const r = await runTlssh(['-c', conf, '-v', '127.0.0.1', 'echo ran']);
    assert.equal(r.status, 255, r.stderr);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_EKU', r.stderr);
    assert.match(r.stderr, /server certificate of 127\.0\.0\.1 is not for server authentication \(extendedKeyUsage\)/);
  } finally {
    srv.close();
  }
});
