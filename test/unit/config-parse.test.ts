import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../src/errors';
import { fails as failsWith } from '../helpers/expect-failure';
import { clientSchema, parseConfigText, serverSchema, type ConfigStatement } from '../../src/config';
import type { ConfigSchema } from '../../src/config';

const FILE = '/etc/tlssh/test.conf';

function sets(text: string, schema: ConfigSchema = serverSchema): Array<[string, unknown, number]> {
  return parseConfigText(text, FILE, schema, { home: '/home/u' }).map((s: ConfigStatement) => {
    assert.equal(s.kind, 'set');
    return s.kind === 'set' ? [s.spec.field, s.value, s.where.line] : ['', undefined, 0];
  });
}

/** The failure must carry `code` and name the place (and keyword) first, as administrators read it. */
function fails(fn: () => unknown, code: ErrorCode, place: string): Error {
  const e = failsWith(fn, code, place);
  assert.equal(e.category, 'config');
  return e;
}

describe('config lines', () => {
  it('reads `Keyword value` and `Keyword = value` alike, with or without spaces around =', () => {
    assert.deepEqual(sets('Port 1\nPort = 2\nPort=3\nPort\t4\n  Port  =  5  \n'), [
      ['Port', 1, 1], ['Port', 2, 2], ['Port', 3, 3], ['Port', 4, 4], ['Port', 5, 5],
    ]);
  });

  it('treats keywords case-insensitively and reports the canonical field', () => {
    assert.deepEqual(sets('port 1\nPORT 2\nclientdomain .x\n'), [['Port', 1, 1], ['Port', 2, 2], ['ClientDomain', '.x', 3]]);
  });

  it('skips # and ; comment lines and blank lines but keeps line numbers', () => {
    assert.deepEqual(sets('# c\n; c\n\n   \n\t# indented\nPort 7\n'), [['Port', 7, 6]]);
  });

  it('strips trailing comments and honours \\# and \\; escapes (ini rules)', () => {
    assert.deepEqual(sets('ClientDomain .a # note\nClientDomain = .b ; note\nTpmTcti a\\#b\\;c\n'), [
      ['ClientDomain', '.a', 1], ['ClientDomain', '.b', 2], ['TpmTcti', 'a#b;c', 3],
    ]);
  });

  it('keeps = inside a value of the `Keyword value` form', () => {
    assert.deepEqual(sets('TpmTcti swtpm:host=127.0.0.1,port=2321\n'), [['TpmTcti', 'swtpm:host=127.0.0.1,port=2321', 1]]);
  });

  it('decodes double quotes with JSON escapes and keeps single-quoted text exactly', () => {
    assert.deepEqual(sets('TpmTcti "a \\"b\\" #c" # comment\nTpmTcti \'123\'\nTpmTcti = \'x"y\'\n'), [
      ['TpmTcti', 'a "b" #c', 1], ['TpmTcti', '123', 2], ['TpmTcti', 'x"y', 3],
    ]);
  });

  it('accepts CRLF line ends and a UTF-8 byte order mark', () => {
    assert.deepEqual(sets('\uFEFFPort 9\r\nClientDomain .d\r\n'), [['Port', 9, 1], ['ClientDomain', '.d', 2]]);
  });

  it('gives the empty string for a password keyword present without a value', () => {
    assert.deepEqual(sets('TpmSrkPassword\nPrivkeyPassword =\nPrivkeyPassword " a b "\n'), [
      ['TpmSrkPassword', '', 1], ['PrivkeyPassword', '', 2], ['PrivkeyPassword', ' a b ', 3],
    ]);
  });

  it('returns include and -include lines as statements, resolved against the file', () => {
    const st = parseConfigText('include a.conf\n-include ~/b.conf\nINCLUDE /c.conf\n', FILE, serverSchema, { home: '/home/u' });
    assert.deepEqual(
      st.map((s) => (s.kind === 'include' ? [s.optional, s.path, s.where.line] : null)),
      [[false, '/etc/tlssh/a.conf', 1], [true, '/home/u/b.conf', 2], [false, '/c.conf', 3]],
    );
  });

  it('attaches client lines to the [section] or Host line above them', () => {
    const st = parseConfigText('Port 1\n[a.example.com, *.b !c.b]\nPort 2\nHost d\nPort 3\n', FILE, clientSchema, { home: '/h' });
    assert.deepEqual(
      st.map((s) => [s.section?.patterns ?? null, s.where.line]),
      [[null, 1], [['a.example.com', '*.b', '!c.b'], 3], [['d'], 5]],
    );
  });
});

