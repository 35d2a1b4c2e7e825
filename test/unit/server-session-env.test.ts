import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSessionEnv, globMatch, isAcceptedVariable } from '../../src/server/session-env';

const account = { name: 'alice', uid: 1000, gid: 1000, gecos: '', home: '/home/alice', shell: '/bin/zsh' };

test('globs are anchored and understand * and ?', () => {
  assert.ok(globMatch('LC_*', 'LC_ALL'));
  assert.ok(globMatch('LAN?', 'LANG'));
  assert.ok(!globMatch('LANG', 'XLANG'));
  assert.ok(!globMatch('L.NG', 'LANG'));
});

test('AcceptEnv lets matching names through, never LD_* nor what the server sets', () => {
  assert.ok(isAcceptedVariable('LANG', ['LANG']));
  assert.ok(!isAcceptedVariable('EDITOR', ['LANG']));
  assert.ok(!isAcceptedVariable('LD_PRELOAD', ['*']));
  assert.ok(!isAcceptedVariable('PATH', ['*']));
  assert.ok(!isAcceptedVariable('HOME', ['*']));
  assert.ok(!isAcceptedVariable('BAD-NAME', ['*']));
});

test('the environment is built from scratch', () => {
  const env = buildSessionEnv({
    account, shell: '/bin/zsh', term: 'xterm', acceptEnv: ['LANG', 'LC_*'], connection: '1 2 3 4',
    requested: [['LANG', 'C.UTF-8'], ['LC_TIME', 'C'], ['EVIL', 'x'], ['PATH', '/tmp'], ['LD_PRELOAD', '/x.so']],
  });
  assert.deepEqual(env, {
    LANG: 'C.UTF-8', LC_TIME: 'C', HOME: '/home/alice', USER: 'alice', LOGNAME: 'alice', SHELL: '/bin/zsh',
    PATH: '/usr/local/bin:/usr/bin:/bin', MAIL: '/var/mail/alice', TLSSH_CONNECTION: '1 2 3 4', TERM: 'xterm',
  });
});

test('root gets the sbin directories; no TERM without a pty', () => {
  const env = buildSessionEnv({ account: { ...account, uid: 0, name: 'root' }, shell: '/bin/sh', term: undefined, acceptEnv: [], connection: '', requested: [] });
  assert.match(env['PATH'] ?? '', /\/usr\/sbin/);
  assert.equal(env['TERM'], undefined);
});
