// The tlssh command line, parsed the way OpenSSH's ssh parses its own: options, then the
// destination, then more options up to the first word of the remote command (`--` ends them), so
// `tlssh host -p 232 uptime` sets the port while `tlssh host ls -l` hands `-l` to the remote ls.
// Every one of ssh's option letters is handled on purpose (OPTION_TABLE): implemented, accepted
// and ignored with a note for -v, or refused with one line, because scripts and tools such as
// Ansible and git pass ssh's options to whatever program they were told is ssh. Flags that mirror
// config keywords become `-o` style overrides in the order typed. Parsing never exits the
// process: it returns what to print and the status, so it is testable.

import { existsSync } from 'node:fs';
import { applyTtyFlag, type TtyRequest } from './pty-decision';
import type { CommandLineSetting } from '../config/types';

export interface ClientArgs {
  /** The host as typed, without any user@ part. */
  host: string;
  /** The remote command, words joined by single spaces; "" for a login shell. */
  command: string;
  /** -F FILE or -c FILE, replacing the default configuration files. */
  configFile: string | undefined;
  /** `Keyword=value` from -o, -l, -p, -i and user@host, in command-line order: the first of a keyword wins. */
  overrides: CommandLineSetting[];
  /**
   * `Keyword=value` from the flags ssh applies whenever they come (-4 -6 -b -e -E -q -M -S): the
   * last of a keyword wins, over any -o of it.
   */
  flagOverrides: CommandLineSetting[];
  ttyRequest: TtyRequest;
  /** Number of -v flags. */
  verbose: number;
  /** -n: stdin from /dev/null. */
  stdinNull: boolean;
  /** -G: print the configuration for the host and exit without connecting. */
  dumpConfig: boolean;
  /** -N: connect and authenticate, run nothing. */
  noCommand: boolean;
  /** -f (with -N): a connection-sharing master, which runs in the background anyway (mux-route.ts). */
  background: boolean;
  /** -s: the command is a subsystem name. */
  subsystem: boolean;
  /** -O: a command for the connection-sharing master instead of a session. */
  controlCommand: ControlCommand | undefined;
  /** Options accepted but ignored, each with why: shown at -v. */
  notes: string[];
  /** -X, -Y or -o ForwardX11=yes: asked for what tlssh cannot do, so told so (as ssh says when X11 fails). */
  x11: boolean;
}

/** ssh's -O commands that mean something without forwardings. */
export type ControlCommand = 'check' | 'exit' | 'stop';

export type ParseResult =
  | { kind: 'run'; args: ClientArgs }
  /** Help, version, or a usage error: print `stdout`/`stderr` and exit with `status`. */
  | { kind: 'exit'; status: number; stdout: string; stderr: string };

const USAGE =
  'usage: tlssh [-46AaCfGgKkMNnqsTtVvXxYy] [-b bind_address] [-c|-F configfile] [-E engine]\n' +
  '             [-e escape_char] [-i identity_file] [-l login_name] [-O ctl_cmd] [-o option]\n' +
  '             [-p port] [-S ctl_path] [user@]host [command [argument ...]]';

