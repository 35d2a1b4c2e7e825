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
import { isRoot, loginUser, makeServerFixture, processesOf, runCommand, startTlsshd, type ServerFixture, type TlsshdHandle } from '../helpers/server-harness';

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
