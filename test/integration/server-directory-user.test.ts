// A directory user's name, as sssd gives it (alice@corp.example.com): a certificate for it logs
// in, through the real tlssh with `user@domain@host`, and the session runs as that account. A
// real root daemon and a real account made with useradd --badname.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { isRoot, makeServerFixture, startTlsshd, type ServerFixture, type TlsshdHandle } from '../helpers/server-harness';
import { TLSSH } from './client-fixture';

const skip = isRoot ? false : 'needs root: an account of its own';
const name = `dir${randomBytes(3).toString('hex')}@corp.example.test`;

let fx: ServerFixture;
let daemon: TlsshdHandle;

before(async () => {
  if (!isRoot) return;
  execFileSync('useradd', ['--badname', '-m', '-s', '/bin/sh', '-p', '*', name]);
  fx = makeServerFixture('tlsshd-diruser');
  daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, UsePAM: 'no' } });
});

after(async () => {
  if (!isRoot) return;
  await daemon?.stop();
  spawnSync('userdel', ['-r', name], { stdio: 'ignore' });
  if (fx) fs.rmSync(fx.dir, { recursive: true, force: true });
});

test('user@domain@host logs in as user@domain, whose certificate names it', { skip }, () => {
  const id = fx.client(name);
  const conf = path.join(fx.dir, 'tlssh.conf');
  fs.writeFileSync(conf, `Port ${daemon.port}\nServerCAFile ${fx.caFile}\nCertFile ${id.certFile}\nKeyFile ${id.keyFile}\n`, { mode: 0o600 });
  // As ssh, the destination splits at its last @.
  const r = spawnSync(process.execPath, [TLSSH, '-F', conf, `${name}@localhost`, 'id -un; echo "$USER $HOME"'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${name}\n${name} /home/${name}\n`);
  // -l takes it too, and -G shows it as ssh -G would.
  const g = spawnSync(process.execPath, [TLSSH, '-F', conf, '-G', '-l', name, 'localhost'], { encoding: 'utf8' });
  assert.ok(g.stdout.split('\n').includes(`user ${name}`), g.stdout + g.stderr);
});
