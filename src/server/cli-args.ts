// tlsshd's command line. Kept apart from main.ts so it can be tested without starting anything.

import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { isHelpOrVersion, usageErrorText } from '../cli-usage';
import { versionLine } from '../version';

/** What to do: serve, check the set-up and exit (-t), or print the effective config (-T). */
export type DaemonMode = 'serve' | 'test' | 'print-config';

export interface DaemonArgs {
  mode: DaemonMode;
  foreground: boolean;
  /** Number of -v flags. */
  verbose: number;
  configFile: string | undefined;
  overrides: string[];
}

export type ParseResult = { kind: 'run'; args: DaemonArgs } | { kind: 'exit'; status: number; output: string };

const HELP_AFTER = `
Exit status: 0 once the daemon listens (or -t found nothing wrong); 255 when it cannot start,
with one line on stderr naming the file and the problem.

Files: /etc/tlssh/tlsshd.conf (see tlsshd.conf(5)); manual: tlsshd(8).`;

/**
 * sshd's -f names the configuration file; here -f is the original tlsshd's --foreground, so
 * `tlsshd -t -f /etc/tlssh/tlsshd.conf` leaves the file name over. Say which flag takes it.
 */
function sshdHabit(argv: readonly string[], e: CommanderError): string {
  if (e.code !== 'commander.excessArguments') return '';
  const f = argv.findIndex((a) => a === '-f' || (/^-[A-Za-z]*f$/.test(a) && !a.startsWith('--')));
  const next = f >= 0 ? argv[f + 1] : undefined;
  if (next === undefined || next.startsWith('-')) return '';
  return `tlsshd: -f is --foreground here; the configuration file is -c ${next}\n`;
}

export function parseDaemonArgs(argv: readonly string[]): ParseResult {
  let output = '';
  const program = new Command('tlsshd')
    .description('tlssh daemon: remote login over mutually authenticated TLS 1.3')
    .usage('[-fTtvV] [-c config_file] [-o Keyword=value]...')
    .option('-f, --foreground', 'stay in the foreground and log to stderr (or LogFile) instead of syslog')
    .option('-t, --test', 'check the configuration, certificates and keys (the TPM key signs once), then exit')
    .option('-T, --print-config', 'print the effective configuration (secrets masked), then exit')
    .option('-v, --verbose', 'more log detail (VERBOSE; twice: DEBUG)', (_v: string, n: number) => n + 1, 0)
    .option('-c, --config <file>', 'configuration file (default /etc/tlssh/tlsshd.conf)')
    .option('-o, --option <Keyword=value>', 'override one configuration keyword (repeatable)', (v: string, all: string[] | undefined) => [...(all ?? []), v])
    .version(versionLine('tlsshd'), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', HELP_AFTER)
    .allowExcessArguments(false)
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => { output += s; }, writeErr: (s) => { output += s; }, outputError: () => undefined });
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (isHelpOrVersion(e)) return { kind: 'exit', status: 0, output };
      return { kind: 'exit', status: 255, output: usageErrorText(program, e) + sshdHabit(argv, e) };
    }
    throw e;
  }
  const o = program.opts<{ foreground?: boolean; test?: boolean; printConfig?: boolean; verbose: number; config?: string; option?: string[] }>();
  // -T wins over -t, as in sshd: printing the config is the more specific request.
  const mode: DaemonMode = o.printConfig === true ? 'print-config' : o.test === true ? 'test' : 'serve';
  // Absolute now: in the background tlsshd works from /, and SIGHUP reads the file again from there.
  const configFile = o.config === undefined ? undefined : path.resolve(o.config);
  return { kind: 'run', args: { mode, foreground: o.foreground === true, verbose: o.verbose, configFile, overrides: o.option ?? [] } };
}
