// Every way tlsshd refuses a client, each with its error code in the frame the client receives
// and a log line naming the certificate.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as tls from 'node:tls';
import { makeCa, issueCert, makeCrl } from '../helpers/ca';
import {
  isRoot, loginUser, makeServerFixture, runCommand, startTlsshd, type ServerFixture, type TlsshdHandle,
} from '../helpers/server-harness';
import { ALPN_TLSSH2 } from '../../src/protocol/messages';
import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';

let fx: ServerFixture;
let daemon: TlsshdHandle;
const me = loginUser();

before(async () => {
  fx = makeServerFixture('tlsshd-refusals');
  daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, PermitRootLogin: 'no' } });
});
after(async () => {
  await daemon?.stop();
});

async function refusal(d: TlsshdHandle, id: Parameters<typeof runCommand>[1], user = ''): Promise<string | undefined> {
  const r = await runCommand(d.port, id, 'true', { user });
  assert.equal(r.started, undefined, 'no session may start');
  assert.equal(r.exit, undefined);
  return r.error?.code;
}

test('TLS 1.2 is refused in the handshake, with a valid client certificate; TLS 1.3 is what a login gets', async () => {
  const c = fx.client(me.name);
  const attempt = (maxVersion: tls.SecureVersion): Promise<string> => new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1', port: daemon.port, ca: fs.readFileSync(fx.caFile), cert: fs.readFileSync(c.certFile), key: fs.readFileSync(c.keyFile),
      minVersion: 'TLSv1.2', maxVersion, ALPNProtocols: [ALPN_TLSSH2], checkServerIdentity: () => undefined,
    });
    socket.once('secureConnect', () => {
      resolve(`connected ${socket.getProtocol() ?? '?'}`);
      socket.destroy();
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
  });
  assert.match(await attempt('TLSv1.2'), /^error ERR_SSL_(TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL)/);
  assert.equal(await attempt('TLSv1.3'), 'connected TLSv1.3');
});

test('a certificate from another CA is untrusted', async () => {
  const other = makeCa(path.join(fx.dir, 'other-ca'), 'some other CA');
  const c = issueCert(other, { cn: me.name, eku: 'clientAuth' });
  assert.equal(await refusal(daemon, { caFile: fx.caFile, certFile: c.certFile, keyFile: c.keyFile }), 'TLSSH_ERR_CLIENT_CERT_UNTRUSTED');
  await daemon.waitForLog(new RegExp(`refused subject "CN=${me.name}" serial ${c.serial} fingerprint ${c.fingerprint}.*TLSSH_ERR_CLIENT_CERT_UNTRUSTED`));
});

test('a client certificate for serverAuth only is refused for its EKU', async () => {
  assert.equal(await refusal(daemon, fx.client(me.name, 'serverAuth')), 'TLSSH_ERR_CLIENT_EKU');
});

test('a subject with two CNs is refused, even when the first names a real user', async () => {
  for (const cns of [[me.name, 'tlssh-nobody-such-user'], ['tlssh-nobody-such-user', me.name]]) {
    const c = issueCert(fx.ca, { cn: me.name, subjectCns: cns });
    assert.equal(await refusal(daemon, { caFile: fx.caFile, certFile: c.certFile, keyFile: c.keyFile }), 'TLSSH_ERR_CERT_USER', cns.join(', '));
  }
  await daemon.waitForLog(/TLSSH_ERR_CERT_USER: client certificate subject has 2 CNs/);
});

test('a CA certificate is refused as a client certificate, with or without keyUsage', async () => {
  for (const keyUsage of [null, 'critical,keyCertSign,cRLSign', 'critical,digitalSignature,keyCertSign']) {
    const c = issueCert(fx.ca, { cn: me.name, ca: true, keyUsage, eku: 'none' });
    assert.equal(await refusal(daemon, { caFile: fx.caFile, certFile: c.certFile, keyFile: c.keyFile }), 'TLSSH_ERR_CLIENT_CERT_CA', String(keyUsage));
  }
});

test('a keyUsage without digitalSignature is refused naming keyUsage, not extendedKeyUsage', async () => {
  const c = issueCert(fx.ca, { cn: me.name, keyUsage: 'critical,keyEncipherment', eku: 'clientAuth' });
  assert.equal(await refusal(daemon, { caFile: fx.caFile, certFile: c.certFile, keyFile: c.keyFile }), 'TLSSH_ERR_CLIENT_KEY_USAGE');
  await daemon.waitForLog(new RegExp(`serial ${c.serial} .*TLSSH_ERR_CLIENT_KEY_USAGE: client certificate keyUsage \\(keyEncipherment\\)`));
});

test('a leaf certificate without keyUsage or EKU still logs in', async () => {
  const c = issueCert(fx.ca, { cn: me.name, keyUsage: null, eku: 'none' });
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
  try {
    const r = await runCommand(d.port, { caFile: fx.caFile, certFile: c.certFile, keyFile: c.keyFile }, 'true');
    assert.equal(r.exit?.code, 0, r.error?.code);
  } finally {
    await d.stop();
  }
});

