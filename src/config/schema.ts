// The keywords of tlssh.conf and tlsshd.conf: for each, the config field it sets, how its value is
// read, and its default. Keywords match case-insensitively, as in ssh.
import { ValueProblem, shown } from './config-error';
import type { ValueContext, ValueParser } from './value-parsers';
import {
  boolean, duration, envPatterns, groupPatterns, userPatterns, escapeChar, freeText, integer, maxStartups, oneOf, pathValue, preforkWorkers, secret, word,
} from './value-parsers';
import { parseListen } from './listen-address';
import {
  DEFAULT_PER_SOURCE_PENALTIES, perSourceMaxStartups, perSourceNetBlockSize, perSourcePenalties, perSourcePenaltyExemptList,
} from './per-source-values';
import { checkSubsystemName, parseSubsystem } from './subsystem';
import { parseForceCommand } from './force-command';
import { controlPath, controlPersist } from './control-values';
import { tokenPathValue } from './percent-tokens';
import type { ClientConfig, ServerConfig } from './types';
import { USER_NAME } from '../user-name';

export interface KeywordSpec {
  /** The keyword as documented. */
  readonly name: string;
  /** The config field it sets (differs from `name` only for aliases such as L3Protocol). */
  readonly field: string;
  /** Repeated lines append (AcceptEnv, SendEnv, Listen) instead of replacing. */
  readonly list: boolean;
  /** Never echoed in messages, refused on the command line, and makes its file need mode 0600. */
  readonly secret: boolean;
  readonly parse: ValueParser<unknown>;
  /**
   * An OpenSSH keyword that means nothing to tlssh: accepted so that ssh habits and tools
   * (Ansible's -o KbdInteractiveAuthentication=no) work, and noted at -v with this reason.
   */
  readonly ignored?: string;
  /**
   * For list keywords whose items must not repeat (Subsystem names): throws a ValueProblem naming
   * the clash, which the fold turns into an error at the second line.
   */
  readonly checkListItem?: (current: readonly unknown[], item: unknown) => void;
  /**
   * For a list keyword whose lines add to its default, as ssh's SendEnv adds to the system's
   * `SendEnv LANG LC_*`, on the command line too; `-pattern` takes defaults out.
   */
  readonly addsToDefault?: readonly unknown[];
}

export interface ConfigSchema {
  readonly program: 'tlssh' | 'tlsshd';
  readonly fileName: 'tlssh.conf' | 'tlsshd.conf';
  /** Whether `[host pattern]` sections (and `Host` lines) are allowed. */
  readonly hostSections: boolean;
  /** Lower-cased keyword or alias to its spec. */
  readonly keywords: ReadonlyMap<string, KeywordSpec>;
  /** Every field in output order with its default (`home` for the client's ~ paths). */
  defaults(ctx: Pick<ValueContext, 'home'>): Readonly<Record<string, unknown>>;
  /** Keywords of the original tlssh that this one deliberately dropped, with the reason. */
  readonly retired: Readonly<Record<string, string>>;
  /** Lower-cased OpenSSH keywords refused because ignoring them would mislead, with the reason. */
  readonly refused?: Readonly<Record<string, string>>;
}

/** What Debian's ssh sends (its /etc/ssh/ssh_config); SendEnv lines add to it. */
const DEFAULT_SEND_ENV: readonly string[] = ['LANG', 'LC_*'];

/** Seconds a Node timer can hold. */
const MAX_SECONDS = 2147483;

const LOG_LEVELS = {
  quiet: 'QUIET', fatal: 'ERROR', error: 'ERROR', info: 'INFO', verbose: 'VERBOSE',
  debug: 'DEBUG', debug1: 'DEBUG', debug2: 'DEBUG', debug3: 'DEBUG',
} as const;

type Kw = Omit<KeywordSpec, 'field' | 'list' | 'secret'> & Partial<KeywordSpec>;

function spec(k: Kw): KeywordSpec {
  return { field: k.name, list: false, secret: false, ...k };
}

