// Names in certificates are the peer's text. Whatever a terminal would obey in them (ESC, the
// one-character CSI U+009B, BEL, bidirectional overrides) never reaches the client's terminal or
// the daemon's log: the client's refusal of a server with an untrusted issuer quotes that
// issuer's name, and the daemon logs the subject of every client certificate it is shown.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { issueCert, makeCa, makeTempDir, type Ca } from '../helpers/ca';
import { loginUser, startTlsshd, type TlsshdHandle } from '../helpers/server-harness';
import { errorCodeOf, runTlssh } from './client-fixture';

const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const me = loginUser();
let dir: string;
let ca: Ca;
const daemons: TlsshdHandle[] = [];

before(() => {
  dir = makeTempDir('tlssh-hostile-names');
  fs.chmodSync(dir, 0o755);
  ca = makeCa(path.join(dir, 'ca'));
});
after(async () => {
  for (const d of daemons) await d.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the client\'s refusal of an untrusted server quotes its issuer with the controls replaced', async () => {
  // Made with openssl directly: the test CA helper refuses control characters in names.
  const evilDir = path.join(dir, 'evil');
  fs.mkdirSync(evilDir);
  const evil: Ca = { dir: evilDir, certFile: path.join(evilDir, 'ca.crt'), keyFile: path.join(evilDir, 'ca.key'), name: 'evil' };
  execFileSync('openssl', [
    'req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-utf8',
    '-keyout', evil.keyFile, '-out', evil.certFile, '-days', '30',
    '-subj', '/CN=Evil\x1b]0;PWNED\x07\u009b2J\u202eCA',
    '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], { stdio: 'ignore' });
  const server = issueCert(evil, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth' });
  const d = await startTlsshd({ dir, config: { CertFile: server.certFile, KeyFile: server.keyFile, ClientCAFile: ca.certFile, ...me.config } });
  daemons.push(d);
  const client = issueCert(ca, { cn: me.name });
  const conf = path.join(dir, 'client.conf');
  fs.writeFileSync(conf, `Port ${d.port}\nServerCAFile ${ca.certFile}\nCertFile ${client.certFile}\nKeyFile ${client.keyFile}\n`, { mode: 0o600 });
  for (const verbose of [[], ['-vvv']]) {
    const r = await runTlssh(['-c', conf, ...verbose, '127.0.0.1', 'true']);
    assert.equal(r.status, 255, r.stderr);
    if (verbose.length > 0) assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_SERVER_CERT_UNTRUSTED', r.stderr);
    assert.match(r.stderr, /issued by "CN=Evil\?\]0;PWNED\?\?2J\?CA"/);
    assert.doesNotMatch(r.stderr, UNSAFE, JSON.stringify(r.stderr));
  }
});

test('the daemon logs a client certificate\'s subject with the controls replaced', async () => {
  const d = await startTlsshd({ dir, config: { ...serverFiles(), ClientCAFile: ca.certFile, ...me.config } });
  daemons.push(d);
  // A CN that maps to no user: the login is refused, and the subject is logged on the way.
  const client = issueCert(ca, { cn: 'evil\u009b31m\u202eresu', fileStem: 'evil-client' });
  const conf = path.join(dir, 'evil-client.conf');
  fs.writeFileSync(conf, `Port ${d.port}\nServerCAFile ${ca.certFile}\nCertFile ${client.certFile}\nKeyFile ${client.keyFile}\n`, { mode: 0o600 });
  const r = await runTlssh(['-c', conf, '127.0.0.1', 'true']);
  assert.equal(r.status, 255, r.stderr);
  const line = await d.waitForLog(/evil\?31m\?resu/);
  assert.doesNotMatch(line, UNSAFE, JSON.stringify(line));
  assert.doesNotMatch(d.logs(), /\u009b|\u202e/, 'no line of the log carries them');
});

let files: { CertFile: string; KeyFile: string } | undefined;
function serverFiles(): { CertFile: string; KeyFile: string } {
  if (!files) {
    const s = issueCert(ca, { cn: 'localhost', san: ['IP:127.0.0.1'], eku: 'serverAuth', fileStem: 'good-server' });
    files = { CertFile: s.certFile, KeyFile: s.keyFile };
  }
  return files;
}
