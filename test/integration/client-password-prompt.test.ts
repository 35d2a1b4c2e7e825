// The key password prompt: read from the controlling terminal without echo, line editing,
// ^C, a clear refusal without any terminal, and an encrypted key used end to end by tlssh.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TLSSH, startFixture, type ClientFixture } from './client-fixture';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodePty = require('node-pty') as typeof import('node-pty');

const PROMPT_MODULE = path.resolve(__dirname, '..', '..', 'src', 'client', 'password-prompt.js');
const WAIT_MS = 20_000;

/** A script that records stty -g, asks, records stty -g again, and reports. */
const SCRIPT = `
const { execFileSync } = require('node:child_process');
const stty = () => execFileSync('stty', ['-g'], { stdio: ['inherit', 'pipe', 'ignore'] }).toString();
const before = stty();
require(${JSON.stringify(PROMPT_MODULE)}).promptPassword('Secret please: ').then(
  (p) => { console.log('GOT=' + Buffer.from(p).toString('hex') + ' MODES=' + (stty() === before ? 'same' : 'changed')); },
  (e) => { console.log('ERR=' + e.code + ' MODES=' + (stty() === before ? 'same' : 'changed')); process.exitCode = 1; });
`;

function inPty(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): { out: () => string; type: (s: string) => void; waitFor: (re: RegExp) => Promise<void>; exit: Promise<number>; signal: Promise<number | undefined> } {
  const p = nodePty.spawn(file, args, { name: 'xterm', cols: 80, rows: 24, env: env as Record<string, string> });
  let out = '';
  p.onData((d) => {
    out += d;
  });
  const ended = new Promise<{ exitCode: number; signal?: number }>((resolve) => p.onExit(resolve));
  const exit = ended.then((e) => e.exitCode);
  return {
    out: () => out,
    type: (s) => p.write(s),
    waitFor: async (re) => {
      const deadline = Date.now() + WAIT_MS;
      while (!re.test(out)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exit,
    signal: ended.then((e) => e.signal || undefined),
  };
}

describe('password prompt', () => {
  it('reads a line from the terminal without echo, with backspace, and restores the modes', async () => {
    const t = inPty(process.execPath, ['-e', SCRIPT]);
    await t.waitFor(/Secret please: /);
    t.type('s3creX\x7ft\r');
    await t.waitFor(/GOT=/);
    assert.equal(await t.exit, 0);
    assert.match(t.out(), new RegExp(`GOT=${Buffer.from('s3cret').toString('hex')} MODES=same`));
    assert.doesNotMatch(t.out(), /s3cre/, 'nothing typed is echoed');
  });

  it('^U clears what was typed', async () => {
    const t = inPty(process.execPath, ['-e', SCRIPT]);
    await t.waitFor(/Secret please: /);
    t.type('wrong\x15right\r');
    await t.waitFor(/GOT=/);
    assert.match(t.out(), new RegExp(`GOT=${Buffer.from('right').toString('hex')} `));
  });

  it('^C ends the prompt with TLSSH_ERR_TTY and restores the modes', async () => {
    const t = inPty(process.execPath, ['-e', SCRIPT]);
    await t.waitFor(/Secret please: /);
    t.type('abc\x03');
    await t.waitFor(/ERR=/);
    assert.equal(await t.exit, 1);
    assert.match(t.out(), /ERR=TLSSH_ERR_TTY MODES=same/);
  });

  it('fails with TLSSH_ERR_TTY at once when there is no terminal at all', async () => {
    const child = spawn(process.execPath, ['-e', SCRIPT.replace(/const before = stty\(\);/, 'const before = "";').replace(/stty\(\) === before/g, 'true')], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 1);
    assert.match(out, /ERR=TLSSH_ERR_TTY/);
  });
});

describe('tlssh with an encrypted key', () => {
  let fx: ClientFixture;
  let encConfig: string;
  before(async () => {
    fx = await startFixture();
    const encKey = path.join(fx.dir, 'client-encrypted.key');
    execFileSync('openssl', ['pkey', '-in', fx.client.keyFile, '-aes256', '-passout', 'pass:open sesame', '-out', encKey]);
    fs.chmodSync(encKey, 0o600);
    encConfig = path.join(fx.dir, 'tlssh-enc.conf');
    fs.writeFileSync(encConfig, fs.readFileSync(fx.configFile, 'utf8').replace(/^KeyFile .*$/m, `KeyFile ${encKey}`), { mode: 0o600 });
  });
  after(async () => {
    await fx?.stop();
  });

  it('asks for the passphrase on the terminal and logs in with it', async () => {
    const t = inPty(process.execPath, [TLSSH, '-c', encConfig, 'localhost', 'echo logged-in-$((2*21))']);
    await t.waitFor(/Enter passphrase for key .*client-encrypted\.key: /);
    t.type('open sesame\r');
    await t.waitFor(/logged-in-42/);
    assert.equal(await t.exit, 0);
    assert.doesNotMatch(t.out(), /open sesame/);
  });

  it('asks again after a wrong passphrase, as ssh does, and gives up after NumberOfPasswordPrompts', async () => {
    const t = inPty(process.execPath, [TLSSH, '-c', encConfig, 'localhost', 'echo second-$((2*21))']);
    await t.waitFor(/Enter passphrase for key .*client-encrypted\.key: /);
    t.type('not it\r');
    await t.waitFor(/Wrong passphrase for key .*client-encrypted\.key; 2 tries left\./);
    t.type('open sesame\r');
    await t.waitFor(/second-42/);
    assert.equal(await t.exit, 0);

    const g = inPty(process.execPath, [TLSSH, '-c', encConfig, '-v', '-o', 'NumberOfPasswordPrompts=2', 'localhost', 'true']);
    await g.waitFor(/Enter passphrase for key /);
    g.type('wrong 1\r');
    await g.waitFor(/1 try left\./);
    g.type('wrong 2\r');
    assert.equal(await g.exit, 255);
    assert.match(g.out(), /tlssh: wrong passphrase for key .*client-encrypted\.key, 2 times; giving up \(TLSSH_ERR_TLS_KEY\)/);
  });

  it('^C at the passphrase prompt: tlssh dies of SIGINT as ssh does, with the terminal restored and no error line', async () => {
    const script = `before=$(stty -g); "$0" '${TLSSH}' -c '${encConfig}' localhost true; st=$?; [ "$(stty -g)" = "$before" ] && m=same || m=changed; echo "status=$st modes=$m"`;
    const t = inPty('bash', ['-c', script, process.execPath]);
    await t.waitFor(/Enter passphrase for key /);
    t.type('half\x03');
    await t.waitFor(/status=/);
    assert.equal(await t.exit, 0);
    assert.match(t.out(), new RegExp(`status=${128 + constants.signals.SIGINT} modes=same`));
    assert.doesNotMatch(t.out(), /tlssh:|TLSSH_ERR/);
  });

  async function runDetached(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    const run = spawn(process.execPath, [TLSSH, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    run.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    run.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => run.once('close', resolve));
    return { code, out, err };
  }

  function configWithPassword(name: string, mode: number): string {
    const file = path.join(fx.dir, name);
    fs.writeFileSync(file, `${fs.readFileSync(encConfig, 'utf8')}PrivkeyPassword open sesame\n`, { mode });
    fs.chmodSync(file, mode);
    return file;
  }

  it('does not ask when the config gives PrivkeyPassword', async () => {
    const r = await runDetached(['-c', configWithPassword('tlssh-pw.conf', 0o600), 'localhost', 'echo ok']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'ok\n');
    assert.equal(r.err, '');
  });

  it('warns when the config file holding a password is readable by others, and goes on', async () => {
    const file = configWithPassword('tlssh-pw-open.conf', 0o644);
    const r = await runDetached(['-c', file, 'localhost', 'echo ok']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'ok\n');
    const lines = r.err.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.err);
    assert.ok(lines[0]!.startsWith('tlssh: warning: ') && lines[0]!.includes(file), r.err);
  });

  it('fails in one line with status 255 when it would have to ask but has no terminal', async () => {
    const run = spawn(process.execPath, [TLSSH, '-c', encConfig, '-v', 'localhost', 'true'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    run.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => run.once('close', resolve));
    assert.equal(code, 255);
    assert.match(err.trimEnd().split('\n').pop() ?? '', /\(TLSSH_ERR_TTY\)$/);
  });
});
