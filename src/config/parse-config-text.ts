// Turns the text of one config file into typed statements with their line numbers. No I/O here:
// `include` lines come out as statements for the file reader to follow.
import * as os from 'node:os';
import * as path from 'node:path';
import { ValueProblem, configError, type Where } from './config-error';
import { SyntaxProblem, lexLine } from './line-lexer';

/** Keywords whose value is a command line (sshd reads it to the end of the line). */
const COMMAND_KEYWORDS = new Set(['forcecommand', 'subsystem']);

/**
 * sshd takes a command to the end of its line; here a `;` or `#` starts a comment, and a command
 * silently cut short (`ForceCommand backup; logger done`) runs something else: refused.
 */
export function refuseCutCommand(lexed: { keyword: string; value: string; cut?: string }, where: Where): void {
  if (lexed.cut === undefined || !COMMAND_KEYWORDS.has(lexed.keyword.toLowerCase())) return;
  throw configError('TLSSH_ERR_CONFIG_BAD_VALUE', where, lexed.keyword,
    `${JSON.stringify(lexed.cut[0])} starts a comment here, which would cut the command to ${JSON.stringify(lexed.value)}: write \\${lexed.cut[0]} for the character, quote the whole value, or put the comment on a line of its own`);
}
import { globToRegExp } from './glob-pattern';
import { otherSchema, type ConfigSchema, type KeywordSpec } from './schema';
import { expandPath, type ValueContext } from './value-parsers';

export interface FileWhere {
  readonly file: string;
  readonly line: number;
}

/** A `[pattern ...]` header (or `Host pattern ...` line) and the lines under it. */
export interface HostSection {
  readonly patterns: readonly string[];
  readonly where: FileWhere;
  /** Opened by an ssh-style `Host` line rather than a `[pattern]` header. */
  readonly sshStyle: boolean;
  /**
   * The section of the include line whose file this section is in, if any: as in ssh, a section
   * inside a file included from a section applies only where that section does too.
   */
  readonly within: HostSection | null;
}

export type ConfigStatement =
  | {
      readonly kind: 'set';
      readonly spec: KeywordSpec;
      readonly value: unknown;
      readonly where: FileWhere;
      /** null: a global line, outside any host section. */
      readonly section: HostSection | null;
    }
  | {
      readonly kind: 'include';
      /** `-include`: a missing file is not an error. */
      readonly optional: boolean;
      /** Absolute, `~/` expanded; may hold `*` and `?` wildcards. */
      readonly path: string;
      readonly where: FileWhere;
      readonly section: HostSection | null;
    };

export interface ParseOptions {
  /** For `~/`; defaults to os.homedir(). */
  readonly home?: string;
  /** The section an included file starts in: that of its include line. */
  readonly section?: HostSection | null;
  /**
   * ssh's IgnoreUnknown patterns seen so far in this file, shared with the files it includes: an
   * unknown keyword they match is noted at -v and skipped, as ssh skips it, so that one config
   * serves several ssh versions and platforms (UseKeychain is macOS's). Keywords tlssh refuses
   * on purpose (Match, forwardings) are still refused: ignoring them would mislead.
   */
  readonly ignoreUnknown?: string[];
}

export function parseConfigText(
  text: string,
  file: string,
  schema: ConfigSchema,
  options: ParseOptions = {},
): ConfigStatement[] {
  const ctx: ValueContext = { baseDir: path.dirname(path.resolve(file)), home: options.home ?? os.homedir() };
  const out: ConfigStatement[] = [];
  let section = options.section ?? null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);

  lines.forEach((raw, i) => {
    const where: FileWhere = { file, line: i + 1 };
    let lexed;
    try {
      lexed = lexLine(raw);
    } catch (e) {
      if (e instanceof SyntaxProblem) throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, undefined, e.message, e);
      throw e;
    }
    if (lexed.kind === 'blank') return;
    if (lexed.kind === 'section') {
      section = hostSection(lexed.text, where, schema, undefined, options.section ?? null);
      return;
    }
    const lower = lexed.keyword.toLowerCase();
    refuseCutCommand(lexed, where);
    if (lower === 'include' || lower === '-include') {
      out.push({ kind: 'include', optional: lower === '-include', path: includePath(lexed.value, where, lexed.keyword, ctx), where, section });
      return;
    }
    if (lower === 'host' && schema.hostSections) {
      section = hostSection(lexed.value, where, schema, 'Host', options.section ?? null);
      return;
    }
    if (lower === 'ignoreunknown' && schema.hostSections && options.ignoreUnknown !== undefined) {
      options.ignoreUnknown.push(...ignorePatterns(lexed.value, where, lexed.keyword));
      return;
    }
    // Known keywords, the rule, never reach the patterns.
    if (!schema.keywords.has(lower) && schema.refused?.[lower] === undefined && ignoredUnknown(lower, options.ignoreUnknown)) {
      out.push({ kind: 'set', spec: ignoredSpec(lexed.keyword), value: lexed.value, where, section });
      return;
    }
    const spec = lookupKeyword(lexed.keyword, where, schema);
    out.push({ kind: 'set', spec, value: parseValue(spec, lexed.value, where, ctx), where, section });
  });
  return out;
}

