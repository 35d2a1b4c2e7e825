import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSessionEnv, globMatch, isAcceptedValue, isAcceptedVariable } from '../../src/server/session-env';

const account = { name: 'alice', uid: 1000, gid: 1000, gecos: '', home: '/home/alice', shell: '/bin/zsh' };

test('globs are anchored and understand * and ?', () => {
  assert.ok(globMatch('LC_*', 'LC_ALL'));
  assert.ok(globMatch('LAN?', 'LANG'));
  assert.ok(!globMatch('LANG', 'XLANG'));
  assert.ok(!globMatch('L.NG', 'LANG'));
});

test('AcceptEnv lets matching names through, never LD_* nor what the server sets', () => {
  assert.ok(isAcceptedVariable('LANG', ['LANG']));
  assert.ok(!isAcceptedVariable('EDITOR', ['LANG']));
  assert.ok(!isAcceptedVariable('LD_PRELOAD', ['*']));
  assert.ok(!isAcceptedVariable('PATH', ['*']));
  assert.ok(!isAcceptedVariable('HOME', ['*']));
  assert.ok(!isAcceptedVariable('BAD-NAME', ['*']));
});

test('the environment is built from scratch', () => {
  const env = buildSessionEnv({
    account, shell: '/bin/zsh', term: 'xterm', acceptEnv: ['LANG', 'LC_*'], connection: '1 2 3 4',
    requested: [['LANG', 'C.UTF-8'], ['LC_TIME', 'C'], ['EVIL', 'x'], ['PATH', '/tmp'], ['LD_PRELOAD', '/x.so']],
  });
  assert.deepEqual(env, {
    LANG: 'C.UTF-8', LC_TIME: 'C', HOME: '/home/alice', USER: 'alice', LOGNAME: 'alice', SHELL: '/bin/zsh',
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/games', MAIL: '/var/mail/alice', TLSSH_CONNECTION: '1 2 3 4', TERM: 'xterm',
    SSH_CONNECTION: '1 2 3 4', SSH_CLIENT: '1 2 4',
  });
});

test('SSH_CONNECTION and SSH_CLIENT as sshd sets them; SSH_TTY only from the PTY spawn', () => {
  const base = { account, shell: '/bin/sh', term: undefined, acceptEnv: ['*'], connection: '192.0.2.7 50022 198.51.100.1 232' };
  const env = buildSessionEnv({ ...base, requested: [['SSH_TTY', '/dev/pts/99'], ['SSH_CLIENT', 'x'], ['SSH_CONNECTION', 'y']] });
  assert.equal(env['SSH_CONNECTION'], '192.0.2.7 50022 198.51.100.1 232');
  assert.equal(env['SSH_CLIENT'], '192.0.2.7 50022 232');
  assert.equal(env['SSH_TTY'], undefined, 'a client cannot claim a terminal');
  assert.equal(buildSessionEnv({ ...base, requested: [], tty: '/dev/pts/3' })['SSH_TTY'], '/dev/pts/3');
});

test("PAM's environment overrides the basics, not the connection's variables (sshd's order)", () => {
  const env = buildSessionEnv({
    account, shell: '/bin/sh', term: 'vt100', acceptEnv: ['LANG'], connection: '1 2 3 4',
    requested: [['LANG', 'C']],
    pamEnv: ['PATH=/pam/bin', 'LANG=de_DE.UTF-8', 'FROM_PAM=a=b', 'SSH_CONNECTION=forged', 'SSH_AUTH_INFO_0=x', 'TLSSH_CONNECTION=z', 'TERM=x', 'junk', '=v'],
  });
  assert.equal(env['PATH'], '/pam/bin');
  assert.equal(env['LANG'], 'de_DE.UTF-8');
  assert.equal(env['FROM_PAM'], 'a=b');
  assert.equal(env['SSH_CONNECTION'], '1 2 3 4');
  assert.equal(env['SSH_AUTH_INFO_0'], undefined);
  assert.equal(env['TLSSH_CONNECTION'], '1 2 3 4');
  assert.equal(env['TERM'], 'vt100');
  assert.equal(env['junk'], undefined);
});

test('SSH_ORIGINAL_COMMAND: the client\'s command under ForceCommand, from nowhere else, PAM included', () => {
  const base = { account, shell: '/bin/sh', term: undefined, acceptEnv: ['*'], connection: '1 2 3 4', requested: [], pamEnv: ['SSH_ORIGINAL_COMMAND=from pam'] };
  assert.equal(buildSessionEnv({ ...base, originalCommand: 'rsync --server .' })['SSH_ORIGINAL_COMMAND'], 'rsync --server .');
  assert.equal(buildSessionEnv({ ...base, originalCommand: '' })['SSH_ORIGINAL_COMMAND'], undefined, 'a login shell has none');
  assert.equal(buildSessionEnv(base)['SSH_ORIGINAL_COMMAND'], undefined, 'no ForceCommand, none');
});

test('root gets the sbin directories; no TERM without a pty', () => {
  const env = buildSessionEnv({ account: { ...account, uid: 0, name: 'root' }, shell: '/bin/sh', term: undefined, acceptEnv: [], connection: '', requested: [] });
  assert.match(env['PATH'] ?? '', /\/usr\/sbin/);
  assert.equal(env['TERM'], undefined);
});

