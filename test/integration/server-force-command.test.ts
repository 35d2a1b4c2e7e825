// ForceCommand, as sshd's: every session runs the forced command through the user's shell,
// whatever the client asked for, and finds the client's command in SSH_ORIGINAL_COMMAND. Run
// with the real tlssh against a real tlsshd; the last case is the use it exists for, a
// certificate that may only read backups through rrsync.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTempDir } from '../helpers/ca';
import { isRoot } from '../helpers/server-harness';
import { TLSSH, errorCodeOf, runTlssh, startFixture, type ClientFixture } from './client-fixture';

// What the forced command saw: the client's command (or "unset"), whether it has a terminal, and
// its arguments (none: a forced command is a command line, not the client's words); on stderr
// when that is not the terminal, the variables a client may try to send it.
const PROBE = `#!/bin/sh
printf 'forced[%s] %s args=%s\\n' "\${SSH_ORIGINAL_COMMAND-unset}" "$(if [ -t 0 ]; then echo tty; else echo notty; fi)" "$#"
[ -t 2 ] || printf 'env FOO=%s NAMED=%s LC_TIME=%s PYTHONPYCACHEPREFIX=%s\\n' "\${FOO-unset}" "\${NAMED-unset}" "\${LC_TIME-unset}" "\${PYTHONPYCACHEPREFIX-unset}" >&2
exit 7
`;

let probe: ClientFixture;
let rrsync: ClientFixture;
let scratch: string;

before(async () => {
  scratch = makeTempDir('tlssh-force-command');
  fs.chmodSync(scratch, 0o755);
  const probeFile = path.join(scratch, 'probe.sh');
  fs.writeFileSync(probeFile, PROBE, { mode: 0o755 });
  // AcceptEnv *: a client that sends SSH_ORIGINAL_COMMAND itself must still not set it. As root
  // (whom the tests log in as then), PermitRootLogin forced-commands-only: the forced command
  // is what lets root in.
  probe = await startFixture({
    serverConfig: { ForceCommand: probeFile, AcceptEnv: '* NAMED', ...(isRoot ? { PermitRootLogin: 'forced-commands-only' } : {}) },
  });
  fs.mkdirSync(path.join(scratch, 'srv', 'data'), { recursive: true });
  fs.writeFileSync(path.join(scratch, 'srv', 'data', 'file.txt'), 'backed up\n');
  rrsync = await startFixture({ serverArgs: ['-o', `ForceCommand=/usr/bin/rrsync -ro ${path.join(scratch, 'srv')}`] });
});
after(async () => {
  await probe?.stop();
  await rrsync?.stop();
});

const tlssh = (args: readonly string[], opts: Parameters<typeof runTlssh>[1] = {}): ReturnType<typeof runTlssh> =>
  runTlssh(['-F', probe.configFile, ...args], opts);

