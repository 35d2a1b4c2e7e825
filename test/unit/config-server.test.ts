import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fails } from '../helpers/expect-failure';
import {
  DEFAULT_SERVER_CONFIG, assertPrivateFile, findSubsystem, listenAddresses, loadServerConfig, parseForceCommand, parseSubsystem, secretFiles, type ServerConfig,
} from '../../src/config';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/config');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-config-server-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function write(text: string, mode = 0o644, name = `t${++n}.conf`): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text, { mode });
  fs.chmodSync(f, mode);
  return f;
}

/** What JSON sees: a golden file cannot hold `undefined`. */
function plain(cfg: ServerConfig): unknown {
  return JSON.parse(JSON.stringify(cfg));
}


const NO_DEFAULT_FILE = { serverFile: path.join(tmp, 'absent', 'tlsshd.conf'), systemClientFile: '/nonexistent' };

describe('tlsshd.conf golden files', () => {
  const expected = fs.readFileSync(path.join(FIXTURES, 'server.expected.json'), 'utf8');
  for (const name of ['server-original.conf', 'server-ini.conf', 'server-mixed.conf']) {
    it(`loads ${name} to the expected config`, () => {
      const file = path.join(FIXTURES, name);
      const want = JSON.parse(expected.split('<file>').join(file).split('<dir>').join(FIXTURES));
      assert.deepStrictEqual(plain(loadServerConfig({ file })), want);
    });
  }
});

