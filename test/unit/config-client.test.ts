import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { fails } from '../helpers/expect-failure';
import {
  defaultClientConfig, hostMatches, insecureSecretFiles, loadClientConfig, secretFiles, type ClientConfig, type ConfigPaths,
} from '../../src/config';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/config');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-config-client-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HOME = '/home/u';

let n = 0;
function write(text: string, mode = 0o644): string {
  const f = path.join(tmp, `c${++n}.conf`);
  fs.writeFileSync(f, text);
  fs.chmodSync(f, mode);
  return f;
}

function paths(system: string, user: string): ConfigPaths {
  return { serverFile: '/nonexistent', systemClientFile: system, userClientFile: user };
}
const NONE = paths(path.join(tmp, 'no-system.conf'), path.join(tmp, 'no-user.conf'));


function plain(cfg: ClientConfig): unknown {
  return JSON.parse(JSON.stringify(cfg));
}

describe('tlssh.conf host sections (golden)', () => {
  const file = path.join(FIXTURES, 'client-sections.conf');
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'client-sections.expected.json'), 'utf8').split('<dir>').join(FIXTURES)) as Record<string, unknown>;
  for (const host of Object.keys(expected)) {
    it(`gives ${host} its settings`, () => {
      assert.deepStrictEqual(plain(loadClientConfig({ host, file, home: HOME })), expected[host]);
    });
  }

  it('matches host names case-insensitively, as DNS does', () => {
    assert.equal(loadClientConfig({ host: 'WWW.Example.COM', file, home: HOME }).Port, 2323);
  });
});

