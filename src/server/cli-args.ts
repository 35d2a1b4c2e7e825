// tlsshd's command line. Kept apart from main.ts so it can be tested without starting anything.

import { Command, CommanderError } from 'commander';

export interface DaemonArgs {
  foreground: boolean;
  /** Number of -v flags. */
  verbose: number;
  configFile: string | undefined;
  overrides: string[];
}

export type ParseResult = { kind: 'run'; args: DaemonArgs } | { kind: 'exit'; status: number; output: string };

export function packageVersion(): string {
  try {
    // A literal require: the bundler inlines package.json, so the bundle needs no path to it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require('../../../package.json') as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function parseDaemonArgs(argv: readonly string[]): ParseResult {
  let output = '';
  const program = new Command('tlsshd')
    .description('tlssh daemon: remote login over mutually authenticated TLS 1.3')
    .usage('[-f] [-v] [-c config_file] [-o Keyword=value]...')
    .option('-f, --foreground', 'stay in the foreground and log to stderr instead of syslog')
    .option('-v, --verbose', 'more log detail (VERBOSE; twice: DEBUG)', (_v: string, n: number) => n + 1, 0)
    .option('-c, --config <file>', 'configuration file (default /etc/tlssh/tlsshd.conf)')
    .option('-o, --option <Keyword=value>', 'override one configuration keyword (repeatable)', (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => { output += s; }, writeErr: (s) => { output += s; } });
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      const ok = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help';
      return { kind: 'exit', status: ok ? 0 : 255, output };
    }
    throw e;
  }
  const o = program.opts<{ foreground?: boolean; verbose: number; config?: string; option?: string[] }>();
  return { kind: 'run', args: { foreground: o.foreground === true, verbose: o.verbose, configFile: o.config, overrides: o.option ?? [] } };
}
