// The environment a session starts with. It is built from nothing (the daemon's own
// environment never leaks into a user's shell) plus what AcceptEnv lets the client set.
//
// Choice: even when an AcceptEnv pattern matches (`AcceptEnv *` included), the client can never
// set a variable that makes the shell, the dynamic loader, the C library or an interpreter run
// code or load it from a path of the client's choosing (CODE_RUNNING_* below), nor override what
// the server itself sets (HOME, USER, LOGNAME, SHELL, PATH, MAIL, TERM, TLSSH_*). The shell runs
// as the user, so this is not a privilege boundary for an ordinary login; it is one for a forced
// command or a restricted shell set up by an administrator, which `SHELLOPTS=xtrace PS4='$(cmd)'`
// or `BASH_ENV=~/x` would otherwise sidestep before the first line of it runs. No legitimate
// client needs to send these. The list and its reasons are in tlsshd.conf(5) under AcceptEnv.

import type { Account } from './passwd-lookup';

// Debian's sshd's (built --with-default-path); PAM's pam_env may set another.
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/games';
const ROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const SERVER_SET = new Set(['HOME', 'USER', 'LOGNAME', 'SHELL', 'PATH', 'MAIL', 'TERM']);

/**
 * Names no AcceptEnv pattern can let through, each because some program a session may run
 * executes or loads code from it:
 * - shells: startup files (BASH_ENV, ENV, ZDOTDIR), options (SHELLOPTS, BASHOPTS: xtrace makes
 *   PS4 run), prompts expanded with command substitution (PS0-PS4, PROMPT_COMMAND), and so is
 *   bash's new-mail message (MAILPATH, with MAILCHECK saying when), word splitting and lookup
 *   that change what a script runs (IFS, CDPATH, GLOBIGNORE, EXECIGNORE), function autoload and
 *   loadable builtins (FPATH, BASH_LOADABLES_PATH), trace output (BASH_XTRACEFD), the history
 *   file (HISTFILE=~/.bashrc writes typed lines into a start-up file), and the message catalogue
 *   of a script's $"..." strings (TEXTDOMAIN, TEXTDOMAINDIR), whose translations bash expands;
 * - the C library: gconv modules (GCONV_PATH), locale and message catalogue files (LOCPATH,
 *   NLSPATH), tunables and malloc hooks (GLIBC_TUNABLES, MALLOC_*), the resolver's files and
 *   options (HOSTALIASES, RES_OPTIONS, LOCALDOMAIN, RESOLV_HOST_CONF);
 * - OpenSSL's config, engines and providers (OPENSSL_CONF, OPENSSL_ENGINES, OPENSSL_MODULES);
 * - interpreters' and editors' start-up code and module paths: Node, Python, Perl, Ruby, Java,
 *   Lua, Tcl, PHP, R, vim/ex, Emacs; zsh's prompts, ksh's start-up file;
 * - commands other programs run: pagers and less's options, key files and input filters,
 *   editors, askpass helpers, rsync's, CVS's and Subversion's remote shells, git's configs,
 *   hooks and helpers (every GIT_* but the author and committer identity), and every XDG_*
 *   (configuration and data directories: git's config, bash-completion's scripts, autostart);
 * - options and configuration files that name a program to run: man's and groff's (MANOPT,
 *   MANROFFOPT, MANPATH), tar's (TAR_OPTIONS: --use-compress-program), make's (MAKEFLAGS,
 *   MAKEFILES), Kerberos' (KRB5_CONFIG: plugin modules), psql's, Mercurial's, GnuPG's, screen's,
 *   curl's and wget's, Perl's debugger, and the package managers and runtimes that run hooks or
 *   load code from their settings (npm, pip, Bundler, Cargo, Go, .NET);
 * - terminal descriptions from a file of the client's choosing (TERMINFO, TERMCAP).
 */
