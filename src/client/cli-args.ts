// The tlssh command line, parsed the way ssh users expect: options end at the first operand, so
// `tlssh host ls -l` hands `-l` to the remote ls; the remote command's words are joined with
// spaces; flags that mirror config keywords become `-o` style overrides in the order typed.
// Parsing never exits the process: it returns what to print and the status, so it is testable.

import { Command, CommanderError } from 'commander';
import { isHelpOrVersion, usageErrorText } from '../cli-usage';
import { applyTtyFlag, type TtyRequest } from './pty-decision';

export interface ClientArgs {
  /** The host as typed, without any user@ part. */
  host: string;
  /** The remote command, words joined by single spaces; "" for a login shell. */
  command: string;
  /** -c FILE, replacing the default configuration files. */
  configFile: string | undefined;
  /** `Keyword=value` overrides from -o and the flags that stand for keywords, in command-line order. */
  overrides: string[];
  ttyRequest: TtyRequest;
  /** Number of -v flags. */
  verbose: number;
  /** -n: stdin from /dev/null. */
  stdinNull: boolean;
}

export type ParseResult =
  | { kind: 'run'; args: ClientArgs }
  /** Help, version, or a usage error: print `stdout`/`stderr` and exit with `status`. */
  | { kind: 'exit'; status: number; stdout: string; stderr: string };

const USAGE = '[-46nqtTvV] [-c FILE] [-e ESCAPECHAR] [-E ENGINE] [-l USER] [-o Keyword=value] [-p PORT] [user@]host [command [argument ...]]';

const HELP_AFTER = `
Escapes (interactive sessions with a pseudo-terminal, right after a newline):
  ~.   disconnect          ~^Z  suspend tlssh
  ~?   list escapes        ~~   send one ~

Exit status: the remote command's; 128+N when it was killed by signal N; 255 when
tlssh itself failed (one line on stderr says why).

Examples:
  tlssh shell.example.com                  interactive login
  tlssh admin@db1 'systemctl status nginx' run a command
  tlssh -t db1 top                         command with a pseudo-terminal
  tlssh -p 2232 -o ConnectTimeout=5 h1 uptime
  tlssh backup1 'tar -C /srv -cf - data' > data.tar

Files: /etc/tlssh/tlssh.conf, ~/.tlssh/tlssh.conf (see tlssh.conf(5)); manual: tlssh(1).`;

function keywordFlag(overrides: string[], keyword: string, value: string): string {
  overrides.push(`${keyword}=${value}`);
  return value;
}

function splitDestination(destination: string): { user: string | undefined; host: string } {
  // The last @ separates, as in ssh, so a user name may itself contain one.
  const at = destination.lastIndexOf('@');
  if (at < 0) return { user: undefined, host: destination };
  return { user: destination.slice(0, at), host: destination.slice(at + 1) };
}

function usageError(message: string): ParseResult {
  return { kind: 'exit', status: 255, stdout: '', stderr: `tlssh: ${message} (see tlssh --help)\n` };
}

export function parseArgs(argv: readonly string[], version: string): ParseResult {
  const overrides: string[] = [];
  let tty: TtyRequest = 'auto';
  let loginName: string | undefined;
  let stdout = '';
  let stderr = '';

  const program = new Command('tlssh')
    .usage(USAGE)
    .description('Remote login shell over mutually authenticated TLS 1.3.')
    .argument('[destination]', '[user@]host to connect to')
    .argument('[command...]', 'command to run instead of a login shell (words joined by spaces)')
    .passThroughOptions()
    .helpOption('-h, --help', 'show this help and exit')
    .version(version, '-V, --version', 'print the version and exit')
    .option('-4', 'use IPv4 addresses only (AddressFamily=inet)', () => keywordFlag(overrides, 'AddressFamily', 'inet'))
    .option('-6', 'use IPv6 addresses only (AddressFamily=inet6)', () => keywordFlag(overrides, 'AddressFamily', 'inet6'))
    .option('-c, --config <file>', 'read this configuration file instead of the default ones')
    .option('-e, --escape-char <char>', 'escape character: one character, ^X, or "none" (EscapeChar)', (v: string) =>
      keywordFlag(overrides, 'EscapeChar', v),
    )
    .option('-E, --engine <engine>', 'private key engine: "tpm" for a key held in a TPM (PrivkeyEngine)', (v: string) =>
      keywordFlag(overrides, 'PrivkeyEngine', v),
    )
    .option('-l, --login <user>', 'remote user to log in as (User)', (v: string) => {
      loginName = v;
      return v;
    })
    .option('-n', 'read stdin from /dev/null (for running in the background)')
    .option('-o, --option <keyword=value>', 'set any configuration keyword; may be repeated', (v: string) => {
      overrides.push(v);
      return v;
    })
    .option('-p, --port <port>', 'port to connect to (Port)', (v: string) => keywordFlag(overrides, 'Port', v))
    .option('-q, --quiet', 'quiet: no warnings or diagnostics (LogLevel=QUIET)', () => keywordFlag(overrides, 'LogLevel', 'QUIET'))
    .option('-t', 'ask for a pseudo-terminal; twice: even when stdin is not a terminal', () => {
      tty = applyTtyFlag(tty, 't');
      return tty;
    })
    .option('-T', 'never ask for a pseudo-terminal', () => {
      tty = applyTtyFlag(tty, 'T');
      return tty;
    })
    .option('-v, --verbose', 'debug messages on stderr; repeat for more', (_v: string, previous: number) => previous + 1, 0)
    .addHelpText('after', HELP_AFTER)
    .configureHelp({ sortOptions: true, helpWidth: 100 })
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        stdout += s;
      },
      writeErr: (s) => {
        stderr += s;
      },
      outputError: () => undefined,
    });

  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (isHelpOrVersion(err)) return { kind: 'exit', status: 0, stdout, stderr };
      return { kind: 'exit', status: 255, stdout: '', stderr: usageErrorText(program, err) };
    }
    throw err;
  }

  const [destination, words] = program.processedArgs as [string | undefined, string[]];
  if (destination === undefined || destination === '') return usageError('no host given');
  const { user, host } = splitDestination(destination);
  if (host === '') return usageError(`no host in "${destination}"`);
  if (user === '') return usageError(`empty user name in "${destination}"`);
  // -l wins over user@host, as in ssh; both win over the configuration files.
  const remoteUser = loginName ?? user;
  if (remoteUser !== undefined) overrides.push(`User=${remoteUser}`);

  const opts = program.opts<{ config?: string; verbose: number; n?: boolean }>();
  return {
    kind: 'run',
    args: {
      host,
      command: words.join(' '),
      configFile: opts.config,
      overrides,
      ttyRequest: tty,
      verbose: opts.verbose,
      stdinNull: opts.n === true,
    },
  };
}