function commonKeywords(): KeywordSpec[] {
  return [
    spec({ name: 'CertFile', parse: pathValue(false) }),
    spec({ name: 'KeyFile', parse: pathValue(false) }),
    spec({ name: 'Keepalive', parse: duration(MAX_SECONDS) }),
    spec({ name: 'PrivkeyEngine', parse: oneOf({ '': '', none: '', tpm: 'tpm' } as const, '"tpm" or empty') }),
    spec({ name: 'TpmSrkPassword', parse: secret, secret: true }),
    spec({ name: 'PrivkeyPassword', parse: secret, secret: true }),
    spec({ name: 'TpmTcti', parse: freeText }),
    spec({ name: 'LogLevel', parse: oneOf(LOG_LEVELS, 'QUIET, ERROR, INFO, VERBOSE or DEBUG') }),
  ];
}

const NAME_LIKE = /^[A-Za-z0-9._-]+$/;

/**
 * sshd_config lines that say what tlsshd does anyway ("PasswordAuthentication no", Debian's
 * "KbdInteractiveAuthentication no" and "PrintMotd no"): accepted, so that a block carried over
 * from sshd_config needs no editing; any other value is refused with why, as it would mislead.
 */
const CERTIFICATES_ONLY_WHY = 'tlsshd authenticates only with client certificates (ClientCAFile)';
const NO_FORWARDING_WHY = 'tlsshd has no forwarding of ports, agents or X11';
const SSHD_OFF_ONLY_KEYWORDS: ReadonlyArray<readonly [string, readonly string[], string]> = [
  ...['PasswordAuthentication', 'KbdInteractiveAuthentication', 'ChallengeResponseAuthentication', 'HostbasedAuthentication',
    'GSSAPIAuthentication', 'KerberosAuthentication', 'PermitEmptyPasswords'].map((k) => [k, ['no'], CERTIFICATES_ONLY_WHY] as const),
  ...['X11Forwarding', 'AllowTcpForwarding', 'AllowAgentForwarding', 'AllowStreamLocalForwarding', 'GatewayPorts', 'PermitTunnel']
    .map((k) => [k, ['no'], NO_FORWARDING_WHY] as const),
  ['DisableForwarding', ['yes'], NO_FORWARDING_WHY],
  ['PrintMotd', ['no'], 'tlsshd does not print the motd itself; with UsePAM yes the PAM session shows it (pam_motd)'],
  ['UseDNS', ['no'], 'tlsshd logs addresses and never looks up client names'],
  ['PermitUserEnvironment', ['no'], 'use AcceptEnv'],
];