describe('config syntax errors', () => {
  const cases: Array<[string, string, number]> = [
    ['unterminated double quote', 'Port 1\nTpmTcti "abc\n', 2],
    ['unterminated single quote', "TpmTcti 'abc\n", 1],
    ['text after the closing quote', 'TpmTcti "a" b\n', 1],
    ['bad escape in double quotes', 'TpmTcti "\\q"\n', 1],
    ['missing keyword before =', '= 5\n', 1],
    ['keyword with odd characters', 'Po.rt 5\n', 1],
    ['section header without ]', '\n\n[abc\n', 3],
    ['text after a section header', '[a] b\n', 1],
  ];
  for (const [name, text, line] of cases) {
    it(`reports ${name} as TLSSH_ERR_CONFIG_SYNTAX at its line`, () => {
      fails(() => parseConfigText(text, FILE, clientSchema), 'TLSSH_ERR_CONFIG_SYNTAX', `${FILE}:${line}: `);
    });
  }

  it('refuses [sections] and Host lines in tlsshd.conf', () => {
    fails(() => parseConfigText('Port 1\n[x]\n', FILE, serverSchema), 'TLSSH_ERR_CONFIG_SYNTAX', `${FILE}:2: `);
  });

  it('refuses an empty or malformed host pattern list', () => {
    fails(() => parseConfigText('[ , ]\n', FILE, clientSchema), 'TLSSH_ERR_CONFIG_SYNTAX', `${FILE}:1: `);
    fails(() => parseConfigText('Host a!b\n', FILE, clientSchema), 'TLSSH_ERR_CONFIG_SYNTAX', `${FILE}:1: Host: `);
  });
});