const HELP = `${USAGE}

Remote login shell over mutually authenticated TLS 1.3.

Options (ssh's letters, with ssh's meaning unless said otherwise):
  -4               use IPv4 addresses only (AddressFamily=inet)
  -6               use IPv6 addresses only (AddressFamily=inet6)
  -b ADDRESS       connect from this local address (BindAddress)
  -c, -F FILE      read this configuration file instead of the default ones
                   (-F /dev/null: none); -c with ssh cipher names, as scp -c passes, is
                   ignored
  -f               with -N: start a connection-sharing master and return, as ssh -fN
                   (tlssh's master runs in the background anyway); needs -M, or
                   ControlMaster and a ControlPath
  -E ENGINE        private key engine: "tpm" (PrivkeyEngine; TSS2 key files are used in
                   the TPM without it). Not ssh's log file.
  -e CHAR          escape character: one character, ^X, or "none" (EscapeChar)
  -G               print the configuration for host, one "keyword value" line each, and exit
  -i FILE          identity: private key FILE and the certificate beside it (FILE.crt,
                   FILE-cert.pem, or STEM.crt for STEM.key), or one PEM file with both
                   (IdentityFile)
  -l USER          remote user to log in as (User)
  -M               be the connection-sharing master (ControlMaster=yes); twice: ask
                   before each shared session (ControlMaster=ask)
  -N               run nothing: connect, log in, and end (255 when the server refuses)
  -n               read stdin from /dev/null (for running in the background)
  -O CMD           ask the master at ControlPath: check (is it running), exit (end it
                   and its sessions), stop (accept no more sessions; end after the last)
  -o KEYWORD=VALUE set any configuration keyword; may be repeated
  -p PORT          port to connect to (Port)
  -q               quiet: no warnings or diagnostics (LogLevel=QUIET)
  -S PATH          the connection-sharing socket (ControlPath); "none" for none
  -s               the command is a subsystem name (tlsshd's Subsystem), e.g. sftp
  -T               never ask for a pseudo-terminal
  -t               ask for a pseudo-terminal; twice: even when stdin is not a terminal
  -V, --version    print the version and exit
  -v               debug messages on stderr; -vv and -vvv for more
  -h, --help       show this help and exit

Long forms: --config (-c), --engine (-E), --escape-char (-e), --login (-l), --option (-o),
--port (-p), --quiet (-q), --verbose (-v).
Accepted and ignored (noted at -v): -2 -A -a -C -g -K -k -m -P -x -y.
-X and -Y are accepted with a warning: tlssh has no X11 forwarding.
Refused: -L -R -D -W -J -w (no forwarding or tunnels), -1, -B, -I, -Q; -f with a command.
Options may also follow the host, up to the first word of the command; -- ends them.
The destination may be a URI, as for ssh: ssh://[user@]host[:port] or tlssh://...

Connection sharing (ssh's ControlMaster, ControlPath, ControlPersist; tlssh.conf(5)):
  tlssh -o ControlMaster=auto -o ControlPath='~/.tlssh/cm-%C' -o ControlPersist=10m host
  makes the first command start a master in the background; later ones reuse its
  connection, without a new TLS handshake or TPM signature.

Escapes (interactive sessions with a pseudo-terminal, right after a newline):
  ~.   disconnect (a shared session: end only it)   ~^Z  suspend tlssh
  ~?   list escapes        ~~   send one ~

Exit status: the remote command's; 128+N when it was killed by signal N; 255 when
tlssh itself failed (one line on stderr says why).

Examples:
  tlssh shell.example.com                  interactive login
  tlssh admin@db1 'systemctl status nginx' run a command
  tlssh -t db1 top                         command with a pseudo-terminal
  tlssh db1 -p 2232 -o ConnectTimeout=5 uptime
  tlssh backup1 'tar -C /srv -cf - data' > data.tar
  rsync -e tlssh -a src/ host:dst/         GIT_SSH_COMMAND=tlssh git clone host:repo

Files: /etc/tlssh/tlssh.conf, ~/.tlssh/tlssh.conf (see tlssh.conf(5)); manual: tlssh(1).
`;

type Action =
  | { kind: 'flag'; apply: (s: ParseState) => void }
  | { kind: 'value'; apply: (s: ParseState, value: string) => string | undefined }
  | { kind: 'ignore'; value: boolean; why: string }
  | { kind: 'refuse'; value: boolean; why: string };

interface ParseState {
  overrides: CommandLineSetting[];
  flagOverrides: CommandLineSetting[];
  /** The option being applied, as typed (`-e xx`), for the messages of the setting it makes. */
  typed: string;
  tty: TtyRequest;
  configFile: string | undefined;
  verbose: number;
  stdinNull: boolean;
  dumpConfig: boolean;
  noCommand: boolean;
  background: boolean;
  subsystem: boolean;
  help: boolean;
  version: boolean;
  masterFlags: number;
  controlCommand: ControlCommand | undefined;
  notes: string[];
  x11: boolean;
}

