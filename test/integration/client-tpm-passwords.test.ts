// TPM key passwords as an ssh user expects them: a wrong one is asked again up to
// NumberOfPasswordPrompts times; BatchMode never asks; a key whose file says emptyAuth FALSE
// (as tpm2_encodeobject writes) but that is noDA logs in with no password configured.
// Its own swtpm, since wrong passwords count against the TPM's dictionary-attack limit.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeTss2PrivateKey, parseTss2PrivateKey } from '../../src/tpm';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { TLSSH, errorCodeOf, startFixture, type ClientFixture } from './client-fixture';
import { runWithoutTerminal, tpmClientConfig } from './client-tpm-fixture';
import { testHome } from '../helpers/test-home';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

describe('tlssh TPM key passwords', () => {
  let fx: ClientFixture;
  let tpm: Swtpm;

  const tpmIdentity = (name: string, keyPassword?: string, extra: Record<string, string> = {}, rewrite?: (pem: Buffer) => Buffer): Promise<string> =>
    tpmClientConfig(fx, tpm, name, keyPassword, extra, rewrite);

  /** tpm2_encodeobject's habit: emptyAuth FALSE whatever the key's auth. */
  const sayEmptyAuthFalse = (pem: Buffer): Buffer => {
    const k = parseTss2PrivateKey(pem, 'key');
    return encodeTss2PrivateKey({ emptyAuth: false, parent: k.parent, pub: k.pub, priv: k.priv });
  };

  const run = runWithoutTerminal;

  /** Runs tlssh on a real terminal, typing `answers` at each password prompt in turn. */
  async function onTerminal(args: string[], answers: string[]): Promise<{ code: number; out: string; prompts: number }> {
    const p = nodePty.spawn(process.execPath, [TLSSH, ...args], { name: 'xterm', cols: 200, rows: 24, env: { ...process.env, HOME: testHome() } as Record<string, string> });
    let out = '';
    p.onData((d) => (out += d));
    const exit = new Promise<number>((resolve) => p.onExit((e) => resolve(e.exitCode)));
    let prompts = 0;
    let done = false;
    void exit.then(() => (done = true));
    const deadline = Date.now() + 60_000;
    while (!done && Date.now() < deadline) {
      const seen = out.split('Enter password for TPM key').length - 1;
      if (seen > prompts) {
        prompts = seen;
        p.write(`${answers[prompts - 1] ?? ''}\r`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return { code: await exit, out, prompts };
  }

  before(async () => {
    fx = await startFixture();
    tpm = await startSwtpm();
  });
  after(async () => {
    await tpm?.stop();
    await fx?.stop();
  });

  it('logs in with a noDA key whose file says emptyAuth FALSE, with no password and no terminal', async () => {
    const conf = await tpmIdentity('encodeobject', undefined, {}, sayEmptyAuthFalse);
    assert.equal(parseTss2PrivateKey(fs.readFileSync(path.join(fx.dir, 'encodeobject.tss2')), 'k').emptyAuth, false);
    const r = await run(['-c', conf, 'localhost', 'echo empty-ok']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'empty-ok\n');
  });

  it('keeps refusing, without a guess, a DA-protected key that needs a password when there is no terminal', async () => {
    const conf = await tpmIdentity('da-no-tty', 'da secret');
    const r = await run(['-c', conf, '-v', 'localhost', 'true']);
    assert.equal(r.code, 255);
    assert.equal(errorCodeOf(r.err), 'TLSSH_ERR_TTY', r.err);
  });

  it('BatchMode=yes never asks for the password: it fails in one line', async () => {
    const conf = await tpmIdentity('batch', 'batch secret');
    const t = await onTerminal(['-c', conf, '-v', '-o', 'BatchMode=yes', 'localhost', 'true'], []);
    assert.equal(t.code, 255, t.out);
    assert.equal(t.prompts, 0, t.out);
    assert.match(t.out, /BatchMode.*\(TLSSH_ERR_TTY\)/);
  });

  it('says there is no TPM before asking for the key\'s password', { skip: fs.existsSync('/dev/tpmrm0') || fs.existsSync('/dev/tpm0') ? 'this machine has a TPM device' : false }, async () => {
    const withTcti = await tpmIdentity('no-tpm', 'a secret');
    const conf = path.join(fx.dir, 'no-tpm-anywhere.conf');
    fs.writeFileSync(conf, fs.readFileSync(withTcti, 'utf8').split('\n').filter((l) => !/^\s*TpmTcti\b/i.test(l)).join('\n'), { mode: 0o600 });
    const t = await onTerminal(['-c', conf, 'localhost', 'true'], ['never typed']);
    assert.equal(t.code, 255, t.out);
    assert.equal(t.prompts, 0, t.out);
    assert.match(t.out, /no TPM found \(tried \/dev\/tpmrm0, \/dev\/tpm0\)/);
  });

  it('asks again after a wrong password, saying how many tries are left, and logs in with the right one', async () => {
    const conf = await tpmIdentity('retry', 'right secret');
    const t = await onTerminal(['-c', conf, 'localhost', 'echo retry-$((6*7))'], ['wrong secret', 'right secret']);
    assert.equal(t.code, 0, t.out);
    assert.equal(t.prompts, 2, t.out);
    // The TPM's own count, read from the chip: swtpm's default limit less the one failure so far.
    assert.match(t.out, /Wrong password for TPM key .*retry\.tss2; 2 tries left \(the TPM locks out after \d+ more wrong passwords\)\./);
    assert.match(t.out, /retry-42/);
  });

  it('gives up after NumberOfPasswordPrompts wrong passwords, in one line', async () => {
    const conf = await tpmIdentity('giveup', 'right secret', { NumberOfPasswordPrompts: '2' });
    const t = await onTerminal(['-c', conf, '-v', 'localhost', 'true'], ['wrong 1', 'wrong 2', 'never typed']);
    assert.equal(t.code, 255, t.out);
    assert.equal(t.prompts, 2, t.out);
    assert.match(t.out, /1 try left \(the TPM locks out after \d+ more wrong passwords?\)\./);
    assert.match(t.out, /tlssh: wrong password for TPM key .*giveup\.tss2, 2 times; giving up \(TLSSH_ERR_TPM_AUTH\)/);
  });
});
