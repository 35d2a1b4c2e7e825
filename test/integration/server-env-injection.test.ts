// AcceptEnv * still never lets a client make the session's shell run code before the command:
// the classic injections through SHELLOPTS/PS4, BASH_ENV and ENV, against a real tlsshd and bash.
// As root the session user is a throw-away one: bash ignores an inherited PS4 when it runs as
// root, so only an ordinary user shows the attack.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { connectClient, isRoot, loginUser, makeServerFixture, processesOf, runCommand, sessionRequest, startTlsshd, type ServerFixture, type TlsshdHandle } from '../helpers/server-harness';

let fx: ServerFixture;
let daemon: TlsshdHandle;
let user = loginUser().name;
let scratch: string;

before(async () => {
  fx = makeServerFixture('tlsshd-env-injection');
  scratch = path.join(fx.dir, 'scratch');
  fs.mkdirSync(scratch, { mode: 0o777 });
  fs.chmodSync(scratch, 0o777);
  if (isRoot) {
    user = `hardening-env-${randomBytes(3).toString('hex')}`;
    execFileSync('useradd', ['-m', '-s', '/bin/bash', user]);
  }
  daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, AcceptEnv: '*' } });
});
after(async () => {
  await daemon?.stop();
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    for (const pid of processesOf(uid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    execFileSync('userdel', ['-r', user], { stdio: 'ignore' });
  }
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

test('SHELLOPTS=xtrace with a PS4 command substitution, BASH_ENV and ENV run nothing', async () => {
  const marker = (n: string): string => path.join(scratch, `injected-${n}`);
  const script = path.join(scratch, 'startup.sh');
  fs.writeFileSync(script, `touch ${marker('startup')}\n`, { mode: 0o755 });
  const r = await runCommand(daemon.port, fx.client(user), 'true; echo "FOO=$FOO"', {
    user: '',
    env: [
      ['SHELLOPTS', 'xtrace'],
      ['PS4', `$(touch ${marker('ps4')})+ `],
      ['BASH_ENV', script],
      ['ENV', script],
      ['FOO', 'passed'],
    ],
  });
  assert.equal(r.exit?.code, 0, `the command ran (${r.error?.code ?? ''})`);
  // The control: AcceptEnv * does let an ordinary variable through, so the others were filtered.
  assert.equal(r.stdout.toString(), 'FOO=passed\n');
  assert.equal(fs.existsSync(marker('ps4')), false, 'PS4 ran a command');
  assert.equal(fs.existsSync(marker('startup')), false, 'BASH_ENV/ENV ran a script');
  assert.doesNotMatch(r.stderr.toString(), /^\+/m, 'xtrace was on');
});

test("MAILPATH's message, which bash expands like a prompt, runs nothing in an interactive login", async () => {
  const mailbox = path.join(scratch, 'mailbox');
  const marker = path.join(scratch, 'injected-mailpath');
  fs.writeFileSync(mailbox, 'old mail\n', { mode: 0o644 });
  // Long ago, so that the append below is a change even within the shell's first second.
  fs.utimesSync(mailbox, new Date(2000, 0, 1), new Date(2000, 0, 1));
  const s = connectClient(daemon.port, fx.client(user), sessionRequest({
    pty: true, term: 'xterm', cols: 80, rows: 24,
    env: [['MAILCHECK', '0'], ['MAILPATH', `${mailbox}?$(touch ${marker})`], ['FOO', 'passed']],
  }));
  try {
    await s.waitFor('session-started', 20_000);
    // The quotes keep the typed line (echoed by the terminal) from matching the output. The
    // shell's own MAILCHECK=0 makes it check before every prompt, so that MAILPATH alone, let
    // through, would run its message whether or not the filter also let MAILCHECK through.
    s.write('MAILCHECK=0; echo "R1-$FOO"\n');
    await s.waitForStdout((o) => o.includes('R1-passed'), 20_000);
    fs.appendFileSync(mailbox, 'new mail\n');
    // bash keeps whole seconds: a change in the second the shell started could pass unseen.
    fs.utimesSync(mailbox, new Date(2000, 0, 1), new Date(Date.now() + 5000));
    // bash checks for mail before each prompt: by the time the second command's output is
    // back, at least one check has seen the mailbox grow.
    s.write('echo "R""2"; echo "R""3"\n');
    await s.waitForStdout((o) => o.includes('R3'), 20_000);
    s.write('echo "R""4"\n');
    await s.waitForStdout((o) => o.includes('R4'), 20_000);
  } finally {
    s.write('exit\n');
    s.close();
  }
  // The control: FOO passed, so AcceptEnv * was in force and only the filter kept MAILPATH out.
  assert.equal(fs.existsSync(marker), false, 'MAILPATH ran a command substitution');
});
