// Folds statements into values. A later line replaces an earlier one, except for list keywords,
// whose lines accumulate; the first `-o` of a list keyword replaces what the files said, so
// `-o Listen=127.0.0.1` means "only there". SendEnv is ssh's: every line, -o included, adds to
// its default (KeywordSpec.addsToDefault).
import { ValueProblem, configError, originText, type Where } from './config-error';
import { globToRegExp } from './glob-pattern';
import type { KeywordSpec } from './schema';

export class ConfigFold {
  readonly values = new Map<string, unknown>();
  /** Where each field's final value was set. */
  readonly where = new Map<string, Where>();
  private readonly replacedByCommandLine = new Set<string>();
  /** OpenSSH keywords accepted but ignored, each "where: Keyword value ignored: why", for -v. */
  readonly notes: string[] = [];

  originOf(field: string): string {
    const w = this.where.get(field);
    return w === undefined ? 'default' : originText(w);
  }

  apply(spec: KeywordSpec, value: unknown, where: Where): void {
    if (spec.ignored !== undefined) {
      this.notes.push(`${originText(where)}: ${spec.name} ${String(value)} ignored: ${spec.ignored}`);
      return;
    }
    const field = spec.field;
    this.where.set(field, where);
    if (!spec.list) {
      this.values.set(field, value);
      return;
    }
    let current = (this.values.get(field) as unknown[] | undefined) ?? [...(spec.addsToDefault ?? [])];
    if (!('file' in where) && !this.replacedByCommandLine.has(field) && spec.addsToDefault === undefined) {
      this.replacedByCommandLine.add(field);
      current = [];
    }
    const items = Array.isArray(value) ? value : [value];
    if (spec.checkListItem !== undefined) {
      try {
        const seen = [...current];
        for (const item of items) {
          spec.checkListItem(seen, item);
          seen.push(item);
        }
      } catch (e) {
        if (e instanceof ValueProblem) throw configError('TLSSH_ERR_CONFIG_BAD_VALUE', where, spec.name, e.message, e);
        throw e;
      }
    }
    this.values.set(field, mergeList(current, items));
  }
}

function mergeList(current: readonly unknown[], items: readonly unknown[]): unknown[] {
  let out = [...current];
  for (const item of items) {
    if (typeof item === 'string' && item.startsWith('-')) {
      const re = globToRegExp(item.slice(1), { ignoreCase: false, pathSegment: false });
      out = out.filter((o) => typeof o !== 'string' || !re.test(o));
    } else if (!out.some((o) => sameItem(o, item))) {
      out.push(item);
    }
  }
  return out;
}

function sameItem(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