/** OpenSSH's cipher names, as `ssh -c` takes them (a list, optionally +, - or ^ first). */
const SSH_CIPHERS = new Set([
  'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com',
  'aes128-cbc', 'aes192-cbc', 'aes256-cbc', '3des-cbc', 'rijndael-cbc@lysator.liu.se',
]);

function isSshCipherList(v: string): boolean {
  const items = v.replace(/^[+\-^]/, '').split(',');
  return items.length > 0 && items.every((c) => SSH_CIPHERS.has(c.toLowerCase()));
}

/** -X and -Y: a note at -v as for the other ignored letters, and the warning (main.ts). */
function x11Asked(s: ParseState, letter: string): void {
  s.x11 = true;
  s.notes.push(`-${letter} ignored: tlssh has no X11 forwarding`);
}

/**
 * A flag that sets `name`, as ssh's do: unconditionally whenever it comes (`options.x = ...` in
 * ssh.c), so the last one holds, and an -o of the keyword, which sets only what is still unset,
 * never beats it.
 */
const toggle =
  (name: string, fixed?: string): Action =>
    fixed === undefined
      ? { kind: 'value', apply: (s, v) => void s.flagOverrides.push({ statement: `${name}=${v}`, typed: s.typed }) }
      : { kind: 'flag', apply: (s) => void s.flagOverrides.push({ statement: `${name}=${fixed}`, typed: s.typed }) };

const NO_FORWARDING = 'tlssh has no port forwarding, stdio forwarding or jump hosts';

