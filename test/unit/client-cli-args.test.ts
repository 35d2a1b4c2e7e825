import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseArgs, type ClientArgs } from '../../src/client/cli-args';
import { loadClientConfig } from '../../src/config/load-client-config';

function args(argv: string[]): ClientArgs {
  const r = parseArgs(argv, 'tlssh 0.0.0');
  assert.equal(r.kind, 'run', JSON.stringify(r));
  return (r as { args: ClientArgs }).args;
}

/** The `Keyword=value` statements of a list of command-line settings. */
const statements = (list: readonly { statement: string }[]): string[] => list.map((o) => o.statement);

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
    assert.deepEqual(statements(a.overrides), []);
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
    assert.deepEqual(statements(a.overrides), ['User=alice@example']);
  });

  it('puts user@host after -l, so that -l wins (the first value on the command line does)', () => {
    assert.deepEqual(statements(args(['-l', 'bob', 'alice@h']).overrides), ['User=bob', 'User=alice']);
  });

  it('takes ssh:// and tlssh:// destinations as ssh does: user, host, port; -p and -l win over them', () => {
    const resolved = (argv: string[]): { host: string; user: string; port: number } => {
      const a = args(argv);
      const c = loadClientConfig({ host: a.host, file: '/dev/null', overrides: a.overrides, home: os.tmpdir() });
      return { host: a.host, user: c.User, port: c.Port };
    };
    assert.deepEqual(resolved(['ssh://alice@db1:2232', 'uptime']), { host: 'db1', user: 'alice', port: 2232 });
    assert.deepEqual(resolved(['tlssh://db1/']), { host: 'db1', user: '', port: 232 });
    assert.deepEqual(resolved(['SSH://al%2Dice@[::1]:22']), { host: '::1', user: 'al-ice', port: 22 });
    assert.deepEqual(resolved(['-p', '2000', '-l', 'bob', 'ssh://alice@db1:2232']), { host: 'db1', user: 'bob', port: 2000 });
    assert.equal(args(['ssh://db1', 'ls', '-l']).command, 'ls -l');
    // A user name with an @ of its own (sssd's): the host is after the last one.
    const at = args(['ssh://alice%40corp@db1']);
    assert.equal(at.host, 'db1');
    assert.deepEqual(statements(at.overrides), ['User=alice@corp']);
    const raw = args(['ssh://a@b@db1']);
    assert.equal(raw.host, 'db1');
    assert.deepEqual(statements(raw.overrides), ['User=a@b']);
    for (const bad of ['ssh://db1/path', 'ssh://db1:port', 'ssh://', 'ssh://a%zz@db1', 'ssh://[::1']) {
      const r = exitOf([bad]);
      assert.equal(r.status, 255, bad);
      assert.match(r.stderr, /is not a destination URI/, bad);
    }
  });

  it('lets -o User win over user@host, typed before or after it, as ssh does', () => {
    const userOf = (argv: string[]): string => {
      const a = args(argv);
      return loadClientConfig({ host: a.host, file: '/dev/null', overrides: a.overrides, home: os.tmpdir() }).User;
    };
    assert.equal(userOf(['-o', 'User=cc', 'bb@h']), 'cc');
    assert.equal(userOf(['bb@h', '-o', 'User=cc']), 'cc');
    assert.equal(userOf(['bb@h']), 'bb');
    assert.equal(userOf(['-l', 'dd', '-o', 'User=cc', 'bb@h']), 'dd');
    // ssh's rule: the first of -l and -o User wins, whichever it is.
    assert.equal(userOf(['-o', 'User=cc', '-l', 'dd', 'bb@h']), 'cc');
    assert.equal(userOf(['bb@h', '-l', 'dd']), 'dd');
  });

  it('takes the first value of a keyword on the command line, as ssh does, but the last of ssh\'s toggles', () => {
    const cfg = (argv: string[]): ReturnType<typeof loadClientConfig> => {
      const a = args(argv);
      return loadClientConfig({ host: a.host, file: '/dev/null', overrides: a.overrides, flagOverrides: a.flagOverrides, home: os.tmpdir() });
    };
    assert.equal(cfg(['-p', '2000', '-o', 'Port=3000', 'h']).Port, 2000);
    assert.equal(cfg(['-o', 'Port=3000', '-p', '2000', 'h']).Port, 3000);
    assert.equal(cfg(['-o', 'ConnectTimeout=3', '-o', 'ConnectTimeout=9', 'h']).ConnectTimeout, 3);
    // ssh's -4/-6, -e and -q set their keyword whenever they come: the last one holds (and the
    // last of -t and -T, which are not keywords here).
    assert.equal(cfg(['-4', '-6', 'h']).AddressFamily, 'inet6');
    assert.equal(cfg(['-e', '^]', '-e', 'none', 'h']).EscapeChar, 'none');
    // A flag beats an -o of its keyword wherever the -o is (ssh's -o fills only what is unset),
    // and among -o lines the first holds for these keywords too.
    assert.equal(cfg(['-4', '-o', 'AddressFamily=inet6', 'h']).AddressFamily, 'inet');
    assert.equal(cfg(['-o', 'AddressFamily=inet6', '-4', 'h']).AddressFamily, 'inet');
    assert.equal(cfg(['-o', 'AddressFamily=inet6', '-o', 'AddressFamily=inet', 'h']).AddressFamily, 'inet6');
    assert.equal(cfg(['-q', '-o', 'LogLevel=DEBUG', 'h']).LogLevel, 'QUIET');
    assert.equal(cfg(['-S', '/x/a', '-o', 'ControlPath=/x/b', 'h']).ControlPath, '/x/a');
    assert.equal(cfg(['-o', 'ControlPath=/x/b', '-S', '/x/a', '-S', '/x/c', 'h']).ControlPath, '/x/c');
    assert.equal(cfg(['-o', 'ControlMaster=no', '-M', 'h']).ControlMaster, 'yes');
    assert.equal(cfg(['-MM', 'h']).ControlMaster, 'ask');
    assert.equal(cfg(['-o', 'RequestTTY=no', '-o', 'RequestTTY=yes', 'h']).RequestTTY, 'no');
    // SendEnv adds up.
    assert.deepEqual(cfg(['-o', 'SendEnv=A', '-o', 'SendEnv=B', 'h']).SendEnv, ['LANG', 'LC_*', 'A', 'B']);
  });

  it('names a bad value by the flag the user typed, not by the -o it stands for', () => {
    const failure = (argv: string[]): string => {
      const a = args(argv);
      try {
        loadClientConfig({ host: a.host, file: '/dev/null', overrides: a.overrides, flagOverrides: a.flagOverrides, home: os.tmpdir() });
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    assert.match(failure(['-e', 'xx', 'h']), /^command line: -e xx: EscapeChar: "xx" /);
    assert.match(failure(['-exx', 'h']), /^command line: -e xx: EscapeChar: /);
    assert.match(failure(['-b', '1.2.3.x', 'h']), /^command line: -b 1\.2\.3\.x: BindAddress: /);
    assert.match(failure(['-o', 'BindAddress=1.2.3.x', 'h']), /^command line: -o BindAddress=1\.2\.3\.x: BindAddress: /);
    assert.match(failure(['-S', 'a b/%Q', 'h']), /^command line: -S a b\/%Q: ControlPath: /);
  });

  it('maps flags to keyword overrides in the order typed: -l -p -i with -o, the others apart', () => {
    const a = args(['-o', 'Port=1', '-p', '2', '-4', '-E', 'tpm', '-e', 'none', '-i', 'k', '-6', '-q', 'h']);
    assert.deepEqual(statements(a.overrides), ['Port=1', 'Port=2', 'IdentityFile=k']);
    assert.deepEqual(statements(a.flagOverrides), ['AddressFamily=inet', 'PrivkeyEngine=tpm', 'EscapeChar=none', 'AddressFamily=inet6', 'LogLevel=QUIET']);
  });

  it('accepts attached option values (-p22, -oKey=value)', () => {
    assert.deepEqual(statements(args(['-p22', '-oConnectTimeout=3', 'h']).overrides), ['Port=22', 'ConnectTimeout=3']);
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
    for (const flag of ['-4', '-6', '-b', '-c', '-e', '-E', '-G', '-i', '-l', '-N', '-n', '-o', '-p', '-q', '-s', '-t', '-T', '-v', '-V', '-h']) {
      assert.match(r.stdout, new RegExp(`^\\s+${flag}\\b`, 'm'), flag);
    }
    assert.match(r.stdout, /\[user@\]host/);
  });

  it('fails with status 255 and one tlssh: line for usage errors, then the usage when it helps', () => {
    for (const argv of [[], ['-Z', 'h'], ['-p'], ['@h'], ['u@'], ['-L', '8080:localhost:80', 'h']]) {
      const r = exitOf(argv);
      assert.equal(r.status, 255, argv.join(' '));
      const lines = r.stderr.trimEnd().split('\n');
      assert.match(lines[0]!, /^tlssh: /);
      assert.ok(lines.slice(1).every((l) => /^(usage: tlssh| {13})/.test(l)), r.stderr);
    }
  });

  it('lists every letter of the option table in --help', () => {
    const r = exitOf(['--help']);
    for (const letter of '1246AaBbCcDEeFfGgIiJKkLlMmNnOoPpQqRSsTtVvWwXxYy') assert.ok(r.stdout.includes(`-${letter}`), letter);
  });

  it("says `unknown option '-Z'` and the usage for a letter ssh does not have", () => {
    const r = exitOf(['-Z', 'h']);
    assert.equal(r.stderr.split('\n')[0], "tlssh: unknown option '-Z'");
    assert.match(r.stderr, /^usage: tlssh /m);
  });
});