const serverKeywords: KeywordSpec[] = [
  ...commonKeywords(),
  ...SSHD_OFF_ONLY_KEYWORDS.map(([name, off, why]) => offOnly(name, off, why, 'tlsshd')),
  // 0 lets the kernel choose, which is how tests run a daemon without racing for a free port.
  spec({ name: 'Port', parse: integer(0, 65535) }),
  spec({ name: 'Listen', parse: parseListen(0), list: true }),
  spec({ name: 'ListenAddress', field: 'Listen', parse: parseListen(0), list: true }),
  spec({ name: 'ClientCAFile', parse: pathValue(true) }),
  spec({ name: 'ClientCAPath', parse: pathValue(true) }),
  spec({ name: 'ClientCRL', parse: pathValue(true) }),
  spec({ name: 'ClientDomain', parse: word('a domain suffix such as .users.example.com', NAME_LIKE, true) }),
  spec({ name: 'LoginGraceTime', parse: duration(MAX_SECONDS) }),
  // No OpenSSH name exists: sshd never ends a session for its key or certificate.
  spec({ name: 'CertificateExpiry', parse: oneOf({ end: 'end', off: 'off' } as const, '"end" or "off"') }),
  spec({ name: 'CertificateExpiryWarning', parse: duration(MAX_SECONDS) }),
  spec({ name: 'MaxStartups', parse: maxStartups }),
  // sshd's keyword: sessions at once over one multiplexed connection (tlssh/2+mux).
  spec({ name: 'MaxSessions', parse: integer(1, 1024) }),
  spec({ name: 'PreforkWorkers', parse: preforkWorkers }),
  spec({ name: 'PreforkIdleTimeout', parse: duration(MAX_SECONDS) }),
  spec({ name: 'WorkerForkServer', parse: boolean }),
  spec({ name: 'PerSourceMaxStartups', parse: perSourceMaxStartups }),
  spec({ name: 'PerSourceNetBlockSize', parse: perSourceNetBlockSize }),
  spec({ name: 'PerSourcePenalties', parse: perSourcePenalties }),
  spec({ name: 'PerSourcePenaltyExemptList', parse: perSourcePenaltyExemptList }),
  spec({ name: 'TpmTimeout', parse: duration(MAX_SECONDS) }),
  spec({
    name: 'PermitRootLogin',
    parse: (text) => {
      // sshd's: root only when a forced command runs, here the daemon's ForceCommand.
      if (/^forced-commands-only$/i.test(text)) return 'forced-commands-only' as const;
      if (/^(prohibit-password|without-password)$/i.test(text)) {
        throw new ValueProblem(`${shown(text)} is not yes, no or forced-commands-only (tlssh logins always use a certificate)`);
      }
      return boolean(text);
    },
  }),
  spec({ name: 'AcceptEnv', parse: envPatterns, list: true }),
  spec({ name: 'AllowUsers', parse: userPatterns, list: true }),
  spec({ name: 'DenyUsers', parse: userPatterns, list: true }),
  spec({ name: 'AllowGroups', parse: groupPatterns, list: true }),
  spec({ name: 'DenyGroups', parse: groupPatterns, list: true }),
  spec({ name: 'Subsystem', parse: (text) => parseSubsystem(text), list: true, checkListItem: checkSubsystemName }),
  spec({ name: 'ForceCommand', parse: (text) => parseForceCommand(text) }),
  spec({ name: 'UsePAM', parse: boolean }),
  spec({ name: 'PrintLastLog', parse: boolean }),
  // OpenSSH's name; a service of its own lets an administrator (or a test) give tlsshd another stack.
  spec({ name: 'PAMServiceName', parse: word('a PAM service name (a file in /etc/pam.d)', /^[A-Za-z0-9][A-Za-z0-9._-]*$/, false) }),
  spec({ name: 'PidFile', parse: pathValue(true) }),
  spec({ name: 'RuntimeDir', parse: pathValue(false) }),
  spec({ name: 'LogFile', parse: pathValue(true) }),
  spec({
    name: 'SyslogFacility',
    parse: oneOf(
      Object.fromEntries(
        ['DAEMON', 'USER', 'AUTH', 'AUTHPRIV', ...Array.from({ length: 8 }, (_, i) => `LOCAL${i}`)].map((f) => [f.toLowerCase(), f]),
      ),
      'DAEMON, USER, AUTH, AUTHPRIV or LOCAL0-LOCAL7',
    ),
  }),
];