/** Every option letter of OpenSSH 9's ssh, and tlssh's own. Letters not here are unknown. */
const OPTION_TABLE: Readonly<Record<string, Action>> = {
  '4': toggle('AddressFamily', 'inet'),
  '6': toggle('AddressFamily', 'inet6'),
  b: toggle('BindAddress'),
  // The original tlssh's -c is the configuration file; ssh's is the cipher, which scp -c and
  // rsync users pass through. A value that names no file but only ssh ciphers is taken as that.
  c: {
    kind: 'value',
    apply: (s, v) => {
      if (isSshCipherList(v) && !existsSync(v)) s.notes.push(`-c ${v} ignored: TLS 1.3 chooses its own cipher (tlssh's -c is its configuration file)`);
      else s.configFile = v;
      return undefined;
    },
  },
  F: { kind: 'value', apply: (s, v) => void (s.configFile = v) },
  E: {
    kind: 'value',
    apply: (s, v) => {
      // ssh's -E is a log file; tlssh's (the original's) is the key engine.
      if (v.toLowerCase() !== 'tpm' && /[/.]/.test(v)) throw new UsageProblem(`-E takes a private key engine (tpm), not a file: ssh's -E LOGFILE is not supported; redirect standard error instead (2>${v})`);
      s.flagOverrides.push({ statement: `PrivkeyEngine=${v}`, typed: s.typed });
      return undefined;
    },
  },
  e: toggle('EscapeChar'),
  G: { kind: 'flag', apply: (s) => void (s.dumpConfig = true) },
  // ssh adds each -i to its list, and tries them in order: the first one is the key.
  i: { kind: 'value', apply: (s, v) => void s.overrides.push({ statement: `IdentityFile=${v}`, typed: s.typed }) },
  // In the order typed, as -p: the first -l, -p or -o of a keyword wins, as in ssh.
  l: { kind: 'value', apply: (s, v) => void s.overrides.push({ statement: `User=${v}`, typed: s.typed }) },
  N: { kind: 'flag', apply: (s) => void (s.noCommand = true) },
  f: { kind: 'flag', apply: (s) => void (s.background = true) },
  n: { kind: 'flag', apply: (s) => void (s.stdinNull = true) },
  o: {
    kind: 'value',
    apply: (s, v) => {
      s.overrides.push({ statement: v, typed: s.typed });
      if (/^\s*forwardx11\s*(?:=|\s)\s*yes\s*$/i.test(v)) s.x11 = true;
      return undefined;
    },
  },
  // Checked here, so that the error names -p as typed (ssh: "Bad port 'abc'"), not an -o line.
  p: {
    kind: 'value',
    apply: (s, v) => {
      if (!/^[0-9]{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new UsageProblem(`Bad port '${v}': -p takes a number from 1 to 65535`);
      s.overrides.push({ statement: `Port=${v}`, typed: s.typed });
      return undefined;
    },
  },
  q: toggle('LogLevel', 'QUIET'),
  s: { kind: 'flag', apply: (s) => void (s.subsystem = true) },
  T: { kind: 'flag', apply: (s) => void (s.tty = applyTtyFlag(s.tty, 'T')) },
  t: { kind: 'flag', apply: (s) => void (s.tty = applyTtyFlag(s.tty, 't')) },
  V: { kind: 'flag', apply: (s) => void (s.version = true) },
  v: { kind: 'flag', apply: (s) => void (s.verbose += 1) },
  h: { kind: 'flag', apply: (s) => void (s.help = true) },

  '2': { kind: 'ignore', value: false, why: 'tlssh speaks only its own protocol' },
  A: { kind: 'ignore', value: false, why: 'tlssh has no agent forwarding' },
  a: { kind: 'ignore', value: false, why: 'tlssh has no agent forwarding' },
  C: { kind: 'ignore', value: false, why: 'tlssh does not compress' },
  g: { kind: 'ignore', value: false, why: 'tlssh has no port forwarding' },
  K: { kind: 'ignore', value: false, why: 'tlssh has no GSSAPI authentication' },
  k: { kind: 'ignore', value: false, why: 'tlssh has no GSSAPI credentials to delegate' },
  M: {
    kind: 'flag',
    apply: (s) => {
      s.masterFlags += 1;
      s.flagOverrides.push({ statement: `ControlMaster=${s.masterFlags === 1 ? 'yes' : 'ask'}`, typed: s.typed });
    },
  },
  m: { kind: 'ignore', value: true, why: 'TLS 1.3 chooses its own MACs' },
  P: { kind: 'ignore', value: true, why: 'tlssh has no Tag/Match' },
  S: toggle('ControlPath'),
  O: { kind: 'value', apply: (s, v) => void (s.controlCommand = controlCommand(v)) },
  X: { kind: 'flag', apply: (s) => x11Asked(s, 'X') },
  x: { kind: 'ignore', value: false, why: 'tlssh has no X11 forwarding' },
  Y: { kind: 'flag', apply: (s) => x11Asked(s, 'Y') },
  y: { kind: 'ignore', value: false, why: 'tlssh logs to stderr only' },

  D: { kind: 'refuse', value: true, why: NO_FORWARDING },
  J: { kind: 'refuse', value: true, why: NO_FORWARDING },
  L: { kind: 'refuse', value: true, why: NO_FORWARDING },
  R: { kind: 'refuse', value: true, why: NO_FORWARDING },
  W: { kind: 'refuse', value: true, why: NO_FORWARDING },
  w: { kind: 'refuse', value: true, why: 'tlssh has no tunnel devices' },
  '1': { kind: 'refuse', value: false, why: 'SSH protocol 1 is not tlssh' },
  B: { kind: 'refuse', value: true, why: 'binding to an interface is not supported; use -b ADDRESS' },
  I: { kind: 'refuse', value: true, why: 'PKCS#11 is not supported; TPM keys are (-E tpm)' },
  Q: { kind: 'refuse', value: true, why: 'tlssh has no algorithms to list (TLS 1.3 chooses them)' },
};

const LONG_OPTIONS: Readonly<Record<string, string>> = {
  '--help': 'h',
  '--version': 'V',
  '--verbose': 'v',
  '--quiet': 'q',
  '--config': 'c',
  '--escape-char': 'e',
  '--engine': 'E',
  '--login': 'l',
  '--option': 'o',
  '--port': 'p',
};

/** ssh's -O argument: check, exit and stop are real; the forwarding commands cannot be. */
function controlCommand(value: string): ControlCommand {
  switch (value) {
    case 'check':
    case 'exit':
    case 'stop':
      return value;
    case 'cancel':
    case 'forward':
    case 'proxy':
      throw new UsageProblem(`-O ${value} is for forwardings, which tlssh does not have (it knows check, exit and stop)`);
    default:
      throw new UsageProblem(`-O ${JSON.stringify(value)}: unknown multiplex command (check, exit or stop)`);
  }
}

/**
 * ssh's URI form of a destination, `ssh://[user@]host[:port][/]` (the secsh URI draft, as
 * OpenSSH takes it), and tlssh's own `tlssh://`: the user percent-decoded, an IPv6 address in brackets,
 * no path. Undefined when `destination` is not such a URI; a UsageProblem when it is a bad one.
 */
function parseUri(destination: string): { user: string | undefined; host: string; port: string | undefined } | undefined {
  const m = /^(?:ssh|tlssh):\/\/(.*)$/i.exec(destination);
  if (!m) return undefined;
  const rest = m[1]!.replace(/\/$/, '');
  const bad = (): UsageProblem => new UsageProblem(`"${destination}" is not a destination URI: scheme://[user@]host[:port] without a path`);
  if (rest.includes('/')) throw bad();
  const at = rest.lastIndexOf('@');
  let user: string | undefined;
  if (at >= 0) {
    try {
      // ssh ignores the ";fingerprint=..." parameters of the user part.
      user = decodeURIComponent(rest.slice(0, at).replace(/;.*$/, ''));
    } catch {
      throw bad();
    }
  }
  const hostPort = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(rest.slice(at + 1));
  if (!hostPort) throw bad();
  return { user, host: hostPort[1] ?? hostPort[2]!, port: hostPort[3] };
}

function splitDestination(destination: string): { user: string | undefined; host: string } {
  // The last @ separates, as in ssh, so a user name may itself contain one.
  const at = destination.lastIndexOf('@');
  if (at < 0) return { user: undefined, host: destination };
  return { user: destination.slice(0, at), host: destination.slice(at + 1) };
}

function usageError(message: string, withUsage = false): ParseResult {
  const tail = withUsage ? `${USAGE}\n` : '';
  return { kind: 'exit', status: 255, stdout: '', stderr: `tlssh: ${message}${withUsage ? '' : ' (see tlssh --help)'}\n${tail}` };
}

class UsageProblem extends Error {
  constructor(
    message: string,
    readonly withUsage = false,
  ) {
    super(message);
  }
}

/**
 * Parses options from argv[i] on, getopt style: clustered letters (-tt, -vvv), attached values
 * (-p22, -oKey=v), `--` ends options. Returns the index of the first argument that is not an
 * option, and whether `--` was what ended them.
 */
function parseOptions(argv: readonly string[], start: number, s: ParseState): { next: number; terminated: boolean } {
  let i = start;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === '--') return { next: i + 1, terminated: true };
    if (!arg.startsWith('-') || arg === '-') return { next: i, terminated: false };
    i += 1;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg : arg.slice(0, eq);
      const letter = LONG_OPTIONS[name];
      if (letter === undefined) throw new UsageProblem(`unknown option '${name}'`, true);
      const action = OPTION_TABLE[letter]!;
      if (action.kind === 'value') {
        let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
        if (value === undefined) {
          if (i >= argv.length) throw new UsageProblem(`option '${name}' needs an argument`, true);
          value = argv[i++]!;
        }
        s.typed = `${name} ${value}`;
        action.apply(s, value);
      } else if (action.kind === 'flag') {
        if (eq >= 0) throw new UsageProblem(`option '${name}' takes no argument`, true);
        s.typed = name;
        action.apply(s);
      }
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const action = Object.prototype.hasOwnProperty.call(OPTION_TABLE, letter) ? OPTION_TABLE[letter]! : undefined;
      if (action === undefined) throw new UsageProblem(`unknown option '-${letter}'`, true);
      const takesValue = action.kind === 'value' || ((action.kind === 'ignore' || action.kind === 'refuse') && action.value);
      let value: string | undefined;
      if (takesValue) {
        if (j + 1 < arg.length) value = arg.slice(j + 1);
        else if (i < argv.length) value = argv[i++]!;
        else throw new UsageProblem(`option '-${letter}' needs an argument`, true);
        j = arg.length;
      }
      s.typed = value === undefined ? `-${letter}` : `-${letter} ${value}`;
      switch (action.kind) {
        case 'flag':
          action.apply(s);
          break;
        case 'value':
          action.apply(s, value!);
          break;
        case 'ignore':
          s.notes.push(`-${letter}${value === undefined ? '' : ` ${value}`} ignored: ${action.why}`);
          break;
        case 'refuse':
          throw new UsageProblem(`-${letter} is not supported: ${action.why}`);
      }
    }
  }
  return { next: i, terminated: false };
}