function ignoredUnknown(lower: string, patterns: readonly string[] | undefined): boolean {
  return patterns?.some((p) => globToRegExp(p, { ignoreCase: true, pathSegment: false }).test(lower)) === true;
}

function ignorePatterns(text: string, where: FileWhere, keyword: string): string[] {
  const patterns = text.split(/[\s,]+/).filter((p) => p !== '');
  if (patterns.length === 0) throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, keyword, 'needs at least one keyword pattern');
  for (const p of patterns) {
    if (!/^[A-Za-z0-9*?]+$/.test(p)) throw configError('TLSSH_ERR_CONFIG_BAD_VALUE', where, keyword, `${JSON.stringify(p)} is not a keyword pattern (letters, digits, * and ?)`);
  }
  return patterns;
}

/** An unknown keyword that IgnoreUnknown lists: folded as an ignored one, noted at -v. */
function ignoredSpec(keyword: string): KeywordSpec {
  return { name: keyword, field: keyword, list: false, secret: false, parse: (t: string) => t, ignored: 'unknown to tlssh, and listed in IgnoreUnknown' };
}

export function lookupKeyword(keyword: string, where: Where, schema: ConfigSchema): KeywordSpec {
  const lower = keyword.toLowerCase();
  const spec = schema.keywords.get(lower);
  if (spec !== undefined) return spec;
  const refused = schema.refused?.[lower];
  if (refused !== undefined) throw configError('TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', where, keyword, `OpenSSH keyword not supported: ${refused}`);
  const retired = schema.retired[lower];
  const other = otherSchema(schema).keywords.get(lower);
  const why =
    retired !== undefined
      ? `no longer supported: ${retired}`
      : other !== undefined
        ? `unknown keyword (${other.name} belongs in ${otherSchema(schema).fileName}, not ${schema.fileName})`
        : lower === 'host'
          ? `unknown keyword (host sections belong in ${otherSchema(schema).fileName})`
          : 'unknown keyword';
  throw configError('TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD', where, keyword, why);
}

export function parseValue(spec: KeywordSpec, text: string, where: Where, ctx: ValueContext): unknown {
  try {
    return spec.parse(text, ctx);
  } catch (e) {
    if (e instanceof ValueProblem) throw configError('TLSSH_ERR_CONFIG_BAD_VALUE', where, spec.name, e.message, e);
    throw e;
  }
}

function includePath(value: string, where: FileWhere, keyword: string, ctx: ValueContext): string {
  if (value === '') throw configError('TLSSH_ERR_CONFIG_BAD_VALUE', where, keyword, 'a file name is required');
  try {
    return expandPath(value, ctx);
  } catch (e) {
    if (e instanceof ValueProblem) throw configError('TLSSH_ERR_CONFIG_BAD_VALUE', where, keyword, e.message, e);
    throw e;
  }
}

function hostSection(text: string, where: FileWhere, schema: ConfigSchema, keyword: string | undefined, within: HostSection | null): HostSection {
  if (!schema.hostSections) {
    throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, keyword, `${schema.fileName} has no [host] sections; they belong in tlssh.conf`);
  }
  const patterns = text.split(/[\s,]+/).filter((p) => p !== '');
  if (patterns.length === 0) throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, keyword, 'a host section needs at least one host pattern');
  for (const p of patterns) {
    if (!/^!?[^!\s,[\]]+$/.test(p)) {
      throw configError('TLSSH_ERR_CONFIG_SYNTAX', where, keyword, `${JSON.stringify(p)} is not a host pattern (like *.example.com or !bad.example.com)`);
    }
  }
  return { patterns, where, sshStyle: keyword !== undefined, within };
}
