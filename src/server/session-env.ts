// The environment a session starts with. It is built from nothing (the daemon's own
// environment never leaks into a user's shell) plus what AcceptEnv lets the client set.
//
// Choice: even when an AcceptEnv pattern matches, the client can never set the dynamic
// loader's variables (LD_*), nor override what the server itself sets (HOME, USER, LOGNAME,
// SHELL, PATH, MAIL, TERM, TLSSH_*). LD_* would not cross a privilege boundary here (the shell
// runs as the user), but a forced command or restricted shell set up by an administrator
// should not be that easy to sidestep, and no legitimate client needs to send them.

import type { Account } from './passwd-lookup';

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const SERVER_SET = new Set(['HOME', 'USER', 'LOGNAME', 'SHELL', 'PATH', 'MAIL', 'TERM']);

/** Shell-style glob with `*` and `?`, anchored, case-sensitive, like sshd's match_pattern. */
export function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('')}$`, 's');
  return re.test(s);
}

export function isAcceptedVariable(name: string, acceptEnv: readonly string[]): boolean {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return false;
  if (SERVER_SET.has(name) || name.startsWith('LD_') || name.startsWith('TLSSH_')) return false;
  return acceptEnv.some((p) => globMatch(p, name));
}

export interface EnvInput {
  account: Account;
  shell: string;
  /** TERM from the request; pty sessions only. */
  term: string | undefined;
  requested: ReadonlyArray<readonly [string, string]>;
  acceptEnv: readonly string[];
  /** "client_ip client_port server_ip server_port", like SSH_CONNECTION. */
  connection: string;
  tty?: string;
  /** "NAME=value" strings from the PAM session (pam_getenvlist); trusted: the administrator's. */
  pamEnv?: readonly string[];
}

/** PAM variables sshd keeps out of the session (PAM-internal ones; SSH_CONNECTION is the server's). */
const PAM_DENIED = [/^SSH_AUTH_INFO/, /^SSH_CONNECTION/, /^TLSSH_/];

/**
 * SSH_CLIENT ("client_ip client_port server_port") and SSH_CONNECTION from our connection string,
 * so profile scripts and prompts that detect a remote login by them do.
 */
export function sshConnectionVars(connection: string): Record<string, string> {
  const [cip, cport, sip, sport] = connection.split(' ');
  if (!cip || !cport || !sip || !sport) return {};
  return { SSH_CLIENT: `${cip} ${cport} ${sport}`, SSH_CONNECTION: connection };
}

export function buildSessionEnv(i: EnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of i.requested) {
    if (value.includes('\0')) continue;
    if (isAcceptedVariable(name, i.acceptEnv)) env[name] = value;
  }
  Object.assign(env, {
    HOME: i.account.home,
    USER: i.account.name,
    LOGNAME: i.account.name,
    SHELL: i.shell,
    PATH: i.account.uid === 0 ? ROOT_PATH : DEFAULT_PATH,
    MAIL: `/var/mail/${i.account.name}`,
  });
  // sshd's order: the client's accepted variables, then the server's basics, then PAM's (which
  // may override those, e.g. PATH from /etc/environment), then the connection's own variables.
  for (const entry of i.pamEnv ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (PAM_DENIED.some((re) => re.test(name))) continue;
    env[name] = entry.slice(eq + 1);
  }
  Object.assign(env, sshConnectionVars(i.connection), { TLSSH_CONNECTION: i.connection });
  // Set only by the PTY spawn, which alone knows the terminal's name; never from the client.
  delete env['SSH_TTY'];
  if (i.tty !== undefined) env['SSH_TTY'] = i.tty;
  if (i.term !== undefined) env['TERM'] = i.term === '' ? 'dumb' : i.term;
  return env;
}
