// Splits one config line into a keyword and its value, accepting both the original tlssh form
// (`Keyword value`) and the ini form (`Keyword = value`). The ini package decodes values (quotes,
// JSON escapes, `\;` and `\#`, trailing comments) so both forms mean the same thing; this front end
// exists only because ini.decode() loses line numbers and the original syntax.
import * as ini from 'ini';

export type LexedLine =
  | { readonly kind: 'blank' }
  | { readonly kind: 'section'; readonly text: string }
  | {
    readonly kind: 'keyword'; readonly keyword: string; readonly value: string;
    /** An unquoted value that a `#` or `;` cut short: what was cut, from that character on. */
    readonly cut?: string;
  };

/** What is wrong with a line's shape; the caller adds file:line. */
export class SyntaxProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyntaxProblem';
  }
}

const KEYWORD = /^-?[A-Za-z][A-Za-z0-9]*$/;

export function lexLine(raw: string): LexedLine {
  const line = raw.trim();
  if (line === '' || line.startsWith('#') || line.startsWith(';')) return { kind: 'blank' };
  if (line.startsWith('[')) return { kind: 'section', text: lexSectionHeader(line) };

  const m = /^([^\s=]+)\s*(=?)\s*(.*)$/s.exec(line);
  if (m === null) throw new SyntaxProblem(`cannot parse line ${JSON.stringify(line)}`);
  const keyword = m[1] ?? '';
  if (!KEYWORD.test(keyword)) {
    throw new SyntaxProblem(
      keyword.startsWith('=') || keyword === ''
        ? 'a keyword is missing before "="'
        : `${JSON.stringify(keyword)} is not a keyword (letters and digits, e.g. "Port 232" or "Port = 232")`,
    );
  }
  const text = m[3] ?? '';
  const cut = cutComment(text.trim());
  return { kind: 'keyword', keyword, value: decodeValue(text), ...(cut !== undefined ? { cut } : {}) };
}

/** In an unquoted value, the comment the first unescaped `#` or `;` starts, or undefined. */
function cutComment(t: string): string | undefined {
  if (t === '' || t[0] === '"' || t[0] === "'") return undefined;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '\\') i++;
    else if (t[i] === '#' || t[i] === ';') return t.slice(i);
  }
  return undefined;
}

function lexSectionHeader(line: string): string {
  const close = line.indexOf(']');
  if (close < 0) throw new SyntaxProblem('section header has no closing "]"');
  const rest = line.slice(close + 1).trim();
  if (rest !== '' && !rest.startsWith('#') && !rest.startsWith(';')) {
    throw new SyntaxProblem(`unexpected text after the section header: ${JSON.stringify(rest)}`);
  }
  return ini.unsafe(line.slice(1, close));
}

/**
 * A value as written after the keyword: unquoted text loses a trailing `#`/`;` comment and keeps
 * `\#`, `\;` as literal characters; "double quotes" take JSON escapes; 'single quotes' are literal.
 */
export function decodeValue(text: string): string {
  const t = text.trim();
  if (t === '') return '';
  const q = t[0];
  if (q === '"' || q === "'") {
    const end = closingQuote(t, q);
    if (end < 0) throw new SyntaxProblem('quoted value has no closing quote');
    const rest = t.slice(end + 1).trim();
    if (rest !== '' && !rest.startsWith('#') && !rest.startsWith(';')) {
      throw new SyntaxProblem(`unexpected text after the closing quote: ${JSON.stringify(rest)}`);
    }
    const quoted = t.slice(0, end + 1);
    // ini.unsafe JSON-parses single-quoted contents too, which would turn '123' into a number or
    // eat inner double quotes; single quotes mean "exactly this text" here.
    if (q === "'") return quoted.slice(1, -1);
    try {
      JSON.parse(quoted);
    } catch {
      throw new SyntaxProblem('bad escape sequence inside the double-quoted value');
    }
    return ini.unsafe(quoted);
  }
  return ini.unsafe(t);
}

function closingQuote(t: string, q: string): number {
  for (let i = 1; i < t.length; i++) {
    const c = t[i];
    if (q === '"' && c === '\\') {
      i++;
      continue;
    }
    if (c === q) return i;
  }
  return -1;
}