describe('tlssh.conf defaults', () => {
  it('uses every default, with ~ under the given home, when no file exists', () => {
    const cfg = loadClientConfig({ host: 'h.example.net', home: HOME }, NONE);
    const want = defaultClientConfig(HOME);
    for (const [k, v] of Object.entries(want)) assert.deepStrictEqual(cfg[k as keyof ClientConfig], v, k);
    assert.equal(cfg.CertFile, '/home/u/.tlssh/keys/default.crt');
    assert.equal(cfg.KeyFile, '/home/u/.tlssh/keys/default.key');
    assert.equal(cfg.ServerCAFile, '/etc/tlssh/ServerCA.crt');
    assert.equal(cfg.Port, 232);
    assert.equal(cfg.EscapeChar, '~');
    assert.equal(cfg.HostName, 'h.example.net');
    assert.equal(cfg.host, 'h.example.net');
    assert.equal(cfg.origin.HostName, 'default');
    assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.SendEnv));
  });

  it('reads ~/.tlssh/tlssh.conf under the given home by default', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    fs.mkdirSync(path.join(home, '.tlssh'));
    fs.writeFileSync(path.join(home, '.tlssh', 'tlssh.conf'), 'Port 4444\n');
    const cfg = loadClientConfig({ host: 'h', home }, { serverFile: '/x', systemClientFile: path.join(tmp, 'none') });
    assert.equal(cfg.Port, 4444);
  });

  it('fails with TLSSH_ERR_CONFIG_READ when a -c file is missing', () => {
    const f = path.join(tmp, 'missing.conf');
    fails(() => loadClientConfig({ host: 'h', file: f, home: HOME }, NONE), 'TLSSH_ERR_CONFIG_READ', `${f}: `);
  });

  it('refuses an empty host or one with spaces', () => {
    fails(() => loadClientConfig({ host: '', home: HOME }, NONE), 'TLSSH_ERR_USAGE', '');
    fails(() => loadClientConfig({ host: 'a b', home: HOME }, NONE), 'TLSSH_ERR_USAGE', '');
  });

  it('refuses a config that leaves no way to verify the server', () => {
    const f = write('ServerCAFile none\n');
    fails(() => loadClientConfig({ host: 'h', file: f, home: HOME }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:1: ServerCAFile: `);
  });
});

describe('tlssh.conf warnings for configs laid out for ssh', () => {
  const load = (text: string, host: string): readonly string[] => loadClientConfig({ host, file: write(text), home: HOME }).warnings;

  it('warns when a later Host block overrides a value an earlier matching section set', () => {
    const w = load('Host db\nPort 2232\nUser pg\nSendEnv A\nHost *\nPort 2000\nUser pg\nSendEnv B\n', 'db');
    // Port differs; User is the same; SendEnv is a list, whose lines add up in both.
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /:6: Port in "Host \*" overrides Port in "Host db" \(.*:2\) for db: in tlssh the last matching section wins, in ssh the first/);
  });

  it('says nothing for tlssh\'s own [sections], for hosts one section matches, or for global lines', () => {
    assert.deepEqual(load('[db]\nPort 2232\n[*]\nPort 2000\n', 'db'), []);
    assert.deepEqual(load('Host db\nPort 2232\nHost *\nPort 2000\n', 'web'), []);
    assert.deepEqual(load('Port 1\nHost *\nPort 2000\n', 'db'), []);
    // tlssh's own order with Host lines, general first: what the warning itself advises.
    assert.deepEqual(load('Host *\nPort 2000\nHost *.example.com\nPort 2100\nHost db.example.com\nPort 2232\n', 'db.example.com'), []);
  });

  it('warns for wildcards after exact names too, the other half of ssh\'s layout', () => {
    const w = load('Host db.example.com\nPort 2232\nHost *.example.com\nPort 2100\n', 'db.example.com');
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /Port in "Host \*\.example\.com" overrides Port in "Host db\.example\.com"/);
  });

  it('warns for Host * after a wildcard block: * is always ssh\'s catch-all, put last', () => {
    const w = load('Host *.example.com\nPort 2100\nHost *\nPort 2000\n', 'db.example.com');
    assert.equal(w.length, 1, w.join('\n'));
    assert.match(w[0]!, /Port in "Host \*" overrides Port in "Host \*\.example\.com"/);
  });
});

describe('ssh_config lines that shared configs carry', () => {
  it('IgnoreUnknown skips the unknown keywords it lists, from its line on and in included files, as ssh does', () => {
    const inc = write('UseKeychain yes\n');
    const cfg = loadClientConfig({ host: 'h', file: write(`IgnoreUnknown UseKeychain,Foo*\nUseKeychain yes\nFooBar 1\ninclude ${inc}\n`), home: HOME });
    assert.equal(cfg.notes.filter((n) => /ignored: unknown to tlssh, and listed in IgnoreUnknown/.test(n)).length, 3, cfg.notes.join('\n'));
    // Before the IgnoreUnknown line, or not listed: still an error naming file, line and keyword.
    const before = write('UseKeychain yes\nIgnoreUnknown UseKeychain\n');
    fails(() => loadClientConfig({ host: 'h', file: before, home: HOME }), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${before}:1: UseKeychain: unknown keyword`);
    const other = write('IgnoreUnknown UseKeychain\nOther yes\n');
    fails(() => loadClientConfig({ host: 'h', file: other, home: HOME }), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${other}:2: Other: `);
    // What tlssh refuses on purpose stays refused: ignoring Match would apply its lines to every host.
    const match = write('IgnoreUnknown *\nMatch host x\n');
    fails(() => loadClientConfig({ host: 'h', file: match, home: HOME }), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${match}:2: Match: OpenSSH keyword not supported`);
    const bad = write('IgnoreUnknown Use-Keychain\n');
    fails(() => loadClientConfig({ host: 'h', file: bad, home: HOME }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${bad}:1: IgnoreUnknown: `);
  });

  it('HostName expands %h to the host as typed and %% to %; other tokens are refused', () => {
    const f = write('Host web*\nHostName %h.internal.example.com\nHost pct\nHostName a%%b\n');
    assert.equal(loadClientConfig({ host: 'web1', file: f, home: HOME }).HostName, 'web1.internal.example.com');
    // A host the section does not match keeps its own name: the line is no error for it either.
    assert.equal(loadClientConfig({ host: 'db1', file: f, home: HOME }).HostName, 'db1');
    assert.equal(loadClientConfig({ host: 'pct', file: f, home: HOME }).HostName, 'a%b');
    const p = write('HostName %p.example.com\n');
    fails(() => loadClientConfig({ host: 'h', file: p, home: HOME }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${p}:1: HostName: `);
  });
});

