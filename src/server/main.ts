// tlsshd: parse the command line, load the config, check every file a login needs, detach
// (unless -f), start the listener. -t stops after the checks, -T prints the config.
// Exit status: 0 once the daemon runs (or after --help/-V/-t/-T), 255 when it cannot start.

import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as dns from 'node:dns/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadServerConfig } from '../config';
import { formatServerConfig } from '../config/format-config';
import type { ServerConfig } from '../config/types';
import { EXIT_TLSSH_FAILURE, TlsshError, describeError } from '../errors';
import { setComm, setProcessTitle } from '../process-title';
import { parseDaemonArgs, type DaemonArgs } from './cli-args';
import { closeInheritedFds, ipcFd } from './inherited-fds';
import { Listener, TLSSHD_EXEC_ARGV, type BoundAddress } from './listener';
import { Logger, fileProblem, logFileProblem, openLogFile, syslogSocketProblem, type LogLevel, type LogSink } from './log';
import { checkRuntimeDir } from './runtime-dir';
import { listenAddresses } from '../config/listen-address';
import { pamAtStart, pamServiceNote } from './pam-session';
import { checkServerFiles, checkTpmSignature, signInProcess, signThroughAgent, type ServerFiles } from './startup-checks';
import { exitQuietlyOnEpipe } from '../quiet-epipe';
import { emptyDefaultTrust } from '../transport/default-trust';
import { guardInspectorSignal } from '../inspector-signal';

guardInspectorSignal();

/** Set in the re-launched background copy; never seen by sessions (their env is built anew). */
const DETACHED_ENV = 'TLSSHD_DETACHED';

const LEVELS: readonly LogLevel[] = ['QUIET', 'ERROR', 'INFO', 'VERBOSE', 'DEBUG'];

function withVerbosity(cfg: ServerConfig, verbose: number): ServerConfig {
  if (verbose === 0) return cfg;
  const base = Math.max(LEVELS.indexOf(cfg.LogLevel), LEVELS.indexOf('INFO'));
  const level = LEVELS[Math.min(LEVELS.length - 1, base + verbose)] ?? 'DEBUG';
  return { ...cfg, LogLevel: level };
}

function loadConfig(args: DaemonArgs): ServerConfig {
  const cfg = loadServerConfig({ ...(args.configFile !== undefined ? { file: args.configFile } : {}), overrides: args.overrides });
  return withVerbosity(cfg, args.verbose);
}

type StartupReport = { t: 'started' } | { t: 'failed'; message: string };

function report(r: StartupReport): void {
  if (process.send) {
    process.send(r, () => process.disconnect());
  }
}

/** Parent side of going to the background: wait until the copy listens (or fails), then exit. */
function detach(argv: readonly string[]): void {
  const child: ChildProcess = fork(__filename, argv as string[], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [DETACHED_ENV]: '1' },
    execArgv: [...TLSSHD_EXEC_ARGV],
  });
  child.once('message', (m: unknown) => {
    const r = m as StartupReport;
    if (r.t === 'failed') {
      process.stderr.write(`tlsshd: ${r.message}\n`);
      process.exit(EXIT_TLSSH_FAILURE);
    }
    child.unref();
    child.disconnect();
    process.exit(0);
  });
  child.once('exit', (code) => {
    process.stderr.write(`tlsshd: background process ended during startup (status ${code ?? '?'})\n`);
    process.exit(EXIT_TLSSH_FAILURE);
  });
}

