// SendEnv: which local environment variables to offer the server. The server keeps only what
// its AcceptEnv allows; offering little in the first place keeps secrets in the environment
// (tokens, agent sockets) from travelling by accident.

/** True when `name` matches the ssh-style pattern, where `*` is any run and `?` any one char. */
export function matchPattern(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let starP = -1;
  let starN = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      starP = p++;
      starN = n;
    } else if (starP >= 0) {
      p = starP + 1;
      n = ++starN;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * The variables to send, sorted by name so the request is the same on every run. TERM is never
 * sent this way: it travels in its own field of the session request.
 */
export function selectEnv(patterns: readonly string[], env: NodeJS.ProcessEnv): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of Object.keys(env).sort()) {
    const value = env[name];
    if (value === undefined || name === 'TERM') continue;
    if (patterns.some((pattern) => matchPattern(pattern, name))) out.push([name, value]);
  }
  return out;
}