test('a CN that names no local user', async () => {
  assert.equal(await refusal(daemon, fx.client('tlssh-nobody-such-user')), 'TLSSH_ERR_NO_SUCH_USER');
});

test('asking for another user than the certificate maps to', async () => {
  assert.equal(await refusal(daemon, fx.client(me.name), 'tlssh-someone-else'), 'TLSSH_ERR_USER_MISMATCH');
});

test('root is refused with PermitRootLogin no', async () => {
  assert.equal(await refusal(daemon, fx.client('root')), 'TLSSH_ERR_ROOT_LOGIN_REFUSED');
});

test('AllowUsers, DenyUsers, AllowGroups and DenyGroups refuse or admit the account, and the log names the list', async () => {
  const primary = execFileSync('id', ['-gn', me.name], { encoding: 'utf8' }).trim();
  const cases: Array<[Record<string, string>, string | undefined]> = [
    [{ DenyUsers: me.name }, 'DenyUsers'],
    [{ AllowUsers: 'tlssh-nobody-such-user' }, 'AllowUsers'],
    [{ AllowUsers: `${me.name}@127.0.0.0/8` }, undefined],
    [{ AllowUsers: `${me.name}@10.0.0.0/8` }, 'AllowUsers'],
    [{ AllowGroups: primary }, undefined],
    [{ DenyGroups: primary }, 'DenyGroups'],
  ];
  for (const [rules, refusedBy] of cases) {
    const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, ...rules } });
    try {
      const r = await runCommand(d.port, fx.client(me.name), 'echo in');
      if (refusedBy === undefined) {
        assert.equal(r.stdout.toString(), 'in\n', `${JSON.stringify(rules)}: ${r.error?.message ?? ''}`);
      } else {
        assert.equal(r.started, undefined, JSON.stringify(rules));
        assert.equal(r.error?.code, 'TLSSH_ERR_LOGIN_NOT_ALLOWED', JSON.stringify(rules));
        // The line names the user in its prefix, as every line after the certificate is mapped.
        await d.waitForLog(new RegExp(`conn \\d+ user ${me.name} from 127\\.0\\.0\\.1 port \\d+: refused .*TLSSH_ERR_LOGIN_NOT_ALLOWED: user ${me.name} is not allowed to log in here \\(${refusedBy}\\)`));
      }
    } finally {
      await d.stop();
    }
  }
});

test('no client certificate at all', async () => {
  const socket = tls.connect({
    host: '127.0.0.1', port: daemon.port, ca: fs.readFileSync(fx.caFile), minVersion: 'TLSv1.3',
    ALPNProtocols: [ALPN_TLSSH2], checkServerIdentity: () => undefined,
  });
  const decoder = new MessageDecoder();
  const codes: string[] = [];
  socket.on('secureConnect', () => socket.write(encodeMessage({ type: 'session-request', user: '', command: 'true', pty: false, term: '', cols: 80, rows: 24, env: [] })));
  socket.on('data', (b: Buffer) => {
    for (const m of decoder.push(b)) if (m.type === 'error') codes.push(m.code);
  });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('close', resolve));
  assert.deepEqual(codes, ['TLSSH_ERR_CLIENT_CERT_MISSING']);
});

