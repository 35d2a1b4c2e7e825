// ssh-style wildcards: `*` is any run of characters, `?` exactly one; nothing else is special.
export function hasWildcard(s: string): boolean {
  return /[*?]/.test(s);
}

export function globToRegExp(pattern: string, flags: { ignoreCase: boolean; pathSegment: boolean }): RegExp {
  const any = flags.pathSegment ? '[^/]' : '.';
  let re = '';
  for (const c of pattern) {
    if (c === '*') re += `${any}*`;
    else if (c === '?') re += any;
    else re += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, flags.ignoreCase ? 'is' : 's');
}