/** ssh_config keywords that mean nothing here, with why; accepted and noted at -v. */
const IGNORED_SSH_KEYWORDS: ReadonlyArray<readonly [string, string]> = [
  ...['StrictHostKeyChecking', 'UserKnownHostsFile', 'GlobalKnownHostsFile', 'CheckHostIP', 'HashKnownHosts', 'UpdateHostKeys',
    'VerifyHostKeyDNS', 'HostKeyAlgorithms', 'HostKeyAlias', 'VisualHostKey', 'FingerprintHash', 'KnownHostsCommand', 'RevokedHostKeys',
  ].map((k) => [k, 'the server is verified by its certificate (ServerCAFile)'] as const),
  ...['KbdInteractiveAuthentication', 'ChallengeResponseAuthentication', 'PasswordAuthentication', 'PreferredAuthentications',
    'PubkeyAuthentication', 'HostbasedAuthentication', 'GSSAPIAuthentication', 'GSSAPIDelegateCredentials', 'GSSAPIKeyExchange',
    'GSSAPITrustDns', 'GSSAPIRenewalForcesRekey', 'GSSAPIClientIdentity', 'GSSAPIServerIdentity', 'IdentitiesOnly', 'IdentityAgent',
    'AddKeysToAgent', 'PubkeyAcceptedAlgorithms', 'PubkeyAcceptedKeyTypes', 'CASignatureAlgorithms', 'KbdInteractiveDevices',
  ].map((k) => [k, 'tlssh authenticates only with the certificate'] as const),
  ...['Ciphers', 'MACs', 'KexAlgorithms', 'RekeyLimit', 'Compression'].map((k) => [k, 'TLS 1.3 chooses its own algorithms and does not compress'] as const),
  ['ForwardAgent', 'tlssh has no agent forwarding'],
  ['ForwardX11', 'tlssh has no X11 forwarding'],
  ['ForwardX11Trusted', 'tlssh has no X11 forwarding'],
  ['ForwardX11Timeout', 'tlssh has no X11 forwarding'],
  ['ClearAllForwardings', 'tlssh has no port forwarding'],
  ['ExitOnForwardFailure', 'tlssh has no port forwarding'],
  ['GatewayPorts', 'tlssh has no port forwarding'],
  ['TCPKeepAlive', 'tlssh sends its own keepalives (Keepalive)'],
  ['ConnectionAttempts', 'tlssh tries once'],
  ['IPQoS', 'tlssh does not set the IP type of service'],
  ['LogVerbose', 'tlssh has no per-function logging'],
  ['SyslogFacility', 'tlssh logs to stderr only'],
  ['PermitLocalCommand', 'tlssh runs no local commands'],
  ['LocalCommand', 'tlssh runs no local commands'],
  ['ObscureKeystrokeTiming', 'tlssh does not obscure keystroke timing'],
  ['UseRoaming', 'long gone from ssh as well'],
  ['Protocol', 'tlssh speaks only its own protocol'],
  ['SecurityKeyProvider', 'tlssh authenticates only with the certificate'],
  ['PKCS11Provider', 'PKCS#11 is not supported; TPM keys are (PrivkeyEngine tpm)'],
  ['EnableEscapeCommandline', 'tlssh has no escape command line'],
  ['NoHostAuthenticationForLocalhost', 'the server is verified by its certificate (ServerCAFile)'],
  ['CanonicalizeHostname', 'tlssh does not canonicalize host names'],
];

/**
 * ssh_config keywords tlssh has no use for, taken with the value that turns them off and refused
 * with any other, since ignoring that would mislead (StdinNull yes would leave stdin read).
 * "ProxyJump none" under one Host, against a wildcard's, is a common ssh_config idiom.
 */
const OFF_ONLY_SSH_KEYWORDS: ReadonlyArray<readonly [string, readonly string[], string]> = [
  ['ProxyJump', ['none'], 'tlssh has no jump hosts; connect to the host directly'],
  ['ProxyCommand', ['none'], 'tlssh connects only directly'],
  ['Tunnel', ['no', 'false'], 'tlssh has no tunnel devices'],
  ['SessionType', ['default'], 'use -N or -s on the command line'],
  ['StdinNull', ['no', 'false'], 'use -n on the command line'],
  ['ForkAfterAuthentication', ['no', 'false'], 'tlssh goes to the background only as a connection-sharing master, with -f -N -M on the command line'],
];

function offOnly(name: string, off: readonly string[], why: string, program = 'tlssh'): KeywordSpec {
  return spec({
    name,
    field: name,
    parse: (text) => {
      if (off.includes(text.toLowerCase())) return text;
      throw new ValueProblem(`${shown(text)} is not supported (${why}); only ${JSON.stringify(off[0])} is accepted`);
    },
    ignored: `what ${program} does anyway`,
  });
}

