// tlssh's processes start node with NODE_TRUST_FLAG and build node's default CA store empty
// before their first TLS context (src/transport/default-trust.ts): node then never parses the
// root certificates compiled into it, and trust stays what the configuration names. These tests
// run a child node that trusts a test CA only through SSL_CERT_FILE, which is what node's default
// store would hold under the flag: connecting with the default store must fail after
// emptyDefaultTrust() and succeed without it (so the test can see the difference at all).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { NODE_TRUST_FLAG } from '../../src/launcher/node-trust-flag';
import { issueCert, makeCa, makeTempDir } from '../helpers/ca';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MODULE = path.join(ROOT, 'dist', 'src', 'transport', 'default-trust.js');
const dir = makeTempDir('tlssh-default-trust');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const ca = makeCa(dir);
const leaf = issueCert(ca, { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'] });

// The child: optionally empties the default store, then serves the leaf and connects to it with
// node's default store (no `ca`), and prints what it saw.
const CHILD = `
const tls = require('node:tls');
const fs = require('node:fs');
if (process.argv[1] === 'empty') require(${JSON.stringify(MODULE)}).emptyDefaultTrust();
const env = { file: process.env.SSL_CERT_FILE ?? null, dir: process.env.SSL_CERT_DIR ?? null };
const server = tls.createServer({ cert: fs.readFileSync(${JSON.stringify(leaf.certFile)}), key: fs.readFileSync(${JSON.stringify(leaf.keyFile)}) }, (s) => s.end());
server.listen(0, '127.0.0.1', () => {
  const s = tls.connect({ port: server.address().port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false }, () => {
    process.stdout.write(JSON.stringify({ authorized: s.authorized, error: String(s.authorizationError ?? ''), env }));
    s.destroy();
    server.close();
  });
});
`;

function child(mode: 'empty' | 'as-is'): { authorized: boolean; error: string; env: { file: string | null; dir: string | null } } {
  const env: NodeJS.ProcessEnv = { ...process.env, SSL_CERT_FILE: ca.certFile };
  delete env['SSL_CERT_DIR'];
  delete env['NODE_EXTRA_CA_CERTS'];
  const r = spawnSync(process.execPath, [NODE_TRUST_FLAG, '-e', CHILD, mode], { encoding: 'utf8', timeout: 30_000, env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof child>;
}

test('without emptyDefaultTrust, node under the flag trusts what SSL_CERT_FILE holds (the test can tell)', () => {
  const r = child('as-is');
  assert.equal(r.authorized, true, r.error);
});

test('emptyDefaultTrust leaves the default store empty for the life of the process', () => {
  const r = child('empty');
  assert.equal(r.authorized, false);
  assert.match(r.error, /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to get local issuer/i);
});

test('emptyDefaultTrust gives SSL_CERT_FILE and SSL_CERT_DIR back as they were, set or not', () => {
  const r = child('empty');
  assert.deepEqual(r.env, { file: ca.certFile, dir: null });
});

test('the programs start node with the flag (bin-entry-points runs each start and reads node\'s flags)', () => {
  for (const program of ['tlssh', 'tlsshd', 'tlssh-keygen', 'tlsshctl']) {
    // The #! line, or for bin/tlssh the line for sh after it, which execs node.
    const [first, second] = fs.readFileSync(path.join(ROOT, 'bin', program), 'utf8').split('\n');
    const start = second?.startsWith('":" //;') ? second : first!;
    assert.ok(start.split(/\s+/).includes(NODE_TRUST_FLAG), `bin/${program}: ${start}`);
  }
});

test('the workers, the detached listener and the connection-sharing master start with it too', async () => {
  const { TLSSHD_EXEC_ARGV } = await import('../../src/server/listener');
  const { masterArgv } = await import('../../src/client/mux-route');
  assert.ok(TLSSHD_EXEC_ARGV.includes(NODE_TRUST_FLAG), TLSSHD_EXEC_ARGV.join(' '));
  assert.ok(masterArgv().includes(NODE_TRUST_FLAG), masterArgv().join(' '));
});
