// Which `[pattern ...]` sections apply to a host, with ssh_config's rules: the section applies when
// some plain pattern matches and no `!pattern` does; a section of negations alone matches nothing.
import { globToRegExp } from './glob-pattern';

export function hostMatches(host: string, patterns: readonly string[]): boolean {
  let positive = false;
  for (const p of patterns) {
    const negated = p.startsWith('!');
    const re = globToRegExp(negated ? p.slice(1) : p, { ignoreCase: true, pathSegment: false });
    if (re.test(host)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}