test('even AcceptEnv * never lets through a variable that makes a shell, the loader or an interpreter run code', () => {
  const codeRunning = [
    'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'PS4', 'PS1', 'PS0',
    'PROMPT_COMMAND', 'IFS', 'GCONV_PATH', 'NODE_OPTIONS', 'PYTHONSTARTUP', 'PERL5OPT', 'BASH_FUNC_ls', 'PYTHONPATH',
    'PERL5LIB', 'RUBYOPT', 'JAVA_TOOL_OPTIONS', 'LOCPATH', 'MALLOC_CHECK_', 'GLIBC_TUNABLES', 'HOSTALIASES',
    'RES_OPTIONS', 'NLSPATH', 'ZDOTDIR', 'OPENSSL_CONF', 'LESSOPEN', 'PAGER', 'GIT_SSH_COMMAND', 'GIT_CONFIG_COUNT',
    'TLSSH_CONNECTION', 'CDPATH', 'FPATH', 'LUA_INIT_5_4', 'SSH_ORIGINAL_COMMAND', 'SSH_CONNECTION', 'SSH_AUTH_SOCK',
    // Found by a review: each makes some program run code of the client's choosing.
    'VIMINIT', 'EXINIT', 'PHPRC', 'PHP_INI_SCAN_DIR', 'XDG_CONFIG_HOME', 'XDG_DATA_DIRS', 'R_PROFILE_USER', 'EMACSLOADPATH',
    'GEM_HOME', 'SUDO_EDITOR', 'SYSTEMD_EDITOR', 'FCEDIT', 'LESS', 'LESSKEY', 'TERMINFO', 'TERMINFO_DIRS', 'KSH_ENV',
    'RSYNC_RSH', 'RSYNC_CONNECT_PROG', 'PROMPT', 'RPROMPT',
    // Found by a later review: bash's mail message is expanded like a prompt, HISTFILE can point
    // at a start-up file, and these programs read a command or a plugin from their settings.
    'MAILPATH', 'MAILCHECK', 'HISTFILE', 'EXECIGNORE', 'MANOPT', 'MANROFFOPT', 'TAR_OPTIONS', 'MAKEFLAGS', 'MAKEFILES',
    'KRB5_CONFIG', 'PSQLRC', 'HGRCPATH', 'GNUPGHOME', 'SCREENRC', 'CURL_HOME', 'WGETRC', 'PERLDB_OPTS', 'SYSTEMD_LESS',
    'npm_config_script_shell', 'NPM_CONFIG_SCRIPT_SHELL', 'PIP_CONFIG_FILE', 'DOTNET_STARTUP_HOOKS', 'CORECLR_PROFILER_PATH',
    'COMPlus_EnableDiagnostics', 'CARGO_HOME', 'RUSTC_WRAPPER', 'GOFLAGS', 'BUNDLE_GEMFILE',
    // The rest of tlsshd.conf(5)'s list, each named, so that dropping one from the code fails here
    // (a mutation review found nine that could go unnoticed).
    'PS2', 'PS3', 'GLOBIGNORE', 'BASH_LOADABLES_PATH', 'BASH_XTRACEFD', 'INPUTRC', 'PROMPT2', 'PROMPT3', 'PROMPT4',
    'RPROMPT2', 'RPS1', 'RPS2', 'LOCALDOMAIN', 'RESOLV_HOST_CONF', 'OPENSSL_ENGINES', 'OPENSSL_MODULES', 'NODE_PATH',
    'NODE_REPL_EXTERNAL_MODULE', 'PYTHONHOME', 'PYTHONINSPECT', 'PYTHONWARNINGS', 'PYTHONBREAKPOINT', 'PYTHONUSERBASE',
    'PERLLIB', 'PERL5DB', 'RUBYLIB', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH', 'LUA_INIT', 'LUA_PATH', 'LUA_CPATH',
    'TCLLIBPATH', 'IRBRC', 'GEM_PATH', 'R_PROFILE', 'R_ENVIRON', 'R_ENVIRON_USER', 'R_LIBS', 'R_LIBS_USER', 'R_LIBS_SITE',
    'GVIMINIT', 'VIMRUNTIME', 'MANPAGER', 'SYSTEMD_PAGER', 'EDITOR', 'VISUAL', 'BROWSER', 'SSH_ASKPASS', 'SUDO_ASKPASS',
    'LESSCLOSE', 'LESSKEYIN', 'LESSKEY_SYSTEM', 'LESSEDIT', 'CVS_RSH', 'SVN_SSH', 'TERMCAP', 'MANPATH', 'GNUMAKEFLAGS',
    'MFLAGS', 'KRB5_KDC_PROFILE', 'HGEDITOR', 'HGMERGE', 'SYSSCREENRC', 'RUSTC_WORKSPACE_WRAPPER', 'GOENV',
    // Found by an attacker's review: bash expands the translation of a script's $"..." strings.
    'TEXTDOMAIN', 'TEXTDOMAINDIR',
    // Found by a later attacker's review: Python runs cached bytecode from PYTHONPYCACHEPREFIX
    // (a ForceCommand escape); the other families load code or toolchains the same way.
    'PYTHONPYCACHEPREFIX', 'PYTHONPLATLIBDIR', 'PERL_MB_OPT', 'RUBY_GC_HEAP_INIT_SLOTS', 'NODE_EXTRA_CA_CERTS',
    'JAVA_HOME', 'JDK_HOME', 'LUA_INIT_5_3', 'R_HOME', 'PHP_INI', 'GEM_SPEC_CACHE', 'BUNDLE_PATH', 'GOROOT', 'GOPATH',
    'GOBIN', 'GOTOOLCHAIN', 'GOPROXY', 'GOCACHE', 'GOMODCACHE', 'GOWORK', 'GOEXPERIMENT', 'CONFIG_SITE', 'SASL_PATH',
    'RUSTUP_TOOLCHAIN', 'RUSTUP_HOME', 'GIO_MODULE_DIR', 'GTK_MODULES', 'QT_PLUGIN_PATH', 'GST_PLUGIN_PATH', 'LIBGL_DRIVERS_PATH',
  ];
  for (const name of codeRunning) {
    assert.ok(!isAcceptedVariable(name, ['*']), `${name} must never pass`);
    assert.ok(!isAcceptedVariable(name, [name]), `${name} must never pass, even named`);
  }
  for (const name of ['LANG', 'LC_ALL', 'TZ', 'COLORTERM', 'GIT_AUTHOR_NAME', 'MY_VAR', 'TMPDIR']) {
    assert.ok(isAcceptedVariable(name, ['*']), `${name} passes with AcceptEnv *`);
  }
});

