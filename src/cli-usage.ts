// One usage-error format for all three programs, as ssh prints one: the program's name and what
// was wrong, then the usage line, on stderr with exit status 255. Commander's own wording
// ("error: unknown option '-x'") names no program, which is useless in a script's log.

import type { Command, CommanderError } from 'commander';

/** Commander codes that mean "we were asked for help or the version", not a mistake. */
export function isHelpOrVersion(e: CommanderError): boolean {
  return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help';
}

/** `PROGRAM: unknown option '-x'` and `usage: PROGRAM ...`, each ending in a newline. */
export function usageErrorText(program: Command, e: CommanderError): string {
  const name = program.name();
  return `${name}: ${e.message.replace(/^error: /, '')}\nusage: ${name} ${program.usage()}\n`;
}
