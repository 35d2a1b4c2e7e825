import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseHandle, planFromArgv } from '../../src/keygen/cli-options';

test('a TPM key defaults to ECC P-256 under the owner-hierarchy primary, no password unless supplied', () => {
  const p = planFromArgv(['--tpm', '-o', 'k.tss']);
  assert.deepEqual(
    { where: p.create?.where, type: p.create?.type, bits: p.create?.bits, password: p.create?.password, parent: p.tpm.parent },
    { where: 'tpm', type: 'ec', bits: 256, password: 'if-scripted', parent: 0x40000001 },
  );
});

test('TPM key shapes: --ecc, --rsa, and -t/-b', () => {
  assert.equal(planFromArgv(['--tpm', '-o', 'k', '--ecc', 'P-384']).create?.bits, 384);
  const rsa = planFromArgv(['--tpm', '-o', 'k', '--rsa', '3072']).create;
  assert.deepEqual([rsa?.type, rsa?.bits], ['rsa', 3072]);
  const tb = planFromArgv(['--tpm', '-o', 'k', '-t', 'rsa']).create;
  assert.deepEqual([tb?.type, tb?.bits], ['rsa', 2048]);
  const file = planFromArgv(['-o', 'k', '-t', 'rsa']).create;
  assert.deepEqual([file?.where, file?.type, file?.bits], ['file', 'rsa', 3072]);
  // ssh-keygen's name for the type, in either case.
  const ecdsa = planFromArgv(['-o', 'k', '-t', 'ECDSA', '-b', '384']).create;
  assert.deepEqual([ecdsa?.where, ecdsa?.type, ecdsa?.bits], ['file', 'ec', 384]);
  assert.equal(planFromArgv(['-o', 'k', '-b', '521']).create?.bits, 521);
});

test('without -o a new key goes to tlssh\'s default KeyFile; --ecc/--rsa imply --tpm', () => {
  const p = planFromArgv(['--tpm']);
  assert.equal(p.create?.out, path.join(homedir(), '.tlssh', 'keys', 'default.key'));
  assert.equal(p.create?.defaultOut, true);
  assert.equal(planFromArgv(['-o', 'k', '--ecc', 'P-384']).create?.where, 'tpm');
  assert.equal(planFromArgv(['--rsa', '2048']).create?.where, 'tpm');
  const file = planFromArgv(['-t', 'rsa']).create;
  assert.deepEqual([file?.where, file?.defaultOut], ['file', true]);
  assert.equal(planFromArgv(['-o', 'k']).create?.defaultOut, false);
});

test('password choices', () => {
  assert.equal(planFromArgv(['--tpm', '-o', 'k', '--password']).create?.password, 'ask');
  assert.equal(planFromArgv(['--tpm', '-o', 'k', '--no-password']).create?.password, 'none');
  assert.equal(planFromArgv(['--tpm', '-o', 'k', '--password-fd', '3']).passwordFd, 3);
  assert.equal(planFromArgv(['--tpm', '-o', 'k', '--srk-password-fd', '4']).tpm.srkPasswordFd, 4);
});

test('a server request without --san gets DNS:<CN>; an IP CN becomes IP:', () => {
  const p = planFromArgv(['--csr', 'r', '--key', 'k', '--subject', '/CN=shell.example.com', '--server']);
  assert.deepEqual(p.csr?.san.map((e) => `${e.kind}:${e.value}`), ['DNS:shell.example.com']);
  assert.deepEqual(p.csr?.purposes, ['server']);
  const ip = planFromArgv(['--csr', 'r', '--key', 'k', '--subject', '/CN=192.0.2.7', '--server']);
  assert.deepEqual(ip.csr?.san.map((e) => e.kind), ['IP']);
  const both = planFromArgv(['--csr', 'r', '--key', 'k', '--subject', '/CN=a', '--client', '--server', '--san', 'DNS:a', '--san', 'DNS:b']);
  assert.deepEqual(both.csr?.san.map((e) => e.value), ['a', 'b']);
  assert.deepEqual(both.csr?.purposes, ['client', 'server']);
});

test('create and request in one command signs with the new key', () => {
  const p = planFromArgv(['--tpm', '-o', 'k.tss', '--csr', 'k.csr', '--subject', '/CN=alice', '--client']);
  assert.equal(p.create?.out, 'k.tss');
  assert.equal(p.csr?.key, undefined);
});