test('under a forced command, patterns admit only the locale: other variables must be named in full', () => {
  assert.ok(isAcceptedVariable('CC', ['*']), 'without one, * admits it');
  assert.ok(!isAcceptedVariable('CC', ['*'], true));
  assert.ok(!isAcceptedVariable('CC', ['C?'], true));
  assert.ok(isAcceptedVariable('CC', ['*', 'CC'], true));
  assert.ok(isAcceptedVariable('LANG', ['*'], true));
  assert.ok(isAcceptedVariable('LC_TIME', ['LC_*'], true));
  assert.ok(!isAcceptedVariable('LC_TIME', ['LANG'], true), 'the locale too needs a pattern');
  assert.ok(!isAcceptedVariable('LD_PRELOAD', ['LD_PRELOAD'], true), 'naming a forbidden one does not help');
  const base = { account, shell: '/bin/sh', term: undefined, acceptEnv: ['*', 'NAMED'], connection: '1 2 3 4', requested: [['FOO', 'x'], ['NAMED', 'y'], ['LANG', 'C']] as [string, string][] };
  // A forced login shell ("") is forced too.
  for (const originalCommand of ['', 'ls']) {
    const env = buildSessionEnv({ ...base, originalCommand });
    assert.deepEqual([env['FOO'], env['NAMED'], env['LANG']], [undefined, 'y', 'C'], originalCommand);
  }
  assert.equal(buildSessionEnv(base)['FOO'], 'x', 'nothing forced: * admits it');
});

test('locale variables pass only when their value looks like a locale name', () => {
  for (const v of ['C', 'POSIX', 'C.UTF-8', 'en_US', 'en_US.UTF-8', 'de_DE.utf8', 'sr_RS@latin', 'ca_ES.UTF-8@valencia']) {
    assert.ok(isAcceptedValue('LANG', v), v);
    assert.ok(isAcceptedValue('LC_ALL', v), v);
  }
  for (const v of ['', '/tmp/evil', '../../tmp/x', 'en_US.UTF-8/../../x', 'C.UTF-8/x', 'C@a/b', 'en_US/x', 'C;id', '$(id)', 'en US', 'x'.repeat(200)]) {
    assert.ok(!isAcceptedValue('LANG', v), JSON.stringify(v));
    assert.ok(!isAcceptedValue('LC_MESSAGES', v), JSON.stringify(v));
  }
  assert.ok(isAcceptedValue('LANGUAGE', 'de_DE:de:en'));
  assert.ok(!isAcceptedValue('LANGUAGE', 'de:/tmp/x'));
  assert.ok(isAcceptedValue('EDITOR_THEME', '/any/thing $(x)'), 'other values are not judged');
  assert.ok(!isAcceptedValue('X', 'a\0b'));
  const env = buildSessionEnv({
    account, shell: '/bin/zsh', term: undefined, acceptEnv: ['*'], connection: '',
    requested: [['LANG', '/tmp/x'], ['LC_TIME', 'de_DE.UTF-8'], ['SHELLOPTS', 'xtrace'], ['PS4', '$(touch /tmp/x)'], ['FOO', 'bar']],
  });
  assert.equal(env['LANG'], undefined);
  assert.equal(env['LC_TIME'], 'de_DE.UTF-8');
  assert.equal(env['SHELLOPTS'], undefined);
  assert.equal(env['PS4'], undefined);
  assert.equal(env['FOO'], 'bar');
});
