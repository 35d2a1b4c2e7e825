// Every configuration failure names where it came from and the keyword, so an administrator can
// jump straight to the line: "/etc/tlssh/tlsshd.conf:12: Port: ..." or "command line: -o ...".
import { TlsshError, type ErrorCode } from '../errors';

/** A line of a file (line 0: the file as a whole), or one command-line option as typed (`-o Port=x`, `-e xx`). */
export type Where =
  | { readonly file: string; readonly line: number }
  | { readonly commandLine: string };

export function whereText(where: Where): string {
  if (!('file' in where)) return `command line: ${where.commandLine}`;
  return where.line > 0 ? `${where.file}:${where.line}` : where.file;
}

/** The short form stored in `config.origin`. */
export function originText(where: Where): string {
  return 'file' in where ? `${where.file}:${where.line}` : 'command line';
}

type ConfigErrorCode = Extract<
  ErrorCode,
  | 'TLSSH_ERR_CONFIG_READ'
  | 'TLSSH_ERR_CONFIG_SYNTAX'
  | 'TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD'
  | 'TLSSH_ERR_CONFIG_BAD_VALUE'
  | 'TLSSH_ERR_CONFIG_INSECURE_MODE'
>;

export function configError(
  code: ConfigErrorCode,
  where: Where,
  keyword: string | undefined,
  message: string,
  cause?: unknown,
): TlsshError {
  const head = keyword === undefined ? whereText(where) : `${whereText(where)}: ${keyword}`;
  return new TlsshError(code, `${head}: ${message}`, { cause });
}

/**
 * Thrown by value parsers, which know what is wrong but not where; the caller adds the place and
 * the keyword and turns it into TLSSH_ERR_CONFIG_BAD_VALUE.
 */
export class ValueProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueProblem';
  }
}

/** Quote a value for a message; control characters are shown escaped so a message stays one line. */
export function shown(value: string): string {
  return JSON.stringify(value);
}