describe('tlsshd.conf defaults', () => {
  it('uses every default when the default file does not exist', () => {
    const cfg = loadServerConfig({}, NO_DEFAULT_FILE);
    const { Listen: _l, ...rest } = DEFAULT_SERVER_CONFIG;
    for (const [k, v] of Object.entries(rest)) assert.deepStrictEqual(cfg[k as keyof ServerConfig], v, k);
    assert.deepStrictEqual(cfg.Listen, ['0.0.0.0:232', '[::]:232']);
    assert.equal(cfg.Port, 232);
    assert.equal(cfg.CertFile, '/etc/tlssh/tlsshd.crt');
    assert.equal(cfg.KeyFile, '/etc/tlssh/tlsshd.key');
    assert.equal(cfg.ClientCAFile, '/etc/tlssh/ClientCA.crt');
    assert.equal(cfg.TpmSrkPassword, undefined);
    assert.equal(cfg.PrivkeyPassword, undefined);
    assert.ok(Object.values(cfg.origin).every((o) => o === 'default'));
  });

  it('fails with TLSSH_ERR_CONFIG_READ when a -c file is missing', () => {
    const f = path.join(tmp, 'nope.conf');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_READ', `${f}: `);
  });

  it('fails with TLSSH_ERR_CONFIG_READ for a directory', () => {
    fails(() => loadServerConfig({ file: tmp }), 'TLSSH_ERR_CONFIG_READ', `${tmp}: `);
  });

  it('takes -c /dev/null as an empty file, as ssh -F /dev/null', () => {
    assert.equal(loadServerConfig({ file: '/dev/null' }).Port, 232);
  });

  it('refuses other devices and FIFOs without blocking on them', () => {
    fails(() => loadServerConfig({ file: '/dev/zero' }), 'TLSSH_ERR_CONFIG_READ', '/dev/zero: ');
    const fifo = path.join(tmp, 'fifo.conf');
    if (spawnSync('mkfifo', [fifo]).status === 0) fails(() => loadServerConfig({ file: fifo }), 'TLSSH_ERR_CONFIG_READ', `${fifo}: `);
  });

  it('reads the default file when there is one', () => {
    const f = write('Port 2020\n');
    assert.equal(loadServerConfig({}, { ...NO_DEFAULT_FILE, serverFile: f }).Port, 2020);
  });

  it('returns a deeply frozen object', () => {
    const cfg = loadServerConfig({ file: write('AcceptEnv A\n') });
    assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.AcceptEnv) && Object.isFrozen(cfg.MaxStartups) && Object.isFrozen(cfg.origin));
    assert.throws(() => (cfg.AcceptEnv as string[]).push('B'), TypeError);
  });

  it('lets the later of two lines win, and records where', () => {
    const f = write('Port 1\nPort 2\n');
    const cfg = loadServerConfig({ file: f });
    assert.equal(cfg.Port, 2);
    assert.equal(cfg.origin.Port, `${f}:2`);
  });

  it('refuses a config that leaves no way to verify clients', () => {
    const f = write('ClientCAFile none\n');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: ClientCAFile: `);
    assert.equal(loadServerConfig({ file: write('ClientCAFile none\nClientCAPath /x\n') }).ClientCAPath, '/x');
  });

  it('Subsystem: lines add up and replace the sftp default; none leaves none', () => {
    assert.equal(findSubsystem(loadServerConfig({ file: write('') }).Subsystem, 'sftp'), '/usr/lib/openssh/sftp-server');
    const cfg = loadServerConfig({ file: write('Subsystem sftp /opt/sftp-server -l INFO\nSubsystem  netconf\t/usr/bin/nc  -q 1\n') });
    assert.equal(findSubsystem(cfg.Subsystem, 'sftp'), '/opt/sftp-server -l INFO');
    assert.equal(findSubsystem(cfg.Subsystem, 'netconf'), '/usr/bin/nc  -q 1');
    assert.equal(findSubsystem(cfg.Subsystem, 'scp'), undefined);
    assert.deepEqual(loadServerConfig({ file: write('Subsystem none\n') }).Subsystem, []);
    assert.deepEqual(loadServerConfig({ file: write(''), overrides: ['Subsystem=greet /bin/true'] }).Subsystem, [{ name: 'greet', command: '/bin/true' }]);
  });

  it('Subsystem: a second line for one name is an error at that line, as in sshd', () => {
    const f = write('Subsystem sftp /opt/sftp-server\nSubsystem netconf /bin/true\nSubsystem sftp /later\n');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:3: Subsystem: subsystem "sftp" is already defined`);
    // -o replaces the files' lines, so it may name a subsystem the file has too.
    const g = write('Subsystem sftp /opt/sftp-server\n');
    assert.deepEqual(loadServerConfig({ file: g, overrides: ['Subsystem=sftp /bin/true'] }).Subsystem, [{ name: 'sftp', command: '/bin/true' }]);
  });

  it('Subsystem: a line without a command or with a bad name names file, line and keyword', () => {
    for (const text of ['Subsystem sftp\n', 'Subsystem\n', 'Subsystem s/ftp /bin/true\n', 'Subsystem -x /bin/true\n']) {
      const f = write(text);
      fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: Subsystem: `);
    }
  });

  it('Subsystem and ForceCommand: a control character anywhere (DEL too) names file, line and keyword; tabs are spacing', () => {
    // Raw in the file, as a pasted line would carry them.
    for (const line of ['Subsystem x /bin/echo \u0007', 'Subsystem x /bin/echo \u007f', 'ForceCommand /bin/echo \u007f', 'ForceCommand /bin/echo \u001b[2J']) {
      const f = write(`${line}\n`);
      assert.match(fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: ${line.split(' ')[0]}: `).message, /control character/, line);
    }
    assert.equal(findSubsystem(loadServerConfig({ file: write('Subsystem x\t/bin/echo\ta\n') }).Subsystem, 'x'), '/bin/echo\ta');
  });

  it('Subsystem and ForceCommand: a ";" or "#" that would cut the command short is refused, naming file, line and keyword; escaped or quoted it is kept', () => {
    for (const [line, c, left] of [
      ['ForceCommand echo one; echo two', ';', 'echo one'],
      ['ForceCommand echo a#b', '#', 'echo a'],
      ['Subsystem sftp /usr/lib/openssh/sftp-server # the usual one', '#', 'sftp /usr/lib/openssh/sftp-server'],
    ] as const) {
      const f = write(`${line}\n`);
      const e = fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: ${line.split(' ')[0]}: `);
      assert.ok(e.message.includes(`"${c}" starts a comment here, which would cut the command to "${left}": write \\${c}`), e.message);
    }
    assert.equal(loadServerConfig({ file: write('ForceCommand echo one\\; echo two\n') }).ForceCommand, 'echo one; echo two');
    assert.equal(loadServerConfig({ file: write("ForceCommand 'echo a#b' # quoted, then a comment\n") }).ForceCommand, 'echo a#b');
    assert.equal(loadServerConfig({ file: write('ForceCommand "echo one; echo two"\n') }).ForceCommand, 'echo one; echo two');
    // Other keywords keep their trailing comments.
    assert.equal(loadServerConfig({ file: write('Port 2222 # the other port\n') }).Port, 2222);
    // The same on the command line (-o), where a shell user is as likely to write it.
    fails(() => loadServerConfig({ file: write(''), overrides: ['ForceCommand=echo one; echo two'] }), 'TLSSH_ERR_CONFIG_BAD_VALUE', 'command line: -o ForceCommand=echo one; echo two: ForceCommand: ";" starts a comment');
  });

  it('internal-sftp is that word alone: a program whose name only starts with it is run as written', () => {
    const server = path.join(tmp, 'sftp-server-prefix');
    fs.writeFileSync(server, '#!/bin/sh\n', { mode: 0o755 });
    assert.deepEqual(parseSubsystem('sftp internal-sftp-wrapper -l INFO', [server]), [{ name: 'sftp', command: 'internal-sftp-wrapper -l INFO' }]);
    assert.equal(parseForceCommand('internal-sftpd', [server]), 'internal-sftpd');
  });

  it('PermitRootLogin: forced-commands-only in any case; prohibit-password and without-password refused with the reason', () => {
    assert.equal(loadServerConfig({ file: write('PermitRootLogin Forced-Commands-Only\n') }).PermitRootLogin, 'forced-commands-only');
    for (const value of ['prohibit-password', 'without-password', 'Without-Password']) {
      const f = write(`PermitRootLogin ${value}\n`);
      assert.match(fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: PermitRootLogin: `).message, /tlssh logins always use a certificate/, value);
    }
  });

  it('Subsystem: internal-sftp means the first sftp-server found, with its arguments, and is an error without one', () => {
    const server = path.join(tmp, 'sftp-server');
    fs.writeFileSync(server, '#!/bin/sh\n', { mode: 0o755 });
    assert.deepEqual(parseSubsystem('sftp internal-sftp -f AUTH -l INFO', ['/nonexistent/sftp-server', server]), [{ name: 'sftp', command: `${server} -f AUTH -l INFO` }]);
    assert.throws(() => parseSubsystem('sftp internal-sftp', ['/nonexistent/sftp-server']), /no built-in SFTP server.*openssh-sftp-server/);
  });

  it('ForceCommand: a command line as written; none, the default, forces nothing; internal-sftp is the sftp-server', () => {
    assert.equal(loadServerConfig({ file: write('') }).ForceCommand, '');
    assert.equal(loadServerConfig({ file: write('ForceCommand /usr/bin/rrsync -ro /srv/backup\n') }).ForceCommand, '/usr/bin/rrsync -ro /srv/backup');
    assert.equal(loadServerConfig({ file: write('ForceCommand /bin/true\nForceCommand none\n') }).ForceCommand, '');
    assert.equal(loadServerConfig({ file: write('ForceCommand NONE\n') }).ForceCommand, '', 'none in any case, as every keyword\'s none');
    assert.equal(loadServerConfig({ file: write('ForceCommand " none "\n') }).ForceCommand, '', 'quoted, with spaces around it');
    assert.equal(loadServerConfig({ file: write('ForceCommand git-shell -c "$SSH_ORIGINAL_COMMAND"\n') }).ForceCommand, 'git-shell -c "$SSH_ORIGINAL_COMMAND"');
    assert.equal(loadServerConfig({ file: write(''), overrides: ['ForceCommand=/bin/date -u'] }).ForceCommand, '/bin/date -u');
    const server = path.join(tmp, 'sftp-server-forced');
    fs.writeFileSync(server, '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(parseForceCommand('internal-sftp -R', ['/nonexistent/sftp-server', server]), `${server} -R`);
    assert.throws(() => parseForceCommand('internal-sftp', ['/nonexistent/sftp-server']), /no built-in SFTP server/);
    const f = write('ForceCommand "/bin/echo \\u0007"\n');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: ForceCommand: `);
  });

  it('UsePAM and PAMServiceName: a service is a file name in /etc/pam.d, never a path', () => {
    const cfg = loadServerConfig({ file: write('UsePAM no\nPAMServiceName tlsshd-test.1\n') });
    assert.equal(cfg.UsePAM, false);
    assert.equal(cfg.PAMServiceName, 'tlsshd-test.1');
    const f = write('PAMServiceName ../shadow\n');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: PAMServiceName: `);
    const g = write('UsePAM maybe\n');
    fails(() => loadServerConfig({ file: g }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${g}:1: UsePAM: `);
  });

  it('MaxSessions: sshd\'s keyword, default 10, 1 or more', () => {
    assert.equal(loadServerConfig({ file: write('') }).MaxSessions, 10);
    assert.equal(loadServerConfig({ file: write('MaxSessions 3\n') }).MaxSessions, 3);
    for (const bad of ['0', '-1', 'ten', '1025']) {
      const f = write(`MaxSessions ${bad}\n`);
      fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: MaxSessions: `);
    }
  });
});