describe('ForceCommand', () => {
  it('runs instead of the client\'s command, which is in SSH_ORIGINAL_COMMAND; its exit status is tlssh\'s', async () => {
    const r = await tlssh(['127.0.0.1', 'echo', 'hello', 'world']);
    assert.equal(r.stdout.toString(), 'forced[echo hello world] notty args=0\n', r.stderr);
    assert.equal(r.status, 7);
    await probe.server.waitForLog(/forced command \(ForceCommand\) instead of the command asked for/);
  });

  it('runs instead of a login shell, with SSH_ORIGINAL_COMMAND unset', async () => {
    const r = await tlssh(['-T', '127.0.0.1']);
    assert.equal(r.stdout.toString(), 'forced[unset] notty args=0\n', r.stderr);
    assert.equal(r.status, 7);
  });

  it('runs on a terminal when the client asks for one', async () => {
    const r = await tlssh(['-tt', '127.0.0.1', 'top']);
    assert.equal(r.stdout.toString().replace(/\r/g, ''), 'forced[top] tty args=0\n', r.stderr);
    assert.equal(r.status, 7);
  });

  it('runs instead of a subsystem, whose command line is SSH_ORIGINAL_COMMAND; an unknown one is still refused', async () => {
    const r = await tlssh(['-s', '127.0.0.1', 'sftp']);
    assert.equal(r.stdout.toString(), 'forced[/usr/lib/openssh/sftp-server] notty args=0\n', r.stderr);
    assert.equal(r.status, 7);
    // The log says a forced command ran, not that the subsystem did (sshd's log alike). That
    // worker's session end is logged after both, so once it is there, so are they.
    const forced = await probe.server.waitForLog(/forced command \(ForceCommand\) instead of the subsystem asked for/);
    const worker = /\[(\d+)\]/.exec(forced)?.[1];
    await probe.server.waitForLog(new RegExp(`\\[${worker}\\]: .*session closed: exit status 7`));
    assert.doesNotMatch(probe.server.logs(), /subsystem sftp for/);
    const unknown = await tlssh(['-v', '-s', '127.0.0.1', 'nosuch']);
    assert.equal(unknown.status, 255);
    assert.equal(errorCodeOf(unknown.stderr), 'TLSSH_ERR_UNKNOWN_SUBSYSTEM');
    assert.equal(unknown.stdout.length, 0);
  });

  it('keeps a client from setting SSH_ORIGINAL_COMMAND itself, even with AcceptEnv *', async () => {
    // A login shell: no command of the client's to overwrite what it sends.
    const r = await tlssh(['-T', '-o', 'SendEnv=SSH_ORIGINAL_COMMAND', '127.0.0.1'], {
      env: { ...process.env, LANG: 'C', SSH_ORIGINAL_COMMAND: 'rm -rf /' },
    });
    assert.equal(r.stdout.toString(), 'forced[unset] notty args=0\n', r.stderr);
  });

  it('lets through only variables AcceptEnv names in full, and the locale: its patterns (even *) admit nothing else', async () => {
    const r = await tlssh(['-o', 'SendEnv=FOO NAMED LC_TIME PYTHONPYCACHEPREFIX', '127.0.0.1', 'true'], {
      env: { ...process.env, FOO: 'x', NAMED: 'y', LC_TIME: 'C', PYTHONPYCACHEPREFIX: '/tmp/planted' },
    });
    assert.equal(r.status, 7, r.stderr);
    assert.match(r.stderr.toString(), /^env FOO=unset NAMED=y LC_TIME=C PYTHONPYCACHEPREFIX=unset$/m);
  });

  it('applies to every session of a shared connection (ControlMaster), the first and the later ones', async () => {
    const cmDir = path.join(scratch, 'cm');
    fs.mkdirSync(cmDir, { mode: 0o700 });
    const shared = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(cmDir, '%C')}`, '-o', 'ControlPersist=60'];
    try {
      for (const word of ['first', 'second']) {
        const r = await tlssh([...shared, '127.0.0.1', 'echo', word]);
        assert.equal(r.stdout.toString(), `forced[echo ${word}] notty args=0\n`, r.stderr);
        assert.equal(r.status, 7);
      }
      const check = await tlssh([...shared, '-O', 'check', '127.0.0.1']);
      assert.equal(check.status, 0, check.stderr);
    } finally {
      await tlssh([...shared, '-O', 'exit', '127.0.0.1']);
    }
  });

  it('PermitRootLogin forced-commands-only refuses root where there is no ForceCommand', { skip: isRoot ? false : 'the tests log in as root only when run as root' }, async () => {
    const plain = await startFixture({ serverConfig: { PermitRootLogin: 'forced-commands-only' } });
    try {
      const r = await runTlssh(['-v', '-F', plain.configFile, '127.0.0.1', 'true']);
      assert.equal(r.status, 255);
      assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_ROOT_LOGIN_REFUSED');
      await plain.server.waitForLog(/PermitRootLogin forced-commands-only, and no ForceCommand/);
    } finally {
      await plain.stop();
    }
  });

  it('restricts a certificate to read-only rsync with rrsync: a pull works, a push is refused', async () => {
    const e = `${TLSSH} -F ${rrsync.configFile}`;
    const pulled = path.join(scratch, 'pulled');
    const pull = await run('rsync', ['-a', '-e', e, '127.0.0.1:data/', `${pulled}/`]);
    assert.equal(pull.status, 0, pull.stderr);
    assert.equal(fs.readFileSync(path.join(pulled, 'file.txt'), 'utf8'), 'backed up\n');
    const push = await run('rsync', ['-a', '-e', e, `${pulled}/`, '127.0.0.1:data/pushed/']);
    assert.notEqual(push.status, 0);
    assert.match(push.stderr, /read-only/);
    assert.ok(!fs.existsSync(path.join(scratch, 'srv', 'data', 'pushed')));
  });
});

/** Asynchronous, so that the daemons' log pipes are read while it runs. */
function run(cmd: string, args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LANG: 'C' } });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    // A bound against hangs, never a timing assertion.
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stderr });
    });
  });
}