/** ssh_config keywords whose silent absence would mislead: refused, with why. */
const REFUSED_SSH_KEYWORDS: Readonly<Record<string, string>> = {
  localforward: 'tlssh has no port forwarding',
  remoteforward: 'tlssh has no port forwarding',
  dynamicforward: 'tlssh has no port forwarding',
  tunneldevice: 'tlssh has no tunnel devices',
  setenv: 'export the variable locally and list it in SendEnv',
  match: 'use Host sections (or [host pattern] ones)',
};

const clientKeywords: KeywordSpec[] = [
  // The key and certificate may name the destination with ssh's %-tokens (percent-tokens.ts),
  // expanded in load-client-config.ts; the server's are plain paths.
  ...commonKeywords().map((k) => (k.name === 'CertFile' || k.name === 'KeyFile' ? { ...k, parse: tokenPathValue(false) } : k)),
  spec({
    name: 'HostName',
    // %h (the host as typed) and %% as in ssh_config, expanded in load-client-config.ts.
    parse: word('a host name or IP address (%h: the host as typed)', /^(?:(?:[A-Za-z0-9._-]|%[h%])+|[0-9A-Fa-f:.]+)$/, false),
  }),
  spec({ name: 'Port', parse: integer(1, 65535) }),
  // The server's own rule (src/user-name.ts): directory users' names hold an @.
  spec({ name: 'User', parse: word('a user name', USER_NAME, true) }),
  spec({ name: 'ServerCAFile', parse: pathValue(true) }),
  spec({ name: 'ServerCAPath', parse: pathValue(true) }),
  spec({ name: 'ServerCRL', parse: pathValue(true) }),
  spec({ name: 'ConnectTimeout', parse: duration(MAX_SECONDS) }),
  spec({ name: 'EscapeChar', parse: escapeChar }),
  spec({ name: 'SendEnv', parse: envPatterns, list: true, addsToDefault: DEFAULT_SEND_ENV }),
  spec({ name: 'AddressFamily', parse: oneOf({ any: 'any', inet: 'inet', inet6: 'inet6' } as const, 'any, inet or inet6') }),
  // The original client's name for the same choice.
  spec({ name: 'L3Protocol', field: 'AddressFamily', parse: oneOf({ ipv4: 'inet', ipv6: 'inet6' } as const, 'IPv4 or IPv6') }),
  spec({ name: 'BatchMode', parse: boolean }),
  spec({ name: 'BindAddress', parse: word('an IP address', /^[0-9A-Fa-f:.]+$/, true) }),
  spec({ name: 'IdentityFile', parse: tokenPathValue(true) }),
  spec({ name: 'NumberOfPasswordPrompts', parse: integer(1, 100) }),
  // ssh takes true and false for yes and no here, and `tlssh -G` prints what ssh -G prints.
  spec({ name: 'RequestTTY', parse: oneOf({ auto: 'auto', no: 'no', yes: 'yes', force: 'force', true: 'yes', false: 'no' } as const, 'auto, no, yes or force') }),
  // scp and sftp pass RemoteCommand=none; any real command belongs on the command line.
  spec({
    name: 'RemoteCommand',
    parse: (text) => {
      if (text.toLowerCase() !== 'none' && text !== '') throw new ValueProblem('only "none" is supported; give the command on the command line');
      return text;
    },
    ignored: 'the command is given on the command line',
  }),
  // ssh's names for keywords tlssh has under its own.
  spec({ name: 'CertificateFile', field: 'CertFile', parse: tokenPathValue(false) }),
  spec({ name: 'ServerAliveInterval', field: 'Keepalive', parse: duration(MAX_SECONDS) }),
  spec({ name: 'ServerAliveCountMax', parse: integer(1, 1000) }),
  // Connection sharing, with ssh's meanings (see src/client/control-path.ts and doc/MUX.md).
  spec({
    name: 'ControlMaster',
    parse: oneOf({ yes: 'yes', no: 'no', auto: 'auto', ask: 'ask', autoask: 'autoask', true: 'yes', false: 'no' } as const, 'yes, no, auto, ask or autoask'),
  }),
  spec({ name: 'ControlPath', parse: controlPath }),
  spec({ name: 'ControlPersist', parse: controlPersist }),
  ...IGNORED_SSH_KEYWORDS.map(([name, why]) => spec({ name, field: name, parse: freeText, ignored: why })),
  ...OFF_ONLY_SSH_KEYWORDS.map(([name, off, why]) => offOnly(name, off, why)),
];