test('revoked, expired CRL and missing CRL', async () => {
  const good = fx.client(me.name);
  const revoked = fx.client(me.name);
  const crlFile = path.join(fx.dir, 'client.crl');
  fs.copyFileSync(makeCrl(fx.ca, [revoked.certFile]), crlFile);
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, ClientCRL: crlFile } });
  try {
    assert.equal(await refusal(d, revoked), 'TLSSH_ERR_CLIENT_CERT_REVOKED');
    const ok = await runCommand(d.port, good, 'true');
    assert.equal(ok.exit?.code, 0, `a certificate not on the CRL logs in (${ok.error?.code ?? ''})`);

    // A self-signed certificate is untrusted, not a CRL problem: OpenSSL's last complaint about
    // it is the CRL of an issuer it does not know.
    const selfSigned = { certFile: path.join(fx.dir, 'self.crt'), keyFile: path.join(fx.dir, 'self.key') };
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', `/CN=${me.name}`, '-keyout', selfSigned.keyFile, '-out', selfSigned.certFile,
      '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=clientAuth'], { stdio: 'ignore' });
    assert.equal(await refusal(d, { caFile: fx.caFile, ...selfSigned }), 'TLSSH_ERR_CLIENT_CERT_UNTRUSTED');

    fs.copyFileSync(makeCrl(fx.ca, [], { expired: true }), crlFile);
    assert.equal(await refusal(d, good), 'TLSSH_ERR_CLIENT_CRL');

    fs.rmSync(crlFile);
    assert.equal(await refusal(d, good), 'TLSSH_ERR_CLIENT_CRL');
    // The client is told the server cannot check; the file's name and fault stay in the log.
    const told = await runCommand(d.port, good, 'true');
    assert.equal(told.error?.code, 'TLSSH_ERR_CLIENT_CRL');
    assert.doesNotMatch(told.error?.message ?? '', /client\.crl|no such file/i, 'the CRL file is not named to the client');
    assert.match(told.error?.message ?? '', /revocation list/);
    await d.waitForLog(/TLSSH_ERR_CLIENT_CRL: certificate revocation list unusable: ClientCRL \S*client\.crl: /);

    // Fails closed on every kind of unusable file, each with the same code in an error frame.
    fs.writeFileSync(crlFile, 'not a CRL at all\n');
    assert.equal(await refusal(d, good), 'TLSSH_ERR_CLIENT_CRL', 'no PEM CRL in the file');
    fs.writeFileSync(crlFile, '-----BEGIN X509 CRL-----\nAAAAAAAA\n-----END X509 CRL-----\n');
    assert.equal(await refusal(d, good), 'TLSSH_ERR_CLIENT_CRL', 'a PEM block OpenSSL cannot parse');
    assert.equal(await refusal(d, revoked), 'TLSSH_ERR_CLIENT_CRL', 'a revoked certificate too');
    fs.rmSync(crlFile);
    fs.mkdirSync(crlFile);
    assert.equal(await refusal(d, good), 'TLSSH_ERR_CLIENT_CRL', 'a directory');
    fs.rmdirSync(crlFile);
    await d.waitForLog(/TLSSH_ERR_CLIENT_CRL: certificate revocation list unusable: ClientCRL: OpenSSL cannot parse/);
  } finally {
    await d.stop();
  }
});

test('a CRL missing for a trusted issuer is a CRL problem, not an untrusted certificate: a second CA in ClientCAFile, an intermediate CA', async () => {
  // ClientCRL holds only the first CA's list. A certificate from the bundle's second CA, or from
  // an intermediate under the first, chains to a configured CA; what is missing is its issuer's CRL.
  const second = makeCa(path.join(fx.dir, 'crl-second-ca'), 'second client CA');
  const bundle = path.join(fx.dir, 'two-cas.crt');
  fs.writeFileSync(bundle, fs.readFileSync(fx.caFile, 'latin1') + fs.readFileSync(second.certFile, 'latin1'));
  const crlFile = path.join(fx.dir, 'first-ca.crl');
  fs.copyFileSync(makeCrl(fx.ca, []), crlFile);
  const inter = issueCert(fx.ca, { cn: 'intermediate client CA', ca: true, keyUsage: 'critical,keyCertSign,cRLSign', eku: 'none' });
  const interDir = path.join(fx.dir, 'intermediate-ca');
  fs.mkdirSync(interDir);
  const interCa = { dir: interDir, certFile: inter.certFile, keyFile: inter.keyFile, name: 'intermediate client CA' };
  const underInter = issueCert(interCa, { cn: me.name, eku: 'clientAuth' });
  const chainFile = path.join(fx.dir, 'under-intermediate-chain.crt');
  fs.writeFileSync(chainFile, fs.readFileSync(underInter.certFile, 'latin1') + fs.readFileSync(inter.certFile, 'latin1'));
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, ClientCAFile: bundle, ClientCRL: crlFile } });
  try {
    const ok = await runCommand(d.port, fx.client(me.name), 'true');
    assert.equal(ok.exit?.code, 0, `the first CA's certificate, with its CRL, logs in (${ok.error?.code ?? ''})`);
    const fromSecond = issueCert(second, { cn: me.name, eku: 'clientAuth' });
    assert.equal(await refusal(d, { caFile: fx.caFile, certFile: fromSecond.certFile, keyFile: fromSecond.keyFile }), 'TLSSH_ERR_CLIENT_CRL', 'the second CA');
    assert.equal(await refusal(d, { caFile: fx.caFile, certFile: chainFile, keyFile: underInter.keyFile }), 'TLSSH_ERR_CLIENT_CRL', 'under an intermediate');
  } finally {
    await d.stop();
  }
});

test('a daemon not running as root serves only its own user', { skip: isRoot ? false : 'needs root to start a daemon as another uid' }, async () => {
  // nobody (65534) owns the daemon; the certificate is for root, allowed by PermitRootLogin.
  const fx2 = makeServerFixture('tlsshd-nonroot');
  const d = await startTlsshd({ dir: fx2.dir, config: { ...fx2.config, PermitRootLogin: 'yes' }, uid: 65534, gid: 65534 });
  try {
    assert.equal(await refusal(d, fx2.client('root')), 'TLSSH_ERR_NOT_DAEMON_USER');
  } finally {
    await d.stop();
  }
});