test('parent handles', () => {
  assert.equal(parseHandle('0x81000001'), 0x81000001);
  assert.equal(parseHandle('0x40000001'), 0x40000001);
  assert.equal(parseHandle('2164260865'), 0x81000001);
  for (const bad of ['0x80000001', '0x01', 'srk', '0x1ffffffff', '']) assert.throws(() => parseHandle(bad), { code: 'TLSSH_ERR_USAGE' }, bad);
});

test("ssh-keygen's own key types get the reason they are not made, not a list of choices", () => {
  for (const t of ['ed25519', 'dsa', 'ecdsa-sk', 'ed25519-sk']) {
    assert.throws(() => planFromArgv(['-o', 'k', '-t', t]), { code: 'TLSSH_ERR_USAGE', message: new RegExp(`^${t} keys are not made: tlssh keys are ECDSA or RSA, what TPM 2\\.0 chips sign with`) }, t);
  }
  assert.throws(() => planFromArgv(['-o', 'k', '-t', 'x25519']), { code: 'TLSSH_ERR_USAGE', message: '-t takes ec (or ecdsa) or rsa, not "x25519"' });
});

test('every inconsistent command line is a usage error', () => {
  const bad: string[][] = [
    ['--bogus'],
    ['extra-argument'],
    ['--tpm', '-o', 'k', '--ecc', 'P-521'],
    ['--tpm', '-o', 'k', '--rsa', '4096'],
    ['--tpm', '-o', 'k', '--ecc', 'P-256', '--rsa', '2048'],
    ['--tpm', '-o', 'k', '-b', '521'],
    ['-o', 'k', '-b', '1024', '-t', 'rsa'],
    ['-o', 'k', '-t', 'dsa'],
    ['--wrap', 'x.pem', '-o', 'k', '-t', 'rsa'],
    ['--tpm', '-o', 'k', '--no-password', '--password-fd', '3'],
    ['--tpm', '-o', 'k', '--password-fd', 'three'],
    ['--tpm', '-o', 'k', '--parent', '0x80000000'],
    ['--csr', 'r', '--subject', '/CN=a'],
    ['--csr', 'r', '--key', 'k'],
    ['--csr', 'r', '--key', 'k', '--subject', 'CN=a'],
    ['--csr', 'r', '--key', 'k', '--subject', '/O=x', '--server'],
    ['--csr', 'r', '--key', 'k', '--subject', '/CN=a', '--san', 'host'],
    ['--key', 'k'],
    ['--subject', '/CN=a'],
    ['--server'],
    ['-l', 'k', '-o', 'x'],
    ['-l', 'k', '--csr', 'r'],
    ['-o', 'x', '--key', 'k', '--csr', 'r', '--subject', '/CN=a'],
  ];
  for (const argv of bad) assert.throws(() => planFromArgv(argv), { code: 'TLSSH_ERR_USAGE' }, argv.join(' '));
});

test("ssh-keygen's habits: -f is the output, no arguments is the default key, -l and -y print", () => {
  assert.equal(planFromArgv(['-f', 'k']).create?.out, 'k');
  assert.equal(planFromArgv(['-f', 'k']).create?.where, 'file');
  assert.throws(() => planFromArgv(['-f', 'k', '-o', 'j']), { code: 'TLSSH_ERR_USAGE' });
  const bare = planFromArgv([]).create;
  assert.deepEqual([bare?.where, bare?.defaultOut, bare?.out], ['auto', true, path.join(homedir(), '.tlssh', 'keys', 'default.key')]);
  assert.equal(planFromArgv(['--password']).create?.where, 'auto');
  assert.deepEqual([planFromArgv(['-l', 'k']).print, planFromArgv(['-l', 'k']).printPublic], ['k', false]);
  assert.deepEqual([planFromArgv(['-y', 'k']).print, planFromArgv(['-y', 'k']).printPublic], ['k', true]);
  // -o names the file to read as -f does: tlssh-keygen's own spelling of the key's name.
  assert.deepEqual([planFromArgv(['-l', '-o', 'k']).print, planFromArgv(['-l', '-f', 'k']).print, planFromArgv(['-y', '-o', 'k']).print], ['k', 'k', 'k']);
  assert.throws(() => planFromArgv(['-y', 'k', '-f', 'x']), { code: 'TLSSH_ERR_USAGE' });
});