function indexByName(list: readonly KeywordSpec[]): ReadonlyMap<string, KeywordSpec> {
  return new Map(list.map((k) => [k.name.toLowerCase(), k]));
}

const RETIRED: Readonly<Record<string, string>> = {
  cipherlist: 'TLS 1.3 cipher suites are not configurable; remove this line',
  chroot: 'every connection already runs in its own process that becomes the user; remove this line',
  tcpmd5: 'TCP MD5 signatures are not supported; remove this line',
};

export const DEFAULT_SERVER_CONFIG = {
  CertFile: '/etc/tlssh/tlsshd.crt',
  KeyFile: '/etc/tlssh/tlsshd.key',
  Keepalive: 60,
  PrivkeyEngine: '',
  TpmSrkPassword: undefined,
  PrivkeyPassword: undefined,
  TpmTcti: '',
  LogLevel: 'INFO',
  Port: 232,
  /** Filled in from the final Port: both address families. */
  Listen: ['0.0.0.0', '::'],
  ClientCAFile: '/etc/tlssh/ClientCA.crt',
  ClientCAPath: '',
  ClientCRL: '',
  ClientDomain: '',
  LoginGraceTime: 120,
  CertificateExpiry: 'end',
  CertificateExpiryWarning: 300,
  MaxStartups: { start: 10, rate: 30, full: 100 },
  MaxSessions: 10,
  // One ready worker takes the start-up (node, modules, the first TLS context) off a login; a
  // burst may grow the pool to 4 (about 12 MB each) for a minute after its last connection. More
  // would let a few stalled handshakes (which look like a burst) buy ~100 MB of idle processes.
  PreforkWorkers: { min: 1, max: 4 },
  PreforkIdleTimeout: 60,
  WorkerForkServer: false,
  // One source alone never holds more than MaxStartups' default start (10) before login.
  PerSourceMaxStartups: 10,
  PerSourceNetBlockSize: { ipv4: 32, ipv6: 128 },
  PerSourcePenalties: DEFAULT_PER_SOURCE_PENALTIES,
  PerSourcePenaltyExemptList: [],
  TpmTimeout: 5,
  PermitRootLogin: true,
  AcceptEnv: ['LANG', 'LC_*'],
  AllowUsers: [],
  DenyUsers: [],
  AllowGroups: [],
  DenyGroups: [],
  // What Debian's sshd_config ships, so sftp and scp work out of the box (openssh-sftp-server).
  Subsystem: [{ name: 'sftp', command: '/usr/lib/openssh/sftp-server' }],
  ForceCommand: '',
  UsePAM: true,
  PAMServiceName: 'tlsshd',
  PrintLastLog: true,
  PidFile: '',
  RuntimeDir: '/run/tlsshd',
  LogFile: '',
  SyslogFacility: 'AUTHPRIV',
} as const satisfies Record<Exclude<keyof ServerConfig, 'origin' | 'Listen'>, unknown> & { Listen: readonly string[] };

/**
 * sshd_config keywords an administrator may carry over, each refused with what to do instead,
 * so that a line pasted from sshd_config says more than "unknown keyword".
 */
