// The typed, frozen configurations the rest of tlssh reads. Field names are the config keywords
// themselves, so a reader can grep a keyword from the man page straight to its use.

import type { Subsystem } from './subsystem';

export interface MaxStartups {
  /** Unauthenticated connections allowed before random early drop starts. */
  start: number;
  /** Percentage chance of dropping at `start`, rising linearly to 100 at `full`. */
  rate: number;
  /** At or beyond this many, every new connection is dropped. */
  full: number;
}

/** PreforkWorkers min:max: warm workers kept ready, and how many a burst may grow that to. */
export interface PreforkWorkers {
  /** Ready at all times (0: none; every connection starts its own worker). */
  min: number;
  /** The most kept ready after a burst, until PreforkIdleTimeout passes without a login. */
  max: number;
}

/** PerSourceNetBlockSize: address bits that make one source, for IPv4 and IPv6. */
export interface PerSourceNetBlockSize {
  ipv4: number;
  ipv6: number;
}

/** PerSourcePenalties, with sshd's sub-keywords; durations in seconds. */
export interface PerSourcePenalties {
  /** False after "PerSourcePenalties no". */
  enabled: boolean;
  /** A worker died of a signal or an uncaught error before login. */
  crash: number;
  /** The certificate was refused or maps to no user who may log in. */
  authfail: number;
  /** The connection ended, or broke the protocol, without a login attempt. */
  noauth: number;
  /** LoginGraceTime (or the listener's ClientHello deadline) passed. */
  'grace-exceeded': number;
  /** Penalty time a block can accrue at most. */
  max: number;
  /** Penalty time a block must accrue before it is refused. */
  min: number;
  maxSources4: number;
  maxSources6: number;
  /** What a full table of IPv4 (overflow) or IPv6 (overflow6) sources does. */
  overflow: 'permissive' | 'deny-all';
  overflow6: 'permissive' | 'deny-all';
}

/** Fields both programs share: TLS identity and the TPM. */
export interface CommonConfig {
  /** Where each field's final value came from: "file:line", "command line" or "default". */
  readonly origin: Readonly<Record<string, string>>;
  CertFile: string;
  KeyFile: string;
  /** Seconds between keepalive pings inside TLS; 0 turns them off. */
  Keepalive: number;
  /** "" (a plain PEM key file) or "tpm". */
  PrivkeyEngine: '' | 'tpm';
  /** Auth value of the TPM parent key; undefined when the keyword is absent. Empty string: empty. */
  TpmSrkPassword: string | undefined;
  /** Auth value of the key itself; undefined when the keyword is absent. */
  PrivkeyPassword: string | undefined;
  /** libtss2 TCTI string; "" means the default (device:/dev/tpmrm0, then /dev/tpm0). */
  TpmTcti: string;
}

export interface ServerConfig extends CommonConfig {
  Port: number;
  /**
   * Addresses to listen on, each canonical "host:port" ("0.0.0.0:232", "[::1]:2323") with Port
   * already applied to lines that gave no port. Default: ["0.0.0.0:<Port>", "[::]:<Port>"].
   * listenAddresses() from src/config splits them and says which IPv6 socket must be v6-only.
   */
  Listen: string[];
  ClientCAFile: string;
  ClientCAPath: string;
  ClientCRL: string;
  ClientDomain: string;
  /** Seconds to finish TLS plus the session request; 0: no limit. */
  LoginGraceTime: number;
  MaxStartups: MaxStartups;
  /** Sessions open at once over one multiplexed connection (ControlMaster); sshd's default 10. */
  MaxSessions: number;
  PreforkWorkers: PreforkWorkers;
  /** Seconds without a connection after which workers beyond PreforkWorkers' min exit. */
  PreforkIdleTimeout: number;
  /**
   * Workers are forked from one fork server that has loaded their code and built the TLS context,
   * instead of started as node processes of their own (src/server/fork-server.ts).
   */
  WorkerForkServer: boolean;
  /** Unauthenticated connections one net block may hold; 'none': no limit but MaxStartups. */
  PerSourceMaxStartups: number | 'none';
  PerSourceNetBlockSize: PerSourceNetBlockSize;
  PerSourcePenalties: PerSourcePenalties;
  /** Addresses and CIDR blocks ("10.0.0.0/8", "2001:db8::/32") never penalised. */
  PerSourcePenaltyExemptList: string[];
  /** 'end': a session ends when its client certificate expires; 'off': it outlives it. */
  CertificateExpiry: 'end' | 'off';
  /** Seconds before that end the user is told so; 0: no warning. */
  CertificateExpiryWarning: number;
  /** Seconds one TPM operation of the key agent may take before logins fail fast; 0: no limit. */
  TpmTimeout: number;
  /** forced-commands-only: root only while ForceCommand is set, as sshd's for keys with a command. */
  PermitRootLogin: boolean | 'forced-commands-only';
  /** sshd's login access lists (src/server/login-access.ts): user patterns, USER@HOST allowed. */
  AllowUsers: string[];
  DenyUsers: string[];
  /** Group name patterns, matched against the user's primary and supplementary groups. */
  AllowGroups: string[];
  DenyGroups: string[];
  /** Environment variable name patterns (`*`, `?`) the server accepts from clients. */
  AcceptEnv: string[];
  /**
   * sshd's Subsystem lines, in order: what `tlssh -s host NAME` runs (the first line for a name).
   * Any line replaces the default (sftp with /usr/lib/openssh/sftp-server); `Subsystem none`: none.
   */
  Subsystem: Subsystem[];
  /**
   * sshd's ForceCommand: run for every session instead of what the client asked for, which the
   * command finds in SSH_ORIGINAL_COMMAND. "" for none.
   */
  ForceCommand: string;
  /**
   * Account checks and sessions through PAM (root daemons only). Default yes: where the PAM
   * addon cannot load, a default yes is off with a log line and an explicit yes refuses to start.
   */
  UsePAM: boolean;
  /** sshd's: "Last login: ..." at an interactive login, from /var/log/lastlog (which tlsshd keeps). */
  PrintLastLog: boolean;
  /** The PAM service, /etc/pam.d/<PAMServiceName>. */
  PAMServiceName: string;
  /** "" for none. */
  PidFile: string;
  /** Directory for the TPM key agent's socket and session records. */
  RuntimeDir: string;
  /**
   * "" (default): syslog in the background, stderr with -f. A file: every log line is appended
   * there instead, in both modes (for hosts without a syslog socket).
   */
  LogFile: string;
  SyslogFacility: string;
  LogLevel: 'QUIET' | 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG';
}

