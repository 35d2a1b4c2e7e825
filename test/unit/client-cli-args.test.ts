import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseArgs, type ClientArgs } from '../../src/client/cli-args';

function args(argv: string[]): ClientArgs {
  const r = parseArgs(argv, 'tlssh 0.0.0');
  assert.equal(r.kind, 'run', JSON.stringify(r));
  return (r as { args: ClientArgs }).args;
}

function exitOf(argv: string[]): { status: number; stdout: string; stderr: string } {
  const r = parseArgs(argv, 'tlssh 0.0.0');
  assert.equal(r.kind, 'exit');
  return r as { status: number; stdout: string; stderr: string };
}

describe('tlssh command line', () => {
  it('stops option parsing at the host: `host ls -l` sends -l to ls', () => {
    const a = args(['host', 'ls', '-l']);
    assert.equal(a.host, 'host');
    assert.equal(a.command, 'ls -l');
    assert.deepEqual(a.overrides, []);
  });

  it('passes options that look like tlssh flags after the host to the remote command', () => {
    const a = args(['-v', 'host', 'grep', '-v', '-p', 'x', '--help']);
    assert.equal(a.verbose, 1);
    assert.equal(a.command, 'grep -v -p x --help');
  });

  it('joins command words with single spaces, like ssh', () => {
    assert.equal(args(['h', 'echo', 'a b', 'c']).command, 'echo a b c');
    assert.equal(args(['h']).command, '');
  });

  it('splits user@host at the last @', () => {
    const a = args(['alice@example@host']);
    assert.equal(a.host, 'host');
    assert.deepEqual(a.overrides, ['User=alice@example']);
  });

  it('lets -l win over user@host', () => {
    assert.deepEqual(args(['-l', 'bob', 'alice@h']).overrides, ['User=bob']);
  });

  it('maps flags to keyword overrides in the order typed', () => {
    const a = args(['-o', 'Port=1', '-p', '2', '-4', '-E', 'tpm', '-e', 'none', '-6', '-q', 'h']);
    assert.deepEqual(a.overrides, ['Port=1', 'Port=2', 'AddressFamily=inet', 'PrivkeyEngine=tpm', 'EscapeChar=none', 'AddressFamily=inet6', 'LogLevel=QUIET']);
  });

  it('accepts attached option values (-p22, -oKey=value)', () => {
    assert.deepEqual(args(['-p22', '-oConnectTimeout=3', 'h']).overrides, ['Port=22', 'ConnectTimeout=3']);
  });

  it('counts -v and folds -t/-T', () => {
    assert.equal(args(['-vvv', 'h']).verbose, 3);
    assert.equal(args(['-t', 'h']).ttyRequest, 'yes');
    assert.equal(args(['-tt', 'h']).ttyRequest, 'force');
    assert.equal(args(['-t', '-T', 'h']).ttyRequest, 'no');
    assert.equal(args(['h']).ttyRequest, 'auto');
  });

  it('takes -c and -n', () => {
    const a = args(['-c', '/tmp/x.conf', '-n', 'h']);
    assert.equal(a.configFile, '/tmp/x.conf');
    assert.equal(a.stdinNull, true);
  });

  it('prints the version with -V and exits 0', () => {
    const r = exitOf(['-V']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), 'tlssh 0.0.0');
  });

  it('prints complete help with --help and exits 0', () => {
    const r = exitOf(['--help']);
    assert.equal(r.status, 0);
    for (const flag of ['-4', '-6', '-c', '-e', '-E', '-l', '-n', '-o', '-p', '-q', '-t', '-T', '-v', '-V', '-h']) {
      assert.match(r.stdout, new RegExp(`^\\s+${flag}\\b`, 'm'), flag);
    }
    assert.match(r.stdout, /\[user@\]host/);
  });

  it('fails with status 255, the program name and the usage for an unknown option', () => {
    for (const argv of [['-x', 'h'], ['-p']]) {
      const r = exitOf(argv);
      assert.equal(r.status, 255, argv.join(' '));
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0] ?? '', /^tlssh: /);
      assert.match(lines[1] ?? '', /^usage: tlssh \[-46/);
    }
    assert.equal(exitOf(['-x', 'h']).stderr.split('\n')[0], "tlssh: unknown option '-x'");
  });

  it('fails with status 255 and one line for other usage errors', () => {
    for (const argv of [[], ['@h'], ['u@']]) {
      const r = exitOf(argv);
      assert.equal(r.status, 255, argv.join(' '));
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^tlssh: /);
    }
  });
});
