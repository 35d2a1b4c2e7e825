// Values of ssh's connection-sharing keywords, read the way ssh_config(5) reads them. The tokens
// of ControlPath are checked here, where the file and line are known, and expanded later, once
// the host, port and users are (percent-tokens.ts).
import { ValueProblem, shown } from './config-error';
import { tokenPath } from './percent-tokens';
import { duration, type ValueContext } from './value-parsers';

/** Seconds a Node timer can hold. */
const MAX_SECONDS = 2147483;

/** "none", or a path with `~/` expanded and only known %-tokens in it. */
export function controlPath(text: string, ctx: ValueContext): string {
  if (text === '') throw new ValueProblem('a path or "none" is required');
  if (text.toLowerCase() === 'none') return 'none';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new ValueProblem(`${shown(text)} contains a control character`);
  return tokenPath(text, ctx);
}

/** "no", "yes" (forever; ssh reads 0 the same way), or seconds, in ssh's TIME format (60s, 10m, 1h). */
export function controlPersist(text: string, ctx: ValueContext): 'no' | 'yes' | number {
  const t = text.toLowerCase();
  if (t === 'no' || t === 'false') return 'no';
  if (t === 'yes' || t === 'true') return 'yes';
  try {
    const seconds = duration(MAX_SECONDS)(text, ctx);
    return seconds === 0 ? 'yes' : seconds;
  } catch {
    throw new ValueProblem(`${shown(text)} is not yes, no or a time (60, 30s, 10m, 1h)`);
  }
}