export interface ClientConfig extends CommonConfig {
  /** The host as matched against `[pattern]` sections. */
  readonly host: string;
  /** Real host name to connect to; defaults to the host as typed. */
  HostName: string;
  Port: number;
  /** Remote user; "" means whatever the certificate maps to. */
  User: string;
  ServerCAFile: string;
  ServerCAPath: string;
  ServerCRL: string;
  /** Seconds for TCP connect plus TLS handshake; 0: the system's own timeout. */
  ConnectTimeout: number;
  /** Unanswered keepalives (every Keepalive seconds) after which the server is taken as gone. */
  ServerAliveCountMax: number;
  /**
   * The escape character itself (a line's "^]" is stored decoded, as "\x1d"), or "none".
   * Written in the config as one character, "^X" control notation, or "none".
   */
  EscapeChar: string;
  /** Local environment variable name patterns sent to the server. */
  SendEnv: string[];
  AddressFamily: 'any' | 'inet' | 'inet6';
  LogLevel: 'QUIET' | 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG';
  /** Never prompt (for a key password): fail instead, as ssh -o BatchMode=yes. */
  BatchMode: boolean;
  /** Local address to connect from; "" lets the system choose. */
  BindAddress: string;
  /**
   * ssh's -i: the private key, with the certificate found beside it. When set, it decides
   * KeyFile and CertFile (see identity-file.ts); "" leaves them to their own keywords.
   */
  IdentityFile: string;
  /** How many times a wrong key passphrase or TPM key password is asked for before giving up. */
  NumberOfPasswordPrompts: number;
  /** ssh's RequestTTY: what -t/-T say when neither is given. */
  RequestTTY: 'auto' | 'no' | 'yes' | 'force';
  /** ssh's ControlMaster: whether this client may become (or must be) a connection-sharing master. */
  ControlMaster: 'yes' | 'no' | 'auto' | 'ask' | 'autoask';
  /** ssh's ControlPath, tokens (%h %p %r %u %C ...) not yet expanded; "none" for no sharing. */
  ControlPath: string;
  /** ssh's ControlPersist: "no", "yes" (forever), or seconds the master stays after its last session. */
  ControlPersist: 'no' | 'yes' | number;
  /** For -v: config files read, sections applied, OpenSSH keywords ignored and why. */
  readonly notes: readonly string[];
  /** Shown at the default LogLevel: a config whose meaning differs from ssh's (sshStyleOverride). */
  readonly warnings: readonly string[];
}

/** One setting from the client's command line: `Keyword=value`, and what the user typed for it (`-e xx`), for messages. */
export interface CommandLineSetting {
  readonly statement: string;
  readonly typed: string;
}

export interface LoadOptions {
  /** `-c FILE`: replaces the default file list. */
  file?: string;
  /** `-o Keyword=value` arguments, in order; later ones win (the client's: the first one). */
  overrides?: readonly (string | CommandLineSetting)[];
}

export interface ClientLoadOptions extends LoadOptions {
  /** The client's flags that stand for keywords (cli-args.ts `flagOverrides`): applied last, the last one winning. */
  flagOverrides?: readonly CommandLineSetting[];
  /** The host as the user typed it (without user@). */
  host: string;
  /** Home directory used to expand `~`; defaults to os.homedir(). */
  home?: string;
  /** For -G: a missing identity file is a warning, as with ssh -G, not a failure. */
  dumpOnly?: boolean;
}
