// Sessions look remote the way sshd's do: SSH_CONNECTION, SSH_CLIENT, and SSH_TTY on a terminal,
// next to TLSSH_CONNECTION, so profile scripts and prompts that test them work unchanged.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectClient, daemonForLoginUser, sessionRequest } from '../helpers/server-harness';

// AcceptEnv * so that a client trying to set SSH_TTY itself would get through if it could.
// A subsystem that shows SSH_ORIGINAL_COMMAND, which only a ForceCommand may set (this daemon has none).
const d = daemonForLoginUser('tlsshd-ssh-env', { AcceptEnv: '*', Subsystem: 'show echo orig=${SSH_ORIGINAL_COMMAND-unset}' });

const SHOW = 'printf "%s|%s|%s|%s|%s\\n" "$SSH_CONNECTION" "$SSH_CLIENT" "${SSH_TTY-unset}" "$TLSSH_CONNECTION" "${SSH_ORIGINAL_COMMAND-unset}"';

async function run(pty: boolean): Promise<{ out: string; clientPort: number }> {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({
    command: pty ? `${SHOW}; tty` : SHOW, pty, term: 'dumb', env: [['SSH_TTY', '/dev/forged'], ['SSH_CONNECTION', 'forged'], ['SSH_ORIGINAL_COMMAND', 'forged']],
  }));
  s.socket.once('secureConnect', () => {
    if (!pty) s.endStdin();
  });
  await new Promise((resolve) => s.socket.once('secureConnect', resolve));
  const clientPort = s.socket.localPort ?? 0;
  const r = await s.result;
  assert.equal(r.exit?.code, 0, r.error?.message);
  return { out: r.stdout.toString().replace(/\r/g, ''), clientPort };
}

test('without a pty: SSH_CONNECTION and SSH_CLIENT as sshd sets them, no SSH_TTY, no SSH_ORIGINAL_COMMAND', async () => {
  const { out, clientPort } = await run(false);
  const [connection, client, tty, tlssh, original] = out.trim().split('|');
  assert.equal(original, 'unset', 'SSH_ORIGINAL_COMMAND without a ForceCommand');
  assert.equal(connection, `127.0.0.1 ${clientPort} 127.0.0.1 ${d.daemon.port}`);
  assert.equal(client, `127.0.0.1 ${clientPort} ${d.daemon.port}`);
  assert.equal(tty, 'unset');
  assert.equal(tlssh, connection);
});

test('on a pty: SSH_TTY names the session\'s terminal', async () => {
  const { out, clientPort } = await run(true);
  const [first, ttyLine] = out.trim().split('\n');
  const [connection, , tty] = (first ?? '').split('|');
  assert.equal(connection, `127.0.0.1 ${clientPort} 127.0.0.1 ${d.daemon.port}`);
  assert.match(ttyLine ?? '', /^\/dev\/pts\/\d+$/);
  assert.equal(tty, ttyLine);
});

test('a subsystem without a ForceCommand has no SSH_ORIGINAL_COMMAND either', async () => {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ subsystem: true, command: 'show', env: [['SSH_ORIGINAL_COMMAND', 'forged']] }));
  s.socket.once('secureConnect', () => s.endStdin());
  const r = await s.result;
  assert.equal(r.exit?.code, 0, r.error?.message);
  assert.equal(r.stdout.toString(), 'orig=unset\n');
});

// "-bash" as argv[0], no arguments: what sshd gives a login shell, and what restricted shells
// (git-shell) and profile scripts look at. `$0`, `shopt login_shell` and SHLVL show it.
const LOGIN_PROBE = 'echo "A0=$0 LOGIN=$(shopt -q login_shell && echo yes) SHLVL=$SHLVL ARGS=$(tr "\\0" " " < /proc/$$/cmdline)END"';

test('a login on a pty is the shell as "-bash", a login shell at SHLVL 1 with SSH_TTY set', async () => {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ pty: true, term: 'dumb' }));
  try {
    await s.waitFor('session-started', 20_000);
    s.write(`${LOGIN_PROBE}; echo "TTY=$SSH_TTY"\n`);
    const out = (await s.waitForStdout((o) => /TTY=\S+/.test(o.replace(/.*echo "TTY.*/g, '')), 20_000)).replace(/\r/g, '');
    assert.match(out, /^A0=-bash LOGIN=yes SHLVL=1 ARGS=-bash END$/m);
    assert.match(out, /^TTY=\/dev\/pts\/\d+$/m);
  } finally {
    s.write('exit\n');
    s.close();
  }
});

test('a login without a pty (no command, commands on stdin) is "-bash" as well', async () => {
  const s = connectClient(d.daemon.port, d.id, sessionRequest({ pty: false }));
  await s.waitFor('session-started', 20_000);
  s.write(`${LOGIN_PROBE}\n`);
  s.endStdin();
  const r = await s.result;
  assert.equal(r.exit?.code, 0, r.error?.message);
  assert.match(r.stdout.toString(), /^A0=-bash LOGIN=yes SHLVL=1 ARGS=-bash END$/m);
});