const CODE_RUNNING_NAMES = new Set([
  'BASH_ENV', 'ENV', 'ZDOTDIR', 'SHELLOPTS', 'BASHOPTS', 'PS0', 'PS1', 'PS2', 'PS3', 'PS4', 'PROMPT_COMMAND',
  'MAILPATH', 'MAILCHECK', 'HISTFILE',
  'IFS', 'CDPATH', 'GLOBIGNORE', 'EXECIGNORE', 'FPATH', 'BASH_LOADABLES_PATH', 'BASH_XTRACEFD', 'INPUTRC',
  'KSH_ENV', 'FCEDIT', 'PROMPT', 'PROMPT2', 'PROMPT3', 'PROMPT4', 'RPROMPT', 'RPROMPT2', 'RPS1', 'RPS2',
  'TEXTDOMAIN', 'TEXTDOMAINDIR',
  'GCONV_PATH', 'LOCPATH', 'NLSPATH', 'GLIBC_TUNABLES', 'HOSTALIASES', 'RES_OPTIONS', 'LOCALDOMAIN', 'RESOLV_HOST_CONF',
  'OPENSSL_CONF', 'OPENSSL_ENGINES', 'OPENSSL_MODULES',
  'NODE_OPTIONS', 'NODE_PATH', 'NODE_REPL_EXTERNAL_MODULE',
  'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONINSPECT', 'PYTHONWARNINGS', 'PYTHONBREAKPOINT', 'PYTHONUSERBASE',
  'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB', 'RUBYOPT', 'RUBYLIB',
  'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH',
  'LUA_INIT', 'LUA_PATH', 'LUA_CPATH', 'TCLLIBPATH', 'IRBRC', 'GEM_HOME', 'GEM_PATH',
  'PHPRC', 'PHP_INI_SCAN_DIR', 'R_PROFILE', 'R_PROFILE_USER', 'R_ENVIRON', 'R_ENVIRON_USER', 'R_LIBS', 'R_LIBS_USER', 'R_LIBS_SITE',
  'VIMINIT', 'GVIMINIT', 'EXINIT', 'VIMRUNTIME', 'EMACSLOADPATH',
  'PAGER', 'MANPAGER', 'SYSTEMD_PAGER', 'EDITOR', 'VISUAL', 'SUDO_EDITOR', 'SYSTEMD_EDITOR', 'BROWSER', 'SSH_ASKPASS', 'SUDO_ASKPASS',
  'LESS', 'LESSOPEN', 'LESSCLOSE', 'LESSKEY', 'LESSKEYIN', 'LESSKEY_SYSTEM', 'LESSEDIT',
  'RSYNC_RSH', 'RSYNC_CONNECT_PROG', 'CVS_RSH', 'SVN_SSH', 'TERMINFO', 'TERMINFO_DIRS', 'TERMCAP',
  'SYSTEMD_LESS', 'MANOPT', 'MANROFFOPT', 'MANPATH', 'TAR_OPTIONS', 'MAKEFLAGS', 'GNUMAKEFLAGS', 'MFLAGS', 'MAKEFILES',
  'KRB5_CONFIG', 'KRB5_KDC_PROFILE', 'PSQLRC', 'HGRCPATH', 'HGEDITOR', 'HGMERGE', 'GNUPGHOME', 'SCREENRC', 'SYSSCREENRC',
  'CURL_HOME', 'WGETRC', 'PERLDB_OPTS', 'BUNDLE_GEMFILE', 'RUSTC_WRAPPER', 'RUSTC_WORKSPACE_WRAPPER', 'GOFLAGS', 'GOENV',
  'GOROOT', 'GOPATH', 'GOBIN', 'GOTOOLCHAIN', 'GOPROXY', 'GOCACHE', 'GOMODCACHE', 'GOWORK', 'GOEXPERIMENT', 'CONFIG_SITE',
  'SASL_PATH',
]);

/** git's identity variables only: the rest of GIT_* points git at configs, hooks and helpers it runs. */
const GIT_IDENTITY = new Set(['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL']);

/**
 * Prefixes of whole families: the loader (LD_), bash's exported functions, glibc malloc, and
 * more; SSH_* because forced commands and scripts trust what sshd (and tlsshd) set there
 * (SSH_ORIGINAL_COMMAND, SSH_CONNECTION, SSH_AUTH_SOCK...).
 */