describe('tlssh.conf layering', () => {
  const system = path.join(FIXTURES, 'client-sections.conf');
  const user = path.join(FIXTURES, 'client-user.conf');

  it('lays the user file over the system file, sections included', () => {
    const cfg = loadClientConfig({ host: 'www.example.com', home: HOME }, paths(system, user));
    assert.equal(cfg.User, 'bob');
    assert.equal(cfg.origin.User, `${user}:2`);
    assert.equal(cfg.Port, 2424);
    // As ssh's: SendEnv lines add to the default.
    assert.deepStrictEqual(cfg.SendEnv, ['LANG', 'LC_*', 'TZ', 'EDITOR']);
    const other = loadClientConfig({ host: 'other.net', home: HOME }, paths(system, user));
    assert.equal(other.Port, 2222);
  });

  it('reads only the -c file when one is given', () => {
    const cfg = loadClientConfig({ host: 'www.example.com', home: HOME, file: user }, paths(system, user));
    assert.equal(cfg.Port, 2424);
    assert.equal(cfg.CertFile, '/home/u/.tlssh/keys/default.crt');
    assert.deepStrictEqual(cfg.SendEnv, ['LANG', 'LC_*']);
  });

  it('applies a matching section over a global line that comes after it in an included file', () => {
    const inc = write('Port 1111\n');
    const f = write(`[h]\nPort 2222\n`);
    const main = write(`include ${f}\ninclude ${inc}\n`);
    assert.equal(loadClientConfig({ host: 'h', file: main, home: HOME }).Port, 2222);
    assert.equal(loadClientConfig({ host: 'x', file: main, home: HOME }).Port, 1111);
  });

  it('lets -o override sections and files', () => {
    const cfg = loadClientConfig(
      { host: 'www.example.com', home: HOME, overrides: ['Port=7', 'SendEnv=ONLY', 'EscapeChar=none', 'CertFile=~/o.crt'] },
      paths(system, user),
    );
    assert.equal(cfg.Port, 7);
    // SendEnv is ssh's list: -o adds to what the defaults and files gave, and -pattern takes out.
    assert.deepStrictEqual(cfg.SendEnv, ['LANG', 'LC_*', 'TZ', 'EDITOR', 'ONLY']);
    const only = loadClientConfig({ host: 'www.example.com', home: HOME, overrides: ['SendEnv=-* ONLY'] }, paths(system, user));
    assert.deepStrictEqual(only.SendEnv, ['ONLY']);
    const noLocale = loadClientConfig({ host: 'h', home: HOME, overrides: ['SendEnv=-LANG -LC_* TZ'] }, NONE);
    assert.deepStrictEqual(noLocale.SendEnv, ['TZ']);
    assert.equal(cfg.EscapeChar, 'none');
    assert.equal(cfg.CertFile, '/home/u/o.crt');
    assert.equal(cfg.origin.Port, 'command line');
  });

  it('refuses server keywords in -o and passwords on the command line', () => {
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: ['Listen=1.2.3.4'] }, NONE), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', 'command line: -o Listen=1.2.3.4: Listen: ');
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: ['PrivkeyPassword=x'] }, NONE), 'TLSSH_ERR_CONFIG_BAD_VALUE', 'command line: -o ');
    // A keyword alone is a forgotten value (ssh: "no argument after keyword"); Keyword= is empty on purpose.
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: ['IdentityFile'] }, NONE), 'TLSSH_ERR_CONFIG_SYNTAX', 'command line: -o IdentityFile: IdentityFile: no value after the keyword');
  });

  it('checks lines of sections that do not match the host too', () => {
    const f = write('[elsewhere]\nPort nope\n');
    fails(() => loadClientConfig({ host: 'h', file: f, home: HOME }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:2: Port: `);
  });
});

describe('tlssh.conf includes inside sections', () => {
  const file = path.join(FIXTURES, 'client-include.conf');
  it('gives the included lines the section of the include line', () => {
    const cfg = loadClientConfig({ host: 'www.example.com', file, home: HOME });
    assert.equal(cfg.User, 'fromsub');
    assert.equal(cfg.Port, 3000);
    assert.equal(cfg.ConnectTimeout, 5);
  });

  it('ends a section begun in an included file at the end of that file', () => {
    assert.equal(loadClientConfig({ host: 'special.example.com', file, home: HOME }).User, 'special');
    // ConnectTimeout, after the include line, is back in the [*.example.com] section.
    assert.equal(loadClientConfig({ host: 'special.example.com', file, home: HOME }).ConnectTimeout, 5);
    const other = loadClientConfig({ host: 'other.org', file, home: HOME });
    assert.equal(other.User, '');
    assert.equal(other.Port, 232);
  });

  it('applies a section inside a file included from a section only where both match, as ssh does', () => {
    const inc = write('Host *\n  User fromstar\n[*db*]\n  Port 2000\n');
    const main = write(`Host web*\n  Include ${inc}\n`);
    assert.equal(loadClientConfig({ host: 'web1', file: main, home: HOME }).User, 'fromstar');
    assert.equal(loadClientConfig({ host: 'db1', file: main, home: HOME }).User, '', 'Host * inside Host web* is not for db1');
    assert.equal(loadClientConfig({ host: 'db1', file: main, home: HOME }).Port, 232);
    assert.equal(loadClientConfig({ host: 'webdb', file: main, home: HOME }).Port, 2000, 'both match');
    // An include outside any section leaves its sections as they are.
    assert.equal(loadClientConfig({ host: 'db1', file: write(`Include ${inc}\n`), home: HOME }).Port, 2000);
  });

  it('expands ~/ in include names with the given home', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    fs.writeFileSync(path.join(home, 'extra.conf'), 'User fromhome\n');
    assert.equal(loadClientConfig({ host: 'h', file: write('include ~/extra.conf\n'), home }).User, 'fromhome');
  });
});

describe('tlssh password files', () => {
  it('loads passwords and lists the files that others can read', () => {
    const open = write('PrivkeyPassword pw\n', 0o644);
    const closed = write('TpmSrkPassword\n', 0o600);
    const main = write(`include ${open}\ninclude ${closed}\n`, 0o644);
    const cfg = loadClientConfig({ host: 'h', file: main, home: HOME });
    assert.equal(cfg.PrivkeyPassword, 'pw');
    assert.equal(cfg.TpmSrkPassword, '');
    assert.deepStrictEqual(secretFiles(cfg), [open, closed]);
    assert.deepStrictEqual(insecureSecretFiles(cfg), [open]);
  });

  it('leaves passwords undefined when no line sets them', () => {
    const cfg = loadClientConfig({ host: 'h', file: write('Port 1\n'), home: HOME });
    assert.equal(cfg.PrivkeyPassword, undefined);
    assert.equal(cfg.TpmSrkPassword, undefined);
    assert.deepStrictEqual(insecureSecretFiles(cfg), []);
  });
});

describe('host patterns', () => {
  const cases: Array<[string, string[], boolean]> = [
    ['a.example.com', ['*.example.com'], true],
    ['example.com', ['*.example.com'], false],
    ['db1.x', ['db?.x'], true],
    ['db10.x', ['db?.x'], false],
    ['test.example.com', ['*.example.com', '!test.example.com'], false],
    ['test.example.com', ['!test.example.com', '*.example.com'], false],
    ['other', ['!test'], false],
    ['A.B', ['a.b'], true],
    ['a.b', ['a.c', 'a.b'], true],
    ['a+b', ['a+b'], true],
    ['axb', ['a.b'], false],
    ['2001:db8::1', ['2001:db8::*'], true],
  ];
  for (const [host, patterns, want] of cases) {
    it(`${want ? 'matches' : 'does not match'} ${host} against ${patterns.join(' ')}`, () => {
      assert.equal(hostMatches(host, patterns), want);
    });
  }
});

describe('OpenSSH keywords in tlssh.conf and -o', () => {
  it("accepts the ones that mean nothing here, with a note naming the place, and changes nothing", () => {
    const f = write('StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n[h]\nForwardX11 no\n');
    const cfg = loadClientConfig(
      { host: 'h', file: f, home: HOME, overrides: ['KbdInteractiveAuthentication=no', 'GSSAPIAuthentication=no', 'ForwardAgent=no', 'Compression=yes'] },
      NONE,
    );
    assert.deepStrictEqual(plain(cfg), plain(loadClientConfig({ host: 'h', file: write(''), home: HOME }, NONE)));
    const notes = cfg.notes.filter((l) => l.includes(' ignored: '));
    assert.equal(notes.length, 7, notes.join('\n'));
    assert.ok(notes[0]!.startsWith(`${f}:1: StrictHostKeyChecking no ignored: `), notes[0]);
    assert.ok(notes.some((l) => l.startsWith('command line: Compression yes ignored: ')), notes.join('\n'));
  });

  it('reads ControlMaster, ControlPath and ControlPersist with ssh\'s meanings (no longer ignored)', () => {
    const f = write('[h]\nControlMaster autoask\nControlPath ~/.tlssh/cm-%C\nControlPersist 10m\n');
    const cfg = loadClientConfig({ host: 'h', file: f, home: HOME }, NONE);
    assert.equal(cfg.ControlMaster, 'autoask');
    assert.equal(cfg.ControlPath, `${HOME}/.tlssh/cm-%C`);
    assert.equal(cfg.ControlPersist, 600);
    assert.equal(cfg.notes.filter((l) => l.includes(' ignored: ')).length, 0);
    const dflt = loadClientConfig({ host: 'h', file: write(''), home: HOME }, NONE);
    assert.deepEqual([dflt.ControlMaster, dflt.ControlPath, dflt.ControlPersist], ['no', 'none', 'no']);
    const ov = (o: string[]): ReturnType<typeof loadClientConfig> => loadClientConfig({ host: 'h', file: write(''), home: HOME, overrides: o }, NONE);
    assert.equal(ov(['ControlPersist=yes']).ControlPersist, 'yes');
    assert.equal(ov(['ControlPersist=0']).ControlPersist, 'yes');
    assert.equal(ov(['ControlPersist=no']).ControlPersist, 'no');
    assert.equal(ov(['ControlPersist=60s']).ControlPersist, 60);
    assert.equal(ov(['ControlPath=none']).ControlPath, 'none');
    assert.equal(ov(['ControlPath=%d/.tlssh/%r@%h:%p']).ControlPath, '%d/.tlssh/%r@%h:%p');
    for (const bad of ['ControlMaster=maybe', 'ControlPersist=soon', 'ControlPath=/tmp/%x', 'ControlPath=/tmp/%']) {
      assert.throws(() => ov([bad]), (e: unknown) => (e as { code?: string }).code === 'TLSSH_ERR_CONFIG_BAD_VALUE', bad);
    }
  });

  it('reports the files read and the sections applied', () => {
    const f = write('Port 1\n[other]\nPort 2\n[h *.x]\nPort 3\n');
    const notes = loadClientConfig({ host: 'h', file: f, home: HOME }, NONE).notes;
    assert.deepEqual(notes, [`Reading configuration data ${f}`, `${f}:4: Applying options for [h *.x]`]);
  });

  it('refuses forwarding and proxies, naming the place', () => {
    const f = write('\nLocalForward 1 h:2\n');
    fails(() => loadClientConfig({ host: 'h', file: f, home: HOME }, NONE), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${f}:2: LocalForward`);
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: ['ProxyJump=j'] }, NONE), 'TLSSH_ERR_CONFIG_BAD_VALUE', 'command line: -o ProxyJump=j: ProxyJump: "j" is not supported (tlssh has no jump hosts');
  });

  it('takes ssh\'s "off" values of keywords it has no use for, and refuses the others instead of ignoring them', () => {
    // "ProxyJump none" under one Host undoes a wildcard's: the usual ssh_config idiom.
    const f = write('ProxyJump None\nProxyCommand none\nTunnel no\nSessionType default\nStdinNull no\nForkAfterAuthentication no\nPort 2300\n');
    const cfg = loadClientConfig({ host: 'h', file: f, home: HOME }, NONE);
    assert.equal(cfg.Port, 2300);
    assert.ok(cfg.notes.some((n) => n === `${f}:1: ProxyJump None ignored: what tlssh does anyway`), cfg.notes.join('\n'));
    // Ignoring these would do the opposite of what they ask: stdin read, a command run, the foreground.
    for (const [o, why] of [['StdinNull=yes', 'use -n'], ['SessionType=none', 'use -N or -s'], ['ForkAfterAuthentication=yes', '-f -N -M'], ['Tunnel=yes', 'no tunnel devices'], ['ProxyCommand=nc %h %p', 'only directly']] as const) {
      const e = fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: [o] }, NONE), 'TLSSH_ERR_CONFIG_BAD_VALUE', `command line: -o ${o}: ${o.split('=')[0]}: `);
      assert.ok(e.message.includes(why), e.message);
    }
  });

  it('takes RemoteCommand none (as scp passes it) but refuses a real one, and RequestTTY', () => {
    assert.equal(loadClientConfig({ host: 'h', home: HOME, overrides: ['RemoteCommand=none', 'RequestTTY=no'] }, NONE).RequestTTY, 'no');
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: ['RemoteCommand=ls'] }, NONE), 'TLSSH_ERR_CONFIG_BAD_VALUE', 'command line: -o RemoteCommand=ls: RemoteCommand');
  });

  it("maps ssh's names: CertificateFile, ServerAliveInterval; takes BatchMode and NumberOfPasswordPrompts", () => {
    const cfg = loadClientConfig({ host: 'h', home: HOME, overrides: ['CertificateFile=/c.crt', 'ServerAliveInterval=15', 'BatchMode=yes', 'NumberOfPasswordPrompts=1'] }, NONE);
    assert.equal(cfg.CertFile, '/c.crt');
    assert.equal(cfg.Keepalive, 15);
    assert.equal(cfg.BatchMode, true);
    assert.equal(cfg.NumberOfPasswordPrompts, 1);
  });

  it('IdentityFile finds the certificate beside the key, or takes one file with both', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'id-'));
    const key = path.join(dir, 'work.key');
    fs.writeFileSync(key, '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n');
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${key}`] }, NONE), 'TLSSH_ERR_TLS_CERT_FILE', `no certificate for identity file ${key}: tried ${key}.crt, ${key}-cert.pem, ${path.join(dir, 'work.crt')}`);
    fs.writeFileSync(path.join(dir, 'work.crt'), 'x');
    let cfg = loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${key}`] }, NONE);
    assert.equal(cfg.KeyFile, key);
    assert.equal(cfg.CertFile, path.join(dir, 'work.crt'));
    fs.writeFileSync(`${key}-cert.pem`, 'x');
    cfg = loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${key}`] }, NONE);
    assert.equal(cfg.CertFile, `${key}-cert.pem`);
    const both = path.join(dir, 'both.pem');
    fs.writeFileSync(both, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\n-----END EC PRIVATE KEY-----\n');
    cfg = loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${both}`] }, NONE);
    assert.equal(cfg.CertFile, both);
    assert.equal(cfg.KeyFile, both);
    // The certificate given where the key belongs: said as such, not as names tried beside it.
    const certOnly = path.join(dir, 'only.crt');
    fs.writeFileSync(certOnly, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${certOnly}`] }, NONE), 'TLSSH_ERR_TLS_KEY', `identity file ${certOnly} is a certificate: -i (IdentityFile) takes the private key`);
  });

  it('IdentityFile, CertFile and KeyFile take ssh\'s %-tokens, expanded for the destination', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'tok-'));
    const me = os.userInfo().username;
    // %h is HostName in lower case, %n the host as typed, %r the remote user, %p the port.
    fs.writeFileSync(path.join(dir, 'db1.key'), 'k');
    fs.writeFileSync(path.join(dir, 'db1.crt'), 'c');
    const file = write(`[DB*]\nHostName db1\nUser bob\nPort 2300\nIdentityFile ${dir}/%h.key\n[other]\nCertFile %d/c/%r@%n-%p-%%.crt\nKeyFile ~/k/%u-%i.key\n`);
    let cfg = loadClientConfig({ host: 'DB7', file, home: HOME });
    assert.equal(cfg.KeyFile, path.join(dir, 'db1.key'));
    assert.equal(cfg.CertFile, path.join(dir, 'db1.crt'));
    assert.equal(cfg.IdentityFile, path.join(dir, 'db1.key'));
    cfg = loadClientConfig({ host: 'other', file, home: HOME });
    assert.equal(cfg.CertFile, `${HOME}/c/${me}@other-232-%.crt`);
    assert.equal(cfg.KeyFile, `${HOME}/k/${me}-${process.getuid?.()}.key`);
    // -i takes them too.
    cfg = loadClientConfig({ host: 'db1', home: HOME, overrides: [`IdentityFile=${dir}/%n.key`] }, NONE);
    assert.equal(cfg.KeyFile, path.join(dir, 'db1.key'));
    // A default is a path, never a template: a % in the home directory stays a %.
    cfg = loadClientConfig({ host: 'h', home: '/home/50%d' }, NONE);
    assert.equal(cfg.KeyFile, '/home/50%d/.tlssh/keys/default.key');
    // An unknown token names the file, the line and the keyword.
    const bad = write('Port 2300\nKeyFile ~/k/%q.key\n');
    fails(() => loadClientConfig({ host: 'h', file: bad, home: HOME }), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${bad}:2: KeyFile: "~/k/%q.key": unknown token %q`);
  });

  it('a missing IdentityFile is a failure, but only a warning for -G', () => {
    const nope = path.join(tmp, 'no-such.key');
    fails(() => loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${nope}`] }, NONE), 'TLSSH_ERR_TLS_KEY', `identity file ${nope}: no such file`);
    const cfg = loadClientConfig({ host: 'h', home: HOME, overrides: [`IdentityFile=${nope}`], dumpOnly: true }, NONE);
    assert.equal(cfg.KeyFile, nope);
    assert.deepEqual(cfg.warnings, [`tlssh: warning: identity file ${nope}: no such file`]);
  });
});

describe('the per-user tlssh.conf must be the user\'s alone, as ssh demands of ~/.ssh/config', () => {
  it('refuses one other users may write, and an include they may write', () => {
    const user = write('Port 2300\n', 0o666);
    const e = fails(() => loadClientConfig({ host: 'h', home: HOME }, paths(path.join(tmp, 'no-system.conf'), user)), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `bad owner or permissions on ${user}`);
    assert.match(e.message, /mode 0666/);
    const inc = write('Port 2301\n', 0o646);
    const withInclude = write(`include ${inc}\n`);
    fails(() => loadClientConfig({ host: 'h', home: HOME }, paths(path.join(tmp, 'no-system.conf'), withInclude)), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `bad owner or permissions on ${inc}`);
  });

  it('takes it group-writable only when the group is the owner\'s private group, as Debian\'s ssh', { skip: process.getuid?.() === 0 ? false : 'needs root to pick the file\'s group' }, () => {
    const load = (file: string): number => loadClientConfig({ host: 'h', home: HOME }, paths(path.join(tmp, 'no-system.conf'), file)).Port;
    // root's own group: root's primary group, with no other member (umask 002's user private group).
    const own = write('Port 2310\n', 0o664);
    fs.chownSync(own, 0, 0);
    assert.equal(load(own), 2310);
    // A group of nobody in particular, and one that lists another user: both refused.
    const adm = write('Port 2311\n', 0o664);
    execFileSync('chgrp', ['adm', adm]);
    fails(() => load(adm), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `bad owner or permissions on ${adm}`);
    const name = `tlssh-upg-${process.pid}`;
    execFileSync('groupadd', ['-U', 'root,nobody', name]);
    try {
      const shared = write('Port 2312\n', 0o664);
      execFileSync('chgrp', [name, shared]);
      fails(() => load(shared), 'TLSSH_ERR_CONFIG_INSECURE_MODE', `bad owner or permissions on ${shared}`);
    } finally {
      execFileSync('groupdel', [name]);
    }
  });
  it('takes it at 0644 and 0600; the system file and -F files are not judged', () => {
    for (const mode of [0o644, 0o600]) assert.equal(loadClientConfig({ host: 'h', home: HOME }, paths(path.join(tmp, 'no-system.conf'), write('Port 2302\n', mode))).Port, 2302);
    assert.equal(loadClientConfig({ host: 'h', home: HOME }, paths(write('Port 2303\n', 0o666), path.join(tmp, 'no-user.conf'))).Port, 2303);
    assert.equal(loadClientConfig({ host: 'h', file: write('Port 2304\n', 0o666), home: HOME }).Port, 2304);
  });
});
