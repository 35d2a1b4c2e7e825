// tlssh-keygen entry point: parse, plan, run, and turn any failure into one line on stderr and
// exit status 255, as ssh-keygen users expect from a tool failure.

import { homedir } from 'node:os';
import { CommanderError } from 'commander';
import { isHelpOrVersion, usageErrorText } from '../cli-usage';
import { describeError, EXIT_TLSSH_FAILURE, isTlsshError } from '../errors';
import { buildProgram, planFromOptions } from './cli-options';
import { runPlan, type Output } from './commands';
import { inKeygenTerms } from './tpm-bridge';
import { exitQuietlyOnEpipe } from '../quiet-epipe';
import { terminalSafe } from '../terminal-safe-text';
import { guardInspectorSignal } from '../inspector-signal';
import { versionLine } from '../version';

guardInspectorSignal();

const PROGRAM = 'tlssh-keygen';

function fail(message: string): number {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  return EXIT_TLSSH_FAILURE;
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const program = buildProgram(versionLine(PROGRAM));
  program.exitOverride();
  program.configureOutput({
    // Commander's own messages ("error: unknown option") get the program prefix instead.
    outputError: () => undefined,
  });
  try {
    // ssh-keygen -lf FILE: -l would otherwise take "f" as its file.
    program.parse(argv.flatMap((a) => (a === '-lf' || a === '-yf' ? [a.slice(0, 2), '-f'] : [a])), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (isHelpOrVersion(e)) return 0;
      process.stderr.write(usageErrorText(program, e));
      return EXIT_TLSSH_FAILURE;
    }
    return fail(describeError(e));
  }
  try {
    const plan = planFromOptions(program.opts(), env['HOME'] || homedir());
    const toStderr = plan.csr?.out === '-';
    // Names from certificates and paths reach the terminal: never their control or bidi characters.
    const safe = (text: string): string => text.split('\n').map(terminalSafe).join('\n');
    const io: Output = {
      out: (line) => process.stdout.write(`${safe(line)}\n`),
      info: (line) => {
        if (plan.quiet) return;
        (toStderr ? process.stderr : process.stdout).write(`${safe(line)}\n`);
      },
    };
    await runPlan(plan, env, io);
    return 0;
  } catch (e) {
    if (isTlsshError(e)) return fail(describeError(e.category === 'tpm' || e.code === 'TLSSH_ERR_USAGE' || e.code === 'TLSSH_ERR_CONFIG_BAD_VALUE' ? inKeygenTerms(e) : e));
    return fail(`internal error: ${describeError(e)}`);
  }
}

// Run when started as a program (bin/tlssh-keygen requires this file), not when imported by tests.
const entry = require.main;
if (entry === module || (entry !== undefined && /tlssh-keygen$/.test(entry.filename))) {
  exitQuietlyOnEpipe(); // `tlssh-keygen -l key | head -1`
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = fail(`internal error: ${describeError(e)}`);
    },
  );
}
