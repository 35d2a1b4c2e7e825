import { strict as assert } from 'node:assert';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { failureLine, remoteExitCode } from '../../src/client/exit-status';
import { selectEnv, matchPattern } from '../../src/client/send-env';
import { TlsshError } from '../../src/errors';

const status = (code: number | null, signal: string | null = null) => ({ type: 'exit-status' as const, code, signal, coreDumped: false });

describe('exit status mapping', () => {
  it('passes the remote exit code through', () => {
    assert.equal(remoteExitCode(status(0)), 0);
    assert.equal(remoteExitCode(status(1)), 1);
    assert.equal(remoteExitCode(status(42)), 42);
    assert.equal(remoteExitCode(status(255)), 255);
  });

  it('maps a signal name to 128 + the local signal number', () => {
    assert.equal(remoteExitCode(status(null, 'TERM')), 128 + constants.signals.SIGTERM);
    assert.equal(remoteExitCode(status(null, 'KILL')), 128 + 9);
    assert.equal(remoteExitCode(status(null, 'SIGINT')), 128 + constants.signals.SIGINT);
  });

  it('uses the local numbering, not a fixed table', () => {
    assert.equal(remoteExitCode(status(null, 'USR1'), { SIGUSR1: 30 }), 158);
  });

  it('never turns nonsense into success', () => {
    assert.equal(remoteExitCode(status(256)), 255);
    assert.equal(remoteExitCode(status(-1)), 255);
    assert.equal(remoteExitCode(status(1.5)), 255);
    assert.equal(remoteExitCode(status(null, 'NOSUCHSIG')), 255);
    assert.equal(remoteExitCode(status(null, null)), 255);
  });

  it('writes one line, with the code only when verbose', () => {
    const err = new TlsshError('TLSSH_ERR_CONNECT', 'connect to host h port 1: Connection refused\nsecond line');
    assert.equal(failureLine(err, false), 'tlssh: connect to host h port 1: Connection refused');
    assert.equal(failureLine(err, true), 'tlssh: connect to host h port 1: Connection refused (TLSSH_ERR_CONNECT)');
    assert.equal(failureLine(new Error('boom'), true), 'tlssh: boom');
  });
});

describe('SendEnv', () => {
  it('matches * and ? patterns', () => {
    assert.ok(matchPattern('LC_*', 'LC_ALL'));
    assert.ok(matchPattern('LANG', 'LANG'));
    assert.ok(!matchPattern('LANG', 'LANGUAGE'));
    assert.ok(matchPattern('L?NG', 'LANG'));
    assert.ok(matchPattern('*', 'ANY'));
    assert.ok(matchPattern('a*b*c', 'axxbyyc'));
    assert.ok(!matchPattern('a*b*c', 'axxbyy'));
  });

  it('selects matching variables, sorted, never TERM', () => {
    const env = { LC_TIME: 'C', LANG: 'en_US.UTF-8', SECRET_TOKEN: 'x', TERM: 'xterm', LC_ALL: 'C' };
    assert.deepEqual(selectEnv(['LANG', 'LC_*', 'TERM'], env), [
      ['LANG', 'en_US.UTF-8'],
      ['LC_ALL', 'C'],
      ['LC_TIME', 'C'],
    ]);
    assert.deepEqual(selectEnv([], env), []);
  });
});