export function parseArgs(argv: readonly string[], version: string): ParseResult {
  const s: ParseState = {
    overrides: [],
    flagOverrides: [],
    typed: '',
    tty: 'auto',
    configFile: undefined,
    verbose: 0,
    stdinNull: false,
    dumpConfig: false,
    noCommand: false,
    background: false,
    subsystem: false,
    help: false,
    version: false,
    masterFlags: 0,
    controlCommand: undefined,
    notes: [],
    x11: false,
  };
  let destination: string | undefined;
  let words: string[] = [];
  try {
    // As OpenSSH's ssh: options, the destination, then options again until the first word of
    // the command; `--` anywhere ends the options, and what follows the destination is the command.
    let { next, terminated } = parseOptions(argv, 0, s);
    if (!s.help && !s.version && next < argv.length) {
      destination = argv[next]!;
      next += 1;
      if (!terminated) ({ next } = parseOptions(argv, next, s));
      words = argv.slice(next);
    }
  } catch (err) {
    if (err instanceof UsageProblem) return usageError(err.message, err.withUsage);
    throw err;
  }
  if (s.help) return { kind: 'exit', status: 0, stdout: HELP, stderr: '' };
  if (s.version) return { kind: 'exit', status: 0, stdout: `${version}\n`, stderr: '' };

  if (destination === undefined || destination === '') return usageError('no host given', true);
  let uri: ReturnType<typeof parseUri>;
  try {
    uri = parseUri(destination);
  } catch (err) {
    if (err instanceof UsageProblem) return usageError(err.message);
    throw err;
  }
  const { user, host } = uri ?? splitDestination(destination);
  // A URI's port goes last, like its user: -p and -o Port, which come first, win over it, as in ssh.
  if (uri?.port !== undefined) s.overrides.push({ statement: `Port=${uri.port}`, typed: destination });
  if (host === '') return usageError(`no host in "${destination}"`);
  if (user === '') return usageError(`empty user name in "${destination}"`);
  // -l and -o User win over user@host, as in ssh; all of them win over the configuration files.
  // On the command line the first value of a keyword wins (load-client-config.ts), so user@host
  // goes last, where any -l or -o User, typed before or after the host, comes before it.
  if (user !== undefined) s.overrides.push({ statement: `User=${user}`, typed: destination });
  if (s.subsystem && words.length === 0) return usageError('-s needs a subsystem name after the host');
  // ssh -f runs the command in the background after the login; Node cannot fork a process that
  // holds a connection, so tlssh has only ssh -fN's use of it: a master, which is detached anyway.
  if (s.background && !s.noCommand) {
    return usageError('-f goes to the background only as a connection-sharing master, with -N (tlssh -f -N -M ...); for a command, use -n and the shell\'s &');
  }
  if (s.subsystem && !/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/.test(words.join(' '))) {
    return usageError(`-s: ${JSON.stringify(words.join(' '))} is not a subsystem name ([A-Za-z0-9._@+-], at most 64)`);
  }

  return {
    kind: 'run',
    args: {
      host,
      command: words.join(' '),
      configFile: s.configFile,
      overrides: s.overrides,
      flagOverrides: s.flagOverrides,
      ttyRequest: s.tty,
      verbose: s.verbose,
      stdinNull: s.stdinNull,
      dumpConfig: s.dumpConfig,
      noCommand: s.noCommand,
      background: s.background,
      subsystem: s.subsystem,
      controlCommand: s.controlCommand,
      notes: s.notes,
      x11: s.x11,
    },
  };
}