describe('config unknown keywords', () => {
  it('names file, line and keyword', () => {
    fails(() => parseConfigText('Port 1\nFrobnicate yes\n', FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:2: Frobnicate: `);
  });

  it('treats the other program\'s keywords as unknown, both ways', () => {
    fails(() => parseConfigText('SendEnv X\n', FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: SendEnv: `);
    fails(() => parseConfigText('ClientCAFile /x\n', FILE, clientSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: ClientCAFile: `);
    fails(() => parseConfigText('Listen 1.2.3.4\n', FILE, clientSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: Listen: `);
    fails(() => parseConfigText('HostName x\n', FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: HostName: `);
    fails(() => parseConfigText('Host x\n', FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: Host: `);
  });

  it('answers sshd_config keywords with what to use instead, not "belongs in tlssh.conf"', () => {
    const said = (line: string): string => fails(() => parseConfigText(line, FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: ${line.split(' ')[0]}: `).message;
    assert.match(said('ClientAliveInterval 30'), /OpenSSH keyword not supported: use Keepalive/);
    assert.match(said('PubkeyAuthentication yes'), /only with client certificates/);
    assert.doesNotMatch(said('PubkeyAuthentication yes'), /tlssh\.conf/);
    assert.match(fails(() => parseConfigText('X11Forwarding yes', FILE, serverSchema), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${FILE}:1: X11Forwarding: `).message, /no forwarding/);
    assert.match(said('HostKey /etc/ssh/ssh_host_ed25519_key'), /CertFile and KeyFile/);
    assert.match(said('Match User backup'), /no Match blocks; run a second tlsshd/);
    assert.match(fails(() => parseConfigText('Match host x', FILE, clientSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: Match: `).message, /Host sections/);
  });

  it('gives each sshd_config keyword an administrator may paste its own advice', () => {
    // Named one by one, so that dropping one from the table (back to "unknown keyword") is seen.
    const said = (line: string): string => fails(() => parseConfigText(line, FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: ${line.split(' ')[0]}: OpenSSH keyword not supported: `).message;
    const certificatesOnly = [
      'PubkeyAuthentication', 'AuthenticationMethods', 'AuthorizedKeysFile', 'AuthorizedKeysCommand', 'AuthorizedKeysCommandUser',
      'AuthorizedPrincipalsFile', 'TrustedUserCAKeys', 'PubkeyAcceptedAlgorithms', 'MaxAuthTries',
    ];
    for (const k of certificatesOnly) assert.match(said(`${k} x`), /only with client certificates \(ClientCAFile\)/, k);
    for (const k of ['X11UseLocalhost', 'X11DisplayOffset', 'PermitOpen', 'PermitListen']) assert.match(said(`${k} x`), /no forwarding of ports, agents or X11/, k);
    // The lines that say what tlsshd does anyway pass, so that sshd_config blocks carry over
    // (Debian's "KbdInteractiveAuthentication no", "PrintMotd no"); any other value is refused.
    const offOnly: [string, string, RegExp][] = [
      ...['PasswordAuthentication', 'KbdInteractiveAuthentication', 'ChallengeResponseAuthentication', 'HostbasedAuthentication',
        'GSSAPIAuthentication', 'KerberosAuthentication', 'PermitEmptyPasswords'].map((k): [string, string, RegExp] => [k, 'no', /only with client certificates \(ClientCAFile\)/]),
      ...['X11Forwarding', 'AllowTcpForwarding', 'AllowAgentForwarding', 'AllowStreamLocalForwarding', 'GatewayPorts', 'PermitTunnel']
        .map((k): [string, string, RegExp] => [k, 'no', /no forwarding of ports, agents or X11/]),
      ['DisableForwarding', 'yes', /no forwarding of ports, agents or X11/],
      ['PrintMotd', 'no', /pam_motd/], ['UseDNS', 'no', /never looks up client names/], ['PermitUserEnvironment', 'no', /use AcceptEnv/],
    ];
    for (const [k, off, re] of offOnly) {
      assert.equal(parseConfigText(`${k} ${off}`, FILE, serverSchema).length, 1, k);
      const other = off === 'no' ? 'yes' : 'no';
      const e = fails(() => parseConfigText(`${k} ${other}`, FILE, serverSchema), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${FILE}:1: ${k}: "${other}" is not supported (`);
      assert.match(e.message, re, k);
      assert.match(e.message, new RegExp(`only "${off}" is accepted$`), k);
    }
    const own: [string, RegExp][] = [
      ['ClientAliveCountMax 3', /3 unanswered keepalives/], ['TCPKeepAlive yes', /its own keepalives \(Keepalive\)/],
      ['HostCertificate /x', /use CertFile and KeyFile$/], ['Ciphers aes128-ctr', /own cipher suites/], ['MACs hmac-sha2-256', /own algorithms/],
      ['KexAlgorithms curve25519-sha256', /own key exchange/], ['HostKeyAlgorithms ssh-ed25519', /own algorithms/],
      ['ChrootDirectory /srv', /does not chroot sessions/], ['Banner /etc/issue.net', /no banner before login/],
      ['PermitTTY yes', /no per-user terminal policy/], ['SetEnv A=b', /pam_env/],
    ];
    for (const [line, re] of own) assert.match(said(line), re, line);
  });

  it('refuses the original\'s dropped keywords instead of ignoring them', () => {
    for (const k of ['CipherList HIGH', 'Chroot /var/empty', 'TcpMd5 tlssh']) {
      fails(() => parseConfigText(k, FILE, serverSchema), 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', `${FILE}:1: ${k.split(' ')[0]}: `);
    }
  });
});

describe('config values', () => {
  const bad: Array<[ConfigSchema, string]> = [
    [serverSchema, 'Port abc'],
    [serverSchema, 'Port 65536'],
    [serverSchema, 'Port -1'],
    [serverSchema, 'Port'],
    [clientSchema, 'Port 0'],
    [serverSchema, 'Keepalive -5'],
    [serverSchema, 'Keepalive 5x'],
    [serverSchema, 'Keepalive 99999999999'],
    [serverSchema, 'LoginGraceTime soon'],
    [clientSchema, 'ConnectTimeout -1'],
    [clientSchema, 'ServerAliveCountMax 0'],
    [serverSchema, 'PermitRootLogin prohibit-password'],
    [serverSchema, 'PermitRootLogin maybe'],
    [serverSchema, 'AllowUsers a/b'],
    [serverSchema, 'AllowUsers alice@host.example.com'],
    [serverSchema, 'AllowUsers alice@192.0.2.0/33'],
    [serverSchema, 'AllowUsers alice@2001:db8::/129'],
    [serverSchema, 'AllowUsers alice@192.0.2.*/24'],
    [serverSchema, 'DenyGroups wh/eel'],
    [serverSchema, 'AllowUsers'],
    [serverSchema, 'MaxStartups 10:30'],
    [serverSchema, 'MaxStartups 100:30:10'],
    [serverSchema, 'MaxStartups 10:0:100'],
    [serverSchema, 'MaxStartups 10:101:100'],
    [serverSchema, 'MaxStartups 0'],
    [serverSchema, 'MaxStartups x'],
    [serverSchema, 'PreforkWorkers 8:1'],
    [serverSchema, 'PreforkWorkers 1:257'],
    [serverSchema, 'PreforkWorkers -1'],
    [serverSchema, 'PreforkWorkers 1:2:3'],
    [serverSchema, 'PreforkWorkers'],
    [serverSchema, 'PreforkIdleTimeout soon'],
    [serverSchema, 'PrivkeyEngine pkcs11'],
    [serverSchema, 'LogLevel LOUD'],
    [serverSchema, 'SyslogFacility LOCAL8'],
    [serverSchema, 'AcceptEnv FOO=bar'],
    [serverSchema, 'Listen 1.2.3.4:99999'],
    [serverSchema, 'Listen [1.2.3.4]:22'],
    [serverSchema, 'Listen ::1:22:'],
    [serverSchema, 'Listen host_name'],
    [serverSchema, 'Listen'],
    [serverSchema, 'CertFile'],
    [serverSchema, 'KeyFile ~other/key'],
    [serverSchema, 'ClientDomain has space'],
    [serverSchema, 'RuntimeDir none'],
    [clientSchema, 'EscapeChar ab'],
    [clientSchema, 'EscapeChar ^1'],
    [clientSchema, 'EscapeChar é'],
    [clientSchema, 'EscapeChar'],
    [clientSchema, 'AddressFamily ipx'],
    [clientSchema, 'L3Protocol inet'],
    [clientSchema, 'User -rf'],
    [clientSchema, 'HostName a/b'],
    [clientSchema, 'SendEnv'],
  ];
  for (const [schema, line] of bad) {
    it(`refuses ${JSON.stringify(line)} in ${schema.fileName} with file:line and keyword`, () => {
      const keyword = line.split(' ')[0] ?? '';
      fails(() => parseConfigText(`# first\n${line}\n`, FILE, schema), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${FILE}:2: ${keyword}: `);
    });
  }

  it('never repeats a password in a message', () => {
    const e = fails(() => parseConfigText('PrivkeyPassword s3cr\u0001t\n', FILE, serverSchema), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${FILE}:1: PrivkeyPassword: `);
    assert.ok(!e.message.includes('s3cr'), e.message);
  });

  const good: Array<[ConfigSchema, string, unknown]> = [
    [serverSchema, 'Port 0', 0],
    [serverSchema, 'Port 65535', 65535],
    [serverSchema, 'Keepalive 0', 0],
    [serverSchema, 'Keepalive 1h30m', 5400],
    [serverSchema, 'LoginGraceTime 2M', 120],
    [clientSchema, 'ConnectTimeout 1w', 604800],
    [serverSchema, 'PermitRootLogin YES', true],
    [serverSchema, 'PermitRootLogin off', false],
    [serverSchema, 'PermitRootLogin true', true],
    [serverSchema, 'PermitRootLogin forced-commands-only', 'forced-commands-only'],
    [serverSchema, 'MaxStartups 10:30:100', { start: 10, rate: 30, full: 100 }],
    [serverSchema, 'MaxStartups 7', { start: 7, rate: 100, full: 7 }],
    [serverSchema, 'PreforkWorkers 1:8', { min: 1, max: 8 }],
    [serverSchema, 'PreforkWorkers 0:4', { min: 0, max: 4 }],
    [serverSchema, 'PreforkWorkers 3', { min: 3, max: 3 }],
    [serverSchema, 'PreforkWorkers 0', { min: 0, max: 0 }],
    [serverSchema, 'PreforkIdleTimeout 2m', 120],
    [serverSchema, 'PrivkeyEngine', ''],
    [serverSchema, 'PrivkeyEngine Tpm', 'tpm'],
    [serverSchema, 'LogLevel debug3', 'DEBUG'],
    [serverSchema, 'SyslogFacility authpriv', 'AUTHPRIV'],
    [serverSchema, 'AcceptEnv LANG, LC_*  X?Y', ['LANG', 'LC_*', 'X?Y']],
    [serverSchema, 'Listen 192.0.2.1', { host: '192.0.2.1', port: undefined }],
    [serverSchema, 'Listen 192.0.2.1:22', { host: '192.0.2.1', port: 22 }],
    [serverSchema, 'Listen ::', { host: '::', port: undefined }],
    [serverSchema, 'Listen [2001:db8::1]:0', { host: '2001:db8::1', port: 0 }],
    [serverSchema, 'Listen [::]', { host: '::', port: undefined }],
    [serverSchema, 'ListenAddress localhost:23', { host: 'localhost', port: 23 }],
    [serverSchema, 'ClientCRL none', ''],
    [serverSchema, 'ClientCAPath', ''],
    [serverSchema, 'CertFile ~/x.crt', '/home/u/x.crt'],
    [serverSchema, 'CertFile x.crt', '/etc/tlssh/x.crt'],
    [serverSchema, 'CertFile ../k/x.crt', '/etc/k/x.crt'],
    [clientSchema, 'EscapeChar ^]', '\x1d'],
    [clientSchema, 'EscapeChar ^a', '\x01'],
    [clientSchema, 'EscapeChar ^?', '\x7f'],
    [clientSchema, 'EscapeChar none', 'none'],
    [clientSchema, 'EscapeChar \\#', '#'],
    [clientSchema, 'EscapeChar "~"', '~'],
    [clientSchema, 'AddressFamily INET6', 'inet6'],
    [clientSchema, 'L3Protocol IPv4', 'inet'],
    [clientSchema, 'User ""', ''],
    [clientSchema, 'User alice.b-c_d', 'alice.b-c_d'],
    [clientSchema, 'HostName 2001:db8::5', '2001:db8::5'],
    [clientSchema, 'SendEnv -LC_*', ['-LC_*']],
  ];
  for (const [schema, line, want] of good) {
    it(`reads ${JSON.stringify(line)} in ${schema.fileName}`, () => {
      const [[, got] = []] = sets(line, schema);
      assert.deepEqual(got, want);
    });
  }
});
