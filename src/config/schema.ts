// The keywords of tlssh.conf and tlsshd.conf: for each, the config field it sets, how its value is
// read, and its default. Keywords match case-insensitively, as in ssh.
import { ValueProblem, shown } from './config-error';
import type { ValueContext, ValueParser } from './value-parsers';
import {
  boolean, duration, envPatterns, escapeChar, freeText, integer, maxStartups, oneOf, pathValue, secret, word,
} from './value-parsers';
import { parseListen } from './listen-address';
import type { ClientConfig, ServerConfig } from './types';

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
}

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

const serverKeywords: KeywordSpec[] = [
  ...commonKeywords(),
  // 0 lets the kernel choose, which is how tests run a daemon without racing for a free port.
  spec({ name: 'Port', parse: integer(0, 65535) }),
  spec({ name: 'Listen', parse: parseListen(0), list: true }),
  spec({ name: 'ListenAddress', field: 'Listen', parse: parseListen(0), list: true }),
  spec({ name: 'ClientCAFile', parse: pathValue(true) }),
  spec({ name: 'ClientCAPath', parse: pathValue(true) }),
  spec({ name: 'ClientCRL', parse: pathValue(true) }),
  spec({ name: 'ClientDomain', parse: word('a domain suffix such as .users.example.com', NAME_LIKE, true) }),
  spec({ name: 'LoginGraceTime', parse: duration(MAX_SECONDS) }),
  spec({ name: 'MaxStartups', parse: maxStartups }),
  spec({ name: 'TpmTimeout', parse: duration(MAX_SECONDS) }),
  spec({
    name: 'PermitRootLogin',
    parse: (text) => {
      if (/^(prohibit-password|without-password|forced-commands-only)$/i.test(text)) {
        throw new ValueProblem(`${shown(text)} is not yes or no (tlssh logins always use a certificate)`);
      }
      return boolean(text);
    },
  }),
  spec({ name: 'AcceptEnv', parse: envPatterns, list: true }),
  spec({ name: 'PidFile', parse: pathValue(true) }),
  spec({ name: 'RuntimeDir', parse: pathValue(false) }),
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

const clientKeywords: KeywordSpec[] = [
  ...commonKeywords(),
  spec({
    name: 'HostName',
    parse: word('a host name or IP address', /^(?:[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+)$/, false),
  }),
  spec({ name: 'Port', parse: integer(1, 65535) }),
  spec({ name: 'User', parse: word('a user name', /^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/, true) }),
  spec({ name: 'ServerCAFile', parse: pathValue(true) }),
  spec({ name: 'ServerCAPath', parse: pathValue(true) }),
  spec({ name: 'ServerCRL', parse: pathValue(true) }),
  spec({ name: 'ConnectTimeout', parse: duration(MAX_SECONDS) }),
  spec({ name: 'EscapeChar', parse: escapeChar }),
  spec({ name: 'SendEnv', parse: envPatterns, list: true }),
  spec({ name: 'AddressFamily', parse: oneOf({ any: 'any', inet: 'inet', inet6: 'inet6' } as const, 'any, inet or inet6') }),
  // The original client's name for the same choice.
  spec({ name: 'L3Protocol', field: 'AddressFamily', parse: oneOf({ ipv4: 'inet', ipv6: 'inet6' } as const, 'IPv4 or IPv6') }),
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
  MaxStartups: { start: 10, rate: 30, full: 100 },
  TpmTimeout: 5,
  PermitRootLogin: true,
  AcceptEnv: ['LANG', 'LC_*'],
  PidFile: '',
  RuntimeDir: '/run/tlsshd',
  SyslogFacility: 'AUTHPRIV',
} as const satisfies Record<Exclude<keyof ServerConfig, 'origin' | 'Listen'>, unknown> & { Listen: readonly string[] };

export const serverSchema: ConfigSchema = {
  program: 'tlsshd',
  fileName: 'tlsshd.conf',
  hostSections: false,
  keywords: indexByName(serverKeywords),
  defaults: () => DEFAULT_SERVER_CONFIG,
  retired: RETIRED,
};

export function defaultClientConfig(home: string): Omit<ClientConfig, 'origin' | 'host' | 'HostName'> {
  return {
    CertFile: `${home.replace(/\/+$/, '')}/.tlssh/keys/default.crt`,
    KeyFile: `${home.replace(/\/+$/, '')}/.tlssh/keys/default.key`,
    Keepalive: 60,
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
    SendEnv: ['LANG', 'LC_*'],
    AddressFamily: 'any',
  };
}

export const clientSchema: ConfigSchema = {
  program: 'tlssh',
  fileName: 'tlssh.conf',
  hostSections: true,
  keywords: indexByName(clientKeywords),
  defaults: ({ home }) => defaultClientConfig(home),
  retired: RETIRED,
};

/** The schema of the other program, for "X is a tlssh.conf keyword" hints. */
export function otherSchema(schema: ConfigSchema): ConfigSchema {
  return schema === serverSchema ? clientSchema : serverSchema;
}