function startSyslog(cfg: ServerConfig): ChildProcess {
  const facility = cfg.SyslogFacility.toLowerCase();
  const logger = spawn('logger', ['--prio-prefix', '-t', 'tlsshd', '-p', `${facility}.info`], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  logger.on('error', () => {});
  logger.stdin?.on('error', () => {});
  return logger;
}

/**
 * As sshd: a PidFile that cannot be written is logged, and the daemon carries on (it is already
 * listening). Never through a symlink: in a directory others can write, one would make root
 * overwrite the file it points at.
 */
function writePidFile(file: string, log: Logger): void {
  if (!file) return;
  try {
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o644);
    try {
      fs.writeSync(fd, `${process.pid}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    log.error(`PidFile ${file}: cannot write it: ${fileProblem(e)}; carrying on without it`);
  }
}

function removePidFile(file: string): void {
  if (!file) return;
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
  } catch {
    // Already gone.
  }
}

/** The title ps shows for the listener, with a shorter one when the command line leaves no room. */
function listenerTitle(bound: readonly BoundAddress[]): void {
  const where = bound.map((b) => (net.isIPv6(b.host) ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`)).join(', ');
  setProcessTitle(`tlsshd: listening on ${where}`, 'tlsshd', 'tlsshd: [listener]');
}

function warn(lines: readonly string[]): void {
  for (const l of lines) process.stderr.write(`tlsshd: warning: ${l}\n`);
}

/**
 * `tlsshd -t`: the start-up checks alone, without binding or creating anything. What would stop
 * the daemon at start stops this too: RuntimeDir and its parents, a LogFile whose directory is
 * missing, a Listen name that does not resolve.
 */
async function testSetup(cfg: ServerConfig): Promise<void> {
  const files = checkServerFiles(cfg);
  warn(files.warnings);
  if (cfg.RuntimeDir) checkRuntimeDir(cfg.RuntimeDir, process.geteuid?.() ?? 0, false);
  if (cfg.LogFile) logFileProblem(cfg.LogFile);
  for (const a of listenAddresses(cfg)) {
    if (net.isIP(a.host)) continue;
    try {
      await dns.lookup(a.host);
    } catch (e) {
      throw new TlsshError('TLSSH_ERR_LISTEN', `Listen ${a.host}: cannot resolve it: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
  }
  if (cfg.PidFile && !fs.existsSync(path.dirname(path.resolve(cfg.PidFile)))) {
    warn([`PidFile ${cfg.PidFile}: its directory does not exist; tlsshd will run without one`]);
  }
  // As the start decides it: an explicit UsePAM yes without the addon stops the daemon, and a
  // missing service file means /etc/pam.d/other's rules (often pam_deny, or no pam_loginuid).
  const pam = pamAtStart(cfg, process.geteuid?.() ?? 0);
  const pamNote = pam.on ? pamServiceNote(cfg.PAMServiceName) : undefined;
  if (pamNote) warn([pamNote]);
  if (cfg.PrivkeyEngine === 'tpm') await checkTpmSignature(cfg, files.cert, await signInProcess(cfg));
}

async function run(args: DaemonArgs, argv: readonly string[]): Promise<void> {
  const background = process.env[DETACHED_ENV] === '1';
  delete process.env[DETACHED_ENV];
  // Every worker is a new node, and node parses the whole NODE_EXTRA_CA_CERTS file at start-up
  // (tens of ms per connection); tlsshd never uses the system store, only ClientCAFile. So no
  // process it starts gets the variable (bin/tlsshd already starts the listener without it).
  delete process.env['NODE_EXTRA_CA_CERTS'];
  const fail = (e: unknown): void => {
    if (background) report({ t: 'failed', message: describeError(e) });
    else process.stderr.write(`tlsshd: ${describeError(e)}\n`);
    process.exitCode = EXIT_TLSSH_FAILURE;
  };
  let cfg: ServerConfig;
  let files: ServerFiles;
  try {
    cfg = loadConfig(args);
    if (args.mode === 'print-config') {
      process.stdout.write(formatServerConfig(cfg));
      return;
    }
    if (args.mode === 'test') {
      await testSetup(cfg);
      return;
    }
    // Now, before any TPM agent runs jobs on the thread pool: a reload to a PEM key would
    // otherwise build node's default CA store, changing the environment, while they run.
    emptyDefaultTrust();
    // Before "listening" and before going to the background: a broken set-up stops here.
    files = checkServerFiles(cfg);
    if (!background) {
      warn(files.warnings);
      if (!args.foreground && !cfg.LogFile) {
        const why = syslogSocketProblem();
        if (why) {
          throw new Error(`${why}: in the background tlsshd logs to syslog, and its logs would be lost; start a syslog daemon, set LogFile, or run tlsshd -f (logs on stderr)`);
        }
      }
    }
  } catch (e) {
    return fail(e);
  }
  if (!args.foreground && !background) return detach(argv);

  const sink: LogSink = cfg.LogFile ? 'file' : args.foreground ? 'stderr' : 'syslog';
  let logFd: number | undefined;
  if (sink === 'file') {
    try {
      logFd = openLogFile(cfg.LogFile);
    } catch (e) {
      return fail(e);
    }
  }
  const syslog = sink === 'syslog' ? startSyslog(cfg) : undefined;
  const log = new Logger({
    level: cfg.LogLevel, sink, facility: cfg.SyslogFacility,
    ...(syslog?.stdin ? { write: (line: string) => void syslog.stdin?.write(line) } : {}),
    ...(logFd !== undefined ? { fd: logFd } : {}),
  });
  if (background) {
    process.chdir('/');
    for (const w of files.warnings) log.error(`warning: ${w}`);
  }

  // LogFile is opened again by name on every reload, as logrotate expects of a daemon it sends
  // SIGHUP: lines then go to the new file, not to the one it moved away. Sessions already running
  // keep writing to the file they started with until they end.
  let logPath = cfg.LogFile;
  const switchLog = (fd: number, file: string, refreshWorkers: boolean): void => {
    const old = logFd;
    logFd = fd;
    logPath = file;
    log.reconfigure({ fd });
    listener.useWorkerStderr(fd, refreshWorkers);
    if (old !== undefined) fs.closeSync(old);
  };

  // SIGHUP and tlsshctl reload; throws, keeping the old configuration, when the new one is bad.
  const reloadConfig = async (): Promise<void> => {
    let next: ServerConfig;
    let fresh: number | undefined;
    try {
      // A new key or certificate must pass the same checks as at start, or every login would fail.
      next = loadConfig(args);
      for (const w of checkServerFiles(next).warnings) log.error(`warning: ${w}`);
      if (sink === 'file') {
        if (next.LogFile === '') log.error(`LogFile removed: tlsshd goes on logging to ${logPath} until it is restarted`);
        // Opened before anything is committed: a LogFile that cannot be opened refuses the reload.
        fresh = openLogFile(next.LogFile || logPath);
        // Before the reload replaces the warm workers, so that the new ones write there too, and
        // so that the reload's own lines are in the file opened again.
        listener.useWorkerStderr(fresh, false);
        log.reconfigure({ fd: fresh });
      } else if (next.LogFile !== '') {
        log.error(`LogFile ${next.LogFile} set: tlsshd goes on logging to ${sink} until it is restarted`);
      }
      listenerTitle(await listener.reload(next));
    } catch (e) {
      if (fresh !== undefined) {
        // Never leave the log or workers pointed at a descriptor about to be closed.
        if (logFd !== undefined) {
          listener.useWorkerStderr(logFd, false);
          log.reconfigure({ fd: logFd });
        }
        fs.closeSync(fresh);
      }
      // The rest of the configuration stays, but a rotated log is still opened again.
      if (sink === 'file') {
        try {
          switchLog(openLogFile(logPath), logPath, true);
        } catch (reopen) {
          log.error(`cannot open the log again: ${describeError(reopen)}; still writing to the file opened before`);
        }
      }
      throw e;
    }
    if (fresh !== undefined) switchLog(fresh, next.LogFile || logPath, false);
    log.reconfigure({ level: next.LogLevel, facility: next.SyslogFacility });
  };
  const listener = new Listener({
    config: cfg, log, logSink: sink, reloadConfig,
    workerStderr: logFd ?? syslog?.stdin ?? 'inherit',
    // The key agent the workers will use signs once, and the certificate must verify it.
    ...(cfg.PrivkeyEngine === 'tpm' ? { checkKeyAgent: (socket: string) => checkTpmSignature(cfg, files.cert, signThroughAgent(cfg, socket)) } : {}),
  });
  // Before start(): a SIGHUP right after "listening" (an administrator's reload) must not kill us.
  process.on('SIGHUP', () => {
    reloadConfig().catch((e: unknown) => log.error(`SIGHUP: keeping the old configuration: ${describeError(e)}`));
  });
  try {
    listenerTitle(await listener.start());
    writePidFile(cfg.PidFile, log);
  } catch (e) {
    // In the foreground the log is stderr: one line there, not the log line and this one.
    if (background) {
      log.error(describeError(e));
      report({ t: 'failed', message: describeError(e) });
    } else {
      process.stderr.write(`tlsshd: ${describeError(e)}\n`);
    }
    process.exit(EXIT_TLSSH_FAILURE);
  }
  if (background) report({ t: 'started' });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info(`received ${signal}; no longer accepting connections (sessions continue)`);
    void listener.stop().finally(() => {
      removePidFile(cfg.PidFile);
      syslog?.stdin?.end();
      // Worker IPC handles would otherwise keep this process alive.
      setImmediate(() => process.exit(0));
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function main(): void {
  closeInheritedFds(ipcFd());
  // comm is "node" otherwise; pgrep -x tlsshd and pidof look for this.
  setComm('tlsshd');
  const argv = process.argv.slice(2);
  const parsed = parseDaemonArgs(argv);
  if (parsed.kind === 'exit') {
    (parsed.status === 0 ? process.stdout : process.stderr).write(parsed.output);
    process.exitCode = parsed.status;
    return;
  }
  run(parsed.args, argv).catch((e: unknown) => {
    process.stderr.write(`tlsshd: ${describeError(e)}\n`);
    process.exit(EXIT_TLSSH_FAILURE);
  });
}

exitQuietlyOnEpipe(); // `tlsshd --help | head -1`
main();
