// `-o Keyword=value` (or `-o "Keyword value"`, as ssh also takes): one keyword per argument.
import * as os from 'node:os';
import { configError, type Where } from './config-error';
import { SyntaxProblem, lexLine } from './line-lexer';
import { lookupKeyword, parseValue, refuseCutCommand } from './parse-config-text';
import type { ConfigSchema, KeywordSpec } from './schema';
import type { CommandLineSetting } from './types';

export interface Override {
  readonly spec: KeywordSpec;
  readonly value: unknown;
  readonly where: Where;
}

/** A plain string is an `-o` argument; a flag's setting keeps what was typed, so that its errors name the flag. */
export function parseOverrides(args: readonly (string | CommandLineSetting)[], schema: ConfigSchema, home: string): Override[] {
  return args.map((a) => (typeof a === 'string' ? parseOverride(a, `-o ${a}`, schema, home) : parseOverride(a.statement, a.typed, schema, home)));
}

function parseOverride(arg: string, typed: string, schema: ConfigSchema, home: string): Override {
  let where: Where = { commandLine: typed };
  let lexed;
  try {
    lexed = lexLine(arg);
  } catch (e) {
    if (e instanceof SyntaxProblem) throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, undefined, e.message, e);
    throw e;
  }
  if (lexed.kind !== 'keyword') {
    throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, undefined, 'expected Keyword=value');
  }
  const lower = lexed.keyword.toLowerCase();
  if (lower === 'include' || lower === '-include' || lower === 'host') {
    throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, lexed.keyword, 'only allowed inside a config file');
  }
  const spec = lookupKeyword(lexed.keyword, where, schema);
  refuseCutCommand(lexed, where);
  // `-o IdentityFile` alone is a forgotten value, not a request for an empty one (ssh: "no
  // argument after keyword"); `-o Keyword=` says empty on purpose.
  if (!/[=\s]/.test(arg.trim())) throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, spec.name, 'no value after the keyword: -o Keyword=value');
  if (spec.secret) {
    // The argument itself must not reach a message or log: argv is readable by every local user.
    where = { commandLine: `-o ${spec.name}=...` };
    throw configError(
      'TLSSH_ERR_CONFIG_BAD_VALUE',
      where,
      spec.name,
      'passwords are not accepted on the command line, where any local user can read them; put it in a config file of mode 600',
    );
  }
  // Relative paths given on the command line are relative to where the command runs.
  const value = parseValue(spec, lexed.value, where, { baseDir: process.cwd(), home: home || os.homedir() });
  return { spec, value, where };
}