const CERTIFICATES_ONLY = `${CERTIFICATES_ONLY_WHY}; remove this line`;
const NO_FORWARDING_SERVER = `${NO_FORWARDING_WHY}; remove this line`;
const REFUSED_SSHD_KEYWORDS: Readonly<Record<string, string>> = {
  ...Object.fromEntries([
    'pubkeyauthentication', 'authenticationmethods', 'authorizedkeysfile', 'authorizedkeyscommand', 'authorizedkeyscommanduser',
    'authorizedprincipalsfile', 'trustedusercakeys', 'pubkeyacceptedalgorithms', 'maxauthtries',
  ].map((k) => [k, CERTIFICATES_ONLY])),
  ...Object.fromEntries(['x11uselocalhost', 'x11displayoffset', 'permitopen', 'permitlisten'].map((k) => [k, NO_FORWARDING_SERVER])),
  clientaliveinterval: 'use Keepalive (seconds between keepalives; 3 unanswered end the connection)',
  clientalivecountmax: 'a connection ends after 3 unanswered keepalives (Keepalive sets the interval)',
  tcpkeepalive: 'tlsshd sends its own keepalives (Keepalive)',
  hostkey: 'use CertFile and KeyFile (or PrivkeyEngine tpm)',
  hostcertificate: 'use CertFile and KeyFile',
  ciphers: 'TLS 1.3 chooses its own cipher suites; remove this line',
  macs: 'TLS 1.3 chooses its own algorithms; remove this line',
  kexalgorithms: 'TLS 1.3 chooses its own key exchange; remove this line',
  hostkeyalgorithms: 'TLS 1.3 chooses its own algorithms; remove this line',
  match: 'tlsshd has no Match blocks; run a second tlsshd for logins that need other settings (tlsshd@.service, in tlsshd(8))',
  chrootdirectory: 'tlsshd does not chroot sessions',
  banner: 'tlsshd sends no banner before login',
  permittty: 'tlsshd has no per-user terminal policy',
  setenv: 'set it in the account\'s shell start-up files, or with pam_env (UsePAM yes)',
};

export const serverSchema: ConfigSchema = {
  program: 'tlsshd',
  fileName: 'tlsshd.conf',
  hostSections: false,
  keywords: indexByName(serverKeywords),
  defaults: () => DEFAULT_SERVER_CONFIG,
  retired: RETIRED,
  refused: REFUSED_SSHD_KEYWORDS,
};

export function defaultClientConfig(home: string): Omit<ClientConfig, 'origin' | 'host' | 'HostName' | 'notes' | 'warnings'> {
  return {
    CertFile: `${home.replace(/\/+$/, '')}/.tlssh/keys/default.crt`,
    KeyFile: `${home.replace(/\/+$/, '')}/.tlssh/keys/default.key`,
    Keepalive: 60,
    ServerAliveCountMax: 3,
    PrivkeyEngine: '',
    TpmSrkPassword: undefined,
    PrivkeyPassword: undefined,
    TpmTcti: '',
    LogLevel: 'INFO',
    Port: 232,
    User: '',
    ServerCAFile: '/etc/tlssh/ServerCA.crt',
    ServerCAPath: '',
    ServerCRL: '',
    ConnectTimeout: 0,
    EscapeChar: '~',
    SendEnv: [...DEFAULT_SEND_ENV],
    AddressFamily: 'any',
    BatchMode: false,
    BindAddress: '',
    IdentityFile: '',
    NumberOfPasswordPrompts: 3,
    RequestTTY: 'auto',
    ControlMaster: 'no',
    ControlPath: 'none',
    ControlPersist: 'no',
  };
}

export const clientSchema: ConfigSchema = {
  program: 'tlssh',
  fileName: 'tlssh.conf',
  hostSections: true,
  keywords: indexByName(clientKeywords),
  defaults: ({ home }) => defaultClientConfig(home),
  retired: RETIRED,
  refused: REFUSED_SSH_KEYWORDS,
};

/** The schema of the other program, for "X is a tlssh.conf keyword" hints. */
export function otherSchema(schema: ConfigSchema): ConfigSchema {
  return schema === serverSchema ? clientSchema : serverSchema;
}