const CODE_RUNNING_PREFIXES = [
  'LD_', 'BASH_FUNC_', 'MALLOC_', 'LUA_INIT_', 'LUA_PATH_', 'LUA_CPATH_', 'GIT_', 'XDG_', 'TLSSH_', 'SSH_',
  // Whole families of settings, among them ones that run or load code (npm's script-shell,
  // pip's config file, .NET's startup hooks and profilers, Cargo's build tools).
  'npm_config_', 'NPM_CONFIG_', 'PIP_', 'DOTNET_', 'CORECLR_', 'COMPlus_', 'CARGO_', 'RUSTUP_',
  // Whole interpreter families: each keeps adding variables that load code or cached code
  // (PYTHONPYCACHEPREFIX makes Python run .pyc files from a directory of the client's choosing).
  'PYTHON', 'PERL', 'RUBY', 'NODE_', 'JAVA_', 'JDK_', 'LUA_', 'R_', 'PHP', 'GEM_', 'BUNDLE_',
  // Toolkits' module and plugin paths.
  'GIO_', 'GTK_', 'QT_', 'GST_', 'LIBGL_',
];

/** True for names that no AcceptEnv pattern may let a client set. */
export function isForbiddenVariable(name: string): boolean {
  if (GIT_IDENTITY.has(name)) return false;
  return SERVER_SET.has(name) || CODE_RUNNING_NAMES.has(name) || CODE_RUNNING_PREFIXES.some((p) => name.startsWith(p));
}

/**
 * "C", "POSIX", "en_US", "de_DE.UTF-8", "sr_RS@latin": a locale name, never a path (glibc opens
 * a LANG or LC_* value with a slash in it as a file) nor anything longer than a name.
 */
const LOCALE_NAME = /^[A-Za-z]{1,16}(?:_[A-Za-z0-9]{1,16})?(?:\.[A-Za-z0-9_-]{1,32})?(?:@[A-Za-z0-9_-]{1,32})?$/;

function isLocaleVariable(name: string): boolean {
  return name === 'LANG' || name === 'LANGUAGE' || name.startsWith('LC_');
}

/** Values the session may receive: locale variables only when they look like locale names. */
export function isAcceptedValue(name: string, value: string): boolean {
  if (value.includes('\0')) return false;
  if (!isLocaleVariable(name)) return true;
  // LANGUAGE is a colon-separated preference list of locale names.
  const parts = name === 'LANGUAGE' ? value.split(':') : [value];
  return parts.every((p) => LOCALE_NAME.test(p));
}

/** Shell-style glob with `*` and `?`, anchored, case-sensitive, like sshd's match_pattern. */
export function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('')}$`, 's');
  return re.test(s);
}

/**
 * Under a forced command, a pattern with `*` or `?` lets through locale variables only; any other
 * variable must be named in full. The list above cannot be complete (make runs $CC), and a
 * forced command is exactly where a variable nobody thought of would sidestep the administrator.
 */
export function isAcceptedVariable(name: string, acceptEnv: readonly string[], forced = false): boolean {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return false;
  if (isForbiddenVariable(name)) return false;
  const wildcardsApply = !forced || isLocaleVariable(name);
  return acceptEnv.some((p) => (/[*?]/.test(p) ? wildcardsApply && globMatch(p, name) : p === name));
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
  /**
   * Under ForceCommand, the command the client asked for ("" for a login shell); undefined when
   * nothing is forced. Set, it also narrows AcceptEnv's patterns (isAcceptedVariable).
   */
  originalCommand?: string;
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
    if (isAcceptedVariable(name, i.acceptEnv, i.originalCommand !== undefined) && isAcceptedValue(name, value)) env[name] = value;
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
  // sshd sets it only when there was a command; nobody else may (SSH_* is never accepted).
  delete env['SSH_ORIGINAL_COMMAND'];
  if (i.originalCommand) env['SSH_ORIGINAL_COMMAND'] = i.originalCommand;
  // Set only by the PTY spawn, which alone knows the terminal's name; never from the client.
  delete env['SSH_TTY'];
  if (i.tty !== undefined) env['SSH_TTY'] = i.tty;
  if (i.term !== undefined) env['TERM'] = i.term === '' ? 'dumb' : i.term;
  return env;
}