describe('tlsshd Listen and Port', () => {
  it('applies the final Port to Listen lines without one, wherever Port appears', () => {
    const cfg = loadServerConfig({ file: write('Listen 127.0.0.1\nListen [::1]:99\nListen ::2\nPort 1234\n') });
    assert.deepStrictEqual(cfg.Listen, ['127.0.0.1:1234', '[::1]:99', '[::2]:1234']);
    assert.deepStrictEqual(listenAddresses(cfg), [
      { host: '127.0.0.1', port: 1234, ipv6Only: false },
      { host: '::1', port: 99, ipv6Only: false },
      { host: '::2', port: 1234, ipv6Only: false },
    ]);
  });

  it('makes :: IPv6-only only when 0.0.0.0 is also bound on that port', () => {
    assert.deepStrictEqual(listenAddresses(loadServerConfig({ file: write('Port 5\n') })), [
      { host: '0.0.0.0', port: 5, ipv6Only: false },
      { host: '::', port: 5, ipv6Only: true },
    ]);
    assert.deepStrictEqual(listenAddresses(loadServerConfig({ file: write('Listen ::\n') })), [{ host: '::', port: 232, ipv6Only: false }]);
  });

  it('accepts Port 0 so a daemon can take any free port', () => {
    assert.deepStrictEqual(loadServerConfig({ file: write('Port 0\nListen 127.0.0.1\n') }).Listen, ['127.0.0.1:0']);
  });

  it('drops duplicate Listen entries', () => {
    assert.deepStrictEqual(loadServerConfig({ file: write('Listen 127.0.0.1\nListen 127.0.0.1:232\n') }).Listen, ['127.0.0.1:232']);
  });

  it('a Listen port out of range is said to be, in Port\'s words; one that is no number, so', () => {
    const big = write('Listen 127.0.0.1:99999\n');
    fails(() => loadServerConfig({ file: big }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${big}:1: Listen: "127.0.0.1:99999": port "99999" is out of range (0-65535)`);
    const word = write('Listen 127.0.0.1:ssh\n');
    fails(() => loadServerConfig({ file: word }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${word}:1: Listen: "127.0.0.1:ssh": port "ssh" is not a number (0-65535)`);
  });
});

describe('tlsshd -o overrides', () => {
  it('override any line and are recorded as "command line"', () => {
    const cfg = loadServerConfig({ file: write('Port 1\nPermitRootLogin yes\n'), overrides: ['Port=2', 'permitrootlogin no', 'Port = 3'] });
    assert.equal(cfg.Port, 3);
    assert.equal(cfg.PermitRootLogin, false);
    assert.equal(cfg.origin.Port, 'command line');
  });

  it('replace a list keyword from the files on the first -o and append after that', () => {
    const f = write('Listen 10.0.0.1\nAcceptEnv A\n');
    const cfg = loadServerConfig({ file: f, overrides: ['Listen=127.0.0.1', 'Listen=127.0.0.2:7', 'AcceptEnv=B'] });
    assert.deepStrictEqual(cfg.Listen, ['127.0.0.1:232', '127.0.0.2:7']);
    assert.deepStrictEqual(cfg.AcceptEnv, ['B']);
  });

  it('resolve relative paths against the working directory', () => {
    assert.equal(loadServerConfig({ file: write(''), overrides: ['CertFile=rel/x.crt'] }).CertFile, path.resolve('rel/x.crt'));
  });

  it('report bad values, unknown keywords and syntax as coming from the command line', () => {
    fails(() => loadServerConfig({ file: write(''), overrides: ['Port=abc'] }), 'TLSSH_ERR_CONFIG_BAD_VALUE', 'command line: -o Port=abc: Port: ');
    fails(() => loadServerConfig({ file: write(''), overrides: ['Nope=1'] }), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', 'command line: -o Nope=1: Nope: ');
    fails(() => loadServerConfig({ file: write(''), overrides: ['SendEnv=X'] }), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', 'command line: -o SendEnv=X: ');
    fails(() => loadServerConfig({ file: write(''), overrides: ['include=/etc/passwd'] }), 'TLSSH_ERR_CONFIG_SYNTAX', 'command line: -o include=/etc/passwd: ');
    fails(() => loadServerConfig({ file: write(''), overrides: [''] }), 'TLSSH_ERR_CONFIG_SYNTAX', 'command line: -o : ');
    fails(() => loadServerConfig({ file: write(''), overrides: ['[x]'] }), 'TLSSH_ERR_CONFIG_SYNTAX', 'command line: -o [x]: ');
  });

  it('refuse passwords, which argv would show to every local user, without echoing them', () => {
    for (const o of ['PrivkeyPassword=hunter2', 'tpmsrkpassword hunter2']) {
      const e = fails(() => loadServerConfig({ file: write(''), overrides: [o] }), 'TLSSH_ERR_CONFIG_BAD_VALUE', 'command line: -o ');
      assert.ok(!e.message.includes('hunter2'), e.message);
    }
  });
});

describe('tlsshd.conf includes', () => {
  it('reads include, skips a missing -include, expands wildcards in order and skips hidden files', () => {
    const cfg = loadServerConfig({ file: path.join(FIXTURES, 'include-main.conf') });
    assert.equal(cfg.Port, 2002);
    assert.equal(cfg.origin.Port, `${path.join(FIXTURES, 'conf.d', '20-b.conf')}:2`);
    assert.deepStrictEqual(cfg.AcceptEnv, ['SUB', 'A', 'B']);
    assert.equal(cfg.ClientDomain, '.main');
  });

  it('fails with TLSSH_ERR_CONFIG_READ at the include line when an include is missing', () => {
    const f = path.join(FIXTURES, 'include-missing.conf');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_READ', `${f}:2: include: `);
  });

  it('reports an include loop at the line that closes it', () => {
    const b = path.join(FIXTURES, 'loop-b.conf');
    fails(() => loadServerConfig({ file: path.join(FIXTURES, 'loop-a.conf') }), 'TLSSH_ERR_CONFIG_SYNTAX', `${b}:2: include: `);
  });

  it('reports a file including itself, even through -include', () => {
    const f = path.join(tmp, 'self.conf');
    fs.writeFileSync(f, '# me\n-include self.conf\n');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_SYNTAX', `${f}:2: -include: `);
  });

  it('allows the same file twice when it is not a loop', () => {
    const leaf = write('AcceptEnv LEAF\n', 0o644, 'leaf.conf');
    const cfg = loadServerConfig({ file: write(`include ${leaf}\ninclude ${leaf}\n`) });
    assert.deepStrictEqual(cfg.AcceptEnv, ['LEAF']);
  });

  it('reports errors inside an included file at that file\'s line', () => {
    const inner = write('\n\nPort many\n', 0o644, 'inner-bad.conf');
    fails(() => loadServerConfig({ file: write('include inner-bad.conf\n') }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${inner}:3: Port: `);
  });

  it('is not troubled by a wildcard that matches nothing', () => {
    assert.equal(loadServerConfig({ file: write('include nothing.d/*.conf\nPort 3\n') }).Port, 3);
  });

  it('stops a runaway chain of distinct files', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'chain-'));
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(dir, `${i}.conf`), `include ${i + 1}.conf\n`);
    fs.writeFileSync(path.join(dir, '40.conf'), 'Port 1\n');
    fails(() => loadServerConfig({ file: path.join(dir, '0.conf') }), 'TLSSH_ERR_CONFIG_SYNTAX', dir);
  });

  it('requires a file name', () => {
    const f = write('include\n');
    fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: include: `);
  });
});

describe('tlsshd password files', () => {
  it('loads a password from a mode 600 file; present-but-empty means empty', () => {
    const f = write('TpmSrkPassword\nPrivkeyPassword "p w"\n', 0o600);
    const cfg = loadServerConfig({ file: f });
    assert.equal(cfg.TpmSrkPassword, '');
    assert.equal(cfg.PrivkeyPassword, 'p w');
    assert.deepStrictEqual(secretFiles(cfg), [f]);
  });

  it('refuses a group- or world-readable file that sets a password', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      const f = write('PrivkeyPassword x\n', mode);
      fails(() => loadServerConfig({ file: f }), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `${f}: `);
    }
  });

  it('checks the included file that holds the password, not only the main one', () => {
    const secret = write('TpmSrkPassword s\n', 0o644, 'secret.conf');
    const main = write(`include ${secret}\n`, 0o600);
    fails(() => loadServerConfig({ file: main }), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `${secret}: `);
    fs.chmodSync(secret, 0o600);
    assert.equal(loadServerConfig({ file: main }).TpmSrkPassword, 's');
  });

  it('does not care about the mode of a file without passwords', () => {
    assert.equal(loadServerConfig({ file: write('Port 7\n', 0o644) }).Port, 7);
  });

  it('assertPrivateFile accepts 600 and 400, refuses 644, and reports a missing file as unreadable', () => {
    assertPrivateFile(write('', 0o600));
    assertPrivateFile(write('', 0o400));
    const open = write('', 0o644);
    fails(() => assertPrivateFile(open), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `${open}: `);
    const gone = path.join(tmp, 'gone.conf');
    fails(() => assertPrivateFile(gone), 'TLSSH_ERR_CONFIG_READ', `${gone}: `);
  });
});