describe('tlssh command line, as OpenSSH parses it', () => {
  it('parses options after the host up to the first command word', () => {
    const a = args(['host', '-p', '232', '-l', 'bob', 'ls', '-l', '-p']);
    assert.equal(a.host, 'host');
    assert.equal(a.command, 'ls -l -p');
    assert.deepEqual(statements(a.overrides), ['Port=232', 'User=bob']);
  });

  it('ends options at -- before or after the host', () => {
    assert.equal(args(['host', '--', '-p', '1']).command, '-p 1');
    assert.deepEqual(statements(args(['host', '--', '-p', '1']).overrides), []);
    const b = args(['-v', '--', 'host', '-p', '1']);
    assert.equal(b.command, '-p 1');
    assert.deepEqual(statements(b.overrides), []);
  });

  it('takes -F like -c, and -i as IdentityFile', () => {
    assert.equal(args(['-F', '/x.conf', 'h']).configFile, '/x.conf');
    assert.equal(args(['-c', '/y.conf', 'h']).configFile, '/y.conf');
    assert.deepEqual(statements(args(['-i', '/k.key', 'h']).overrides), ['IdentityFile=/k.key']);
    assert.deepEqual(statements(args(['-b', '127.0.0.1', 'h']).flagOverrides), ['BindAddress=127.0.0.1']);
  });

  it('-c with ssh cipher names and no such file is the cipher scp -c passes: noted, not a config file', () => {
    for (const c of ['aes128-ctr', 'aes128-gcm@openssh.com,chacha20-poly1305@openssh.com', '+aes256-ctr']) {
      const a = args(['-c', c, 'h', 'cmd']);
      assert.equal(a.configFile, undefined, c);
      assert.match(a.notes[0] ?? '', new RegExp(`^-c ${c.replace(/[+.]/g, '\\$&')} ignored: TLS 1.3 chooses`), c);
    }
    assert.equal(args(['-c', 'aes128', 'h']).configFile, 'aes128', 'not a cipher name: a file, as before');
    // ssh's list prefixes: ^ puts them first, - removes them.
    for (const c of ['^aes256-ctr', '-3des-cbc']) assert.equal(args([`-c${c}`, 'h']).configFile, undefined, c);
    assert.equal(args(['-c', 'aes128-ctr,my.conf', 'h']).configFile, 'aes128-ctr,my.conf', 'every name must be a cipher');
    // A file that exists is the configuration, whatever its name.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-cli-args-'));
    const cwd = process.cwd();
    try {
      fs.writeFileSync(path.join(dir, 'aes128-ctr'), '');
      process.chdir(dir);
      assert.equal(args(['-c', 'aes128-ctr', 'h']).configFile, 'aes128-ctr');
    } finally {
      process.chdir(cwd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('-E is the key engine; a file there is ssh\'s log file, refused with what to do instead', () => {
    assert.deepEqual(statements(args(['-E', 'tpm', 'h']).flagOverrides), ['PrivkeyEngine=tpm']);
    const r = exitOf(['-E', '/tmp/ssh.log', 'h']);
    assert.equal(r.status, 255);
    assert.match(r.stderr, /^tlssh: -E takes a private key engine \(tpm\), not a file: .*2>\/tmp\/ssh\.log/);
    assert.equal(exitOf(['-E', 'ssh.log', 'h']).status, 255, 'a file name in the working directory too');
  });

  it('takes -G, -N and -s', () => {
    assert.equal(args(['-G', 'h']).dumpConfig, true);
    assert.equal(args(['-N', 'h']).noCommand, true);
    const s = args(['-s', 'h', 'sftp']);
    assert.equal(s.subsystem, true);
    assert.equal(s.command, 'sftp');
    // sftp's own argv: "-oForwardX11 no" as one word, then -s -- host sftp.
    const t = args(['-oForwardX11 no', '-oPermitLocalCommand no', '-oClearAllForwardings yes', '-obatchmode yes', '-oForwardAgent no', '-s', '--', 'h', 'sftp']);
    assert.equal(t.subsystem, true);
    assert.equal(t.command, 'sftp');
    for (const bad of [['-s', 'h', 'sftp', 'x'], ['-s', 'h', '/bin/sh'], ['-s', 'h', '-x']]) {
      const r = exitOf(bad);
      assert.equal(r.status, 255, bad.join(' '));
    }
  });

  it("accepts Ansible's default ssh arguments", () => {
    const a = args([
      '-C', '-o', 'ControlMaster=auto', '-o', 'ControlPersist=60s', '-o', 'KbdInteractiveAuthentication=no',
      '-o', 'PreferredAuthentications=gssapi-with-mic,gssapi-keyex,hostbased,publickey', '-o', 'PasswordAuthentication=no',
      '-o', 'ConnectTimeout=10', '-o', 'ControlPath="/home/u/.ansible/cp/abc"', '-tt', 'host', '/bin/sh -c \'echo ~ && sleep 0\'',
    ]);
    assert.equal(a.ttyRequest, 'force');
    assert.equal(a.overrides.length, 7);
    assert.deepEqual(a.notes, ['-C ignored: tlssh does not compress']);
  });

  it('-p takes a port number, and a bad one is refused in ssh\'s words, naming -p', () => {
    assert.deepEqual(statements(args(['-p', '2222', 'h']).overrides), ['Port=2222']);
    for (const bad of ['abc', '0', '65536', '22x', '']) {
      const r = exitOf(['-p', bad, 'h']);
      assert.equal(r.status, 255, bad);
      assert.match(r.stderr, new RegExp(`^tlssh: Bad port '${bad}'`), bad);
    }
  });

  it('accepts and notes each harmless ssh letter, with its value when it takes one', () => {
    for (const letter of ['A', 'a', 'C', 'x', 'X', 'Y', 'k', 'K', 'g', '2', 'y']) {
      const a = args([`-${letter}`, 'h', 'cmd']);
      assert.equal(a.notes.length, 1, letter);
      assert.match(a.notes[0]!, new RegExp(`^-${letter} ignored: `));
      assert.equal(a.command, 'cmd');
      assert.equal(a.x11, letter === 'X' || letter === 'Y', `${letter}: a warning for X11 asked for`);
    }
    assert.equal(args(['-o', 'ForwardX11=yes', 'h']).x11, true);
    assert.equal(args(['-o', 'ForwardX11 no', 'h']).x11, false);
    const m = args(['-m', 'hmac-sha2-256', '-P', 'tag', 'h', 'cmd']);
    assert.equal(m.notes.length, 2);
    assert.equal(m.command, 'cmd');
  });

  it('takes connection sharing with ssh\'s letters: -M (twice: ask), -S PATH, -O check|exit|stop', () => {
    assert.deepEqual(statements(args(['-M', 'h']).flagOverrides), ['ControlMaster=yes']);
    assert.deepEqual(statements(args(['-MM', 'h']).flagOverrides), ['ControlMaster=yes', 'ControlMaster=ask']);
    assert.deepEqual(statements(args(['-S', '/tmp/ctl', 'h']).flagOverrides), ['ControlPath=/tmp/ctl']);
    for (const op of ['check', 'exit', 'stop'] as const) assert.equal(args(['-O', op, 'h']).controlCommand, op);
    assert.equal(args(['h']).controlCommand, undefined);
    for (const op of ['cancel', 'forward', 'proxy']) {
      const r = exitOf(['-O', op, 'h']);
      assert.equal(r.status, 255);
      assert.match(r.stderr, /is for forwardings, which tlssh does not have/);
    }
    assert.equal(exitOf(['-O', 'bogus', 'h']).status, 255);
  });

  it('refuses forwarding and the rest with one line, value or not', () => {
    for (const argv of [['-L', '1:h:2'], ['-R', '1:h:2'], ['-D', '1080'], ['-W', 'h:22'], ['-J', 'jump'], ['-w', '0'], ['-1'], ['-B', 'eth0'], ['-I', 'lib'], ['-Q', 'cipher']]) {
      const r = exitOf([...argv, 'h']);
      assert.equal(r.status, 255, argv.join(' '));
      assert.match(r.stderr, new RegExp(`^tlssh: ${argv[0]} is not supported: .+\n$`), argv.join(' '));
    }
  });

  it('takes -f with -N (ssh -fN: a master in the background), and refuses it with a command', () => {
    assert.equal(args(['-f', '-N', '-M', 'h']).background, true);
    assert.equal(args(['-fNM', 'h']).background, true);
    assert.equal(args(['-N', 'h']).background, false);
    for (const argv of [['-f', 'h', 'uptime'], ['-f', 'h']]) {
      const r = exitOf(argv);
      assert.equal(r.status, 255, argv.join(' '));
      assert.match(r.stderr, /-f goes to the background only as a connection-sharing master, with -N/);
    }
  });

  it('keeps the clustered and attached forms getopt allows', () => {
    const a = args(['-tvp2222', 'h']);
    assert.equal(a.ttyRequest, 'yes');
    assert.equal(a.verbose, 1);
    assert.deepEqual(statements(a.overrides), ['Port=2222']);
    const cq = args(['-Cqo', 'User=x', 'h']);
    assert.deepEqual(statements(cq.overrides), ['User=x']);
    assert.deepEqual(statements(cq.flagOverrides), ['LogLevel=QUIET']);
  });
});
