// tlssh from command line to exit status: parse, configure, connect, run the session, and turn
// how it ended into ssh's exit conventions. Everything thrown here reaches the user as one line.

import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import * as tty from 'node:tty';
import { loadClientConfig } from '../config/load-client-config';
import { insecureSecretFiles } from '../config/file-permissions';
import type { ClientConfig } from '../config/types';
import { EXIT_TLSSH_FAILURE, TlsshError, describeError, isTlsshError } from '../errors';
import { MUX_ALPN, negotiated } from '../protocol/alpn';
import { LIMITS, type SessionRequest } from '../protocol/messages';
import { Channel } from '../transport/channel';
import { connectTls } from '../transport/connect';
import type { ClientArgs } from './cli-args';
import { parseEscapeChar, showEscapeChar } from './escape-parser';
import { failureLine, remoteExitCode, describeRemoteEnd } from './exit-status';
import { describeIdentity, assertKeyFilePrivate, withDetectedEngine } from './identity';
import { BatchModeRefusal, isNoDaTpmKey, withKeyPassword, withParentPassword, type PasswordPrompt } from './key-password';
import { openInput, openOutput } from './local-stdio';
import { NO_TTY_WARNING, decidePty } from './pty-decision';
import { selectEnv } from './send-env';
import { runSession, type SessionIo } from './session';
import { createLog, writeStderrLine, type Log } from './stderr-log';
import { localTerminalModes } from './terminal-modes';

export interface ClientContext {
  args: ClientArgs;
  env: NodeJS.ProcessEnv;
  /** Told the verbosity as soon as it is known, so the exit guards can honour -v. */
  onVerbosity?: (verbosity: number) => void;
  /** The configuration, when the connection-sharing route already loaded it for this command line. */
  config?: ClientConfig;
}

/** Runs a parsed command line to its exit status. */
export async function runClient(ctx: ClientContext): Promise<number> {
  const args = ctx.args;
  ctx.onVerbosity?.(args.verbose);
  let log = createLog(args.verbose, 'INFO');
  let known: ClientConfig | undefined;
  try {
    const loaded = ctx.config ?? loadClientConfig({ file: args.configFile, overrides: args.overrides, flagOverrides: args.flagOverrides, host: args.host, dumpOnly: args.dumpConfig });
    known = loaded;
    log = createLog(args.verbose, loaded.LogLevel);
    ctx.onVerbosity?.(log.verbosity);
    // A configuration the route loaded had its warnings said there (mux-route.ts).
    if (!ctx.config) for (const w of loaded.warnings) log.info(w);
    for (const note of loaded.notes) log.debug?.(note);
    for (const note of args.notes) log.debug?.(`command line: ${note}`);
    if (log.debug3) {
      const { dumpConfig } = await import('./dump-config');
      for (const line of dumpConfig(loaded, '').trimEnd().split('\n')) {
        const field = Object.keys(loaded.origin).find((f) => f.toLowerCase() === line.split(' ')[0]);
        log.debug3(`setting ${line}${field ? ` (${loaded.origin[field]})` : ''}`);
      }
    }
    if (args.dumpConfig) {
      const { dumpConfig } = await import('./dump-config');
      const { userInfo } = await import('node:os');
      process.stdout.write(dumpConfig(loaded, userInfo().username));
      return 0;
    }
    for (const file of insecureSecretFiles(loaded)) {
      log.warn(`tlssh: warning: ${file} holds a password and other users can read it; run chmod 600 ${file}`);
    }
    try {
      return await connectAndRun(args, loaded, ctx.env, log);
    } finally {
      // The TPM's release (saving the key's context, flushing) runs on the thread pool from the
      // handshake on; a short command can end before it does. Exiting then would leave the
      // flushes to the synchronous one at exit and lose the saved context, so every later login
      // would load the key the long way: with a chip answering in 100 ms that is 200 ms per login.
      // Bounded: a TPM that stopped answering must not hold tlssh; the exit hook's flush gives up
      // on it too.
      if (tpmRelease) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([tpmRelease, new Promise((resolve) => { timer = setTimeout(resolve, RELEASE_WAIT_MS); })]);
        clearTimeout(timer);
      }
    }
  } catch (err) {
    log.error(failureLine(inOurTerms(err, known, args.host), log.verbosity > 0));
    return EXIT_TLSSH_FAILURE;
  }
}

/**
 * Two failures told in the user's terms. A server gone silent is named as ssh names it
 * ("Timeout, server HOST not responding"). The server's own words for a refused certificate are
 * OpenSSL's ("UNABLE_TO_VERIFY_LEAF_SIGNATURE"); the user needs to know which certificate and
 * which CA, as the error for the server's certificate says. The original reason stays in the line.
 */
function inOurTerms(err: unknown, cfg: ClientConfig | undefined, host: string): unknown {
  if (isTlsshError(err) && err.code === 'TLSSH_ERR_KEEPALIVE_TIMEOUT') return new TlsshError(err.code, `Timeout, server ${host} not responding (${err.message})`);
  if (!isTlsshError(err) || err.code !== 'TLSSH_ERR_CLIENT_CERT_UNTRUSTED' || !cfg?.CertFile) return err;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(fs.readFileSync(cfg.CertFile));
  } catch {
    // Unreadable here too: the server's words alone.
    return err;
  }
  // Out of its dates, no CA can help: the user needs a new certificate, or a clock put right.
  if (/\bCERT_HAS_EXPIRED\b/.test(err.message)) {
    return new TlsshError(err.code, `the server refused your certificate ${cfg.CertFile}: it expired on ${new Date(cert.validTo).toISOString()}; it needs renewing (server said: ${err.message})`);
  }
  if (/\bCERT_NOT_YET_VALID\b/.test(err.message)) {
    return new TlsshError(err.code, `the server refused your certificate ${cfg.CertFile}: it is valid only from ${new Date(cert.validFrom).toISOString()}; check the server's clock (server said: ${err.message})`);
  }
  const issuer = cert.issuer.split('\n').join(', ');
  return new TlsshError(err.code, `the server does not trust your certificate ${cfg.CertFile}, issued by "${issuer}": its ClientCAFile must hold that CA (server said: ${err.message})`);
}

async function connectAndRun(args: ClientArgs, loaded: ClientConfig, env: NodeJS.ProcessEnv, log: Log): Promise<number> {
  const debug = log.debug;
  const stdinIsTty = !args.stdinNull && tty.isatty(0);
  const hasCommand = args.command !== '';
  // -t/-T win; RequestTTY (scp and sftp pass RequestTTY=no) says what they would.
  const decision = decidePty({ request: args.ttyRequest === 'auto' ? loaded.RequestTTY : args.ttyRequest, hasCommand, stdinIsTty });
  // -N asks for no session, so for no terminal either: nothing to warn about, as with ssh -N.
  if (decision.warnNoTty && !args.noCommand) log.info(NO_TTY_WARNING);
  const pty = decision.pty;
  const escapeChar = pty ? parseEscapeChar(loaded.EscapeChar) : null;
  debug?.(`${pty ? 'requesting' : 'not requesting'} a pseudo-terminal; escape character ${escapeChar === null ? 'none' : showEscapeChar(escapeChar)}`);

  // -N: ssh keeps the connection for its forwardings; tlssh has none, so it checks the login
  // (login-check.ts), which takes a shared connection's ALPN.
  const loginCheck = args.noCommand ? await import('./login-check') : undefined;
  loginCheck?.refuseUserTheCertificateCannotName(loaded);
  const { cfg, socket } = await authenticate(loaded, args.host, log, undefined, loginCheck ? MUX_ALPN : undefined);
  if (loginCheck) {
    await loginCheck.checkLogin(cfg, socket, log.debug2);
    debug?.('-N: logged in; no command to run');
    return 0;
  }
  const channel = new Channel(socket, { role: 'client', keepalive: cfg.Keepalive, keepaliveMaxMissed: cfg.ServerAliveCountMax, debug: log.debug2 });

  const io = await localIo(args, pty, stdinIsTty);
  const size = io.windowSize?.() ?? { cols: 0, rows: 0 };
  const sendEnv = selectEnv(cfg.SendEnv, env).slice(0, LIMITS.maxEnvEntries);
  // Read while the terminal is still as the user set it: raw mode starts with the session.
  const modes = pty && stdinIsTty && negotiated(socket.alpnProtocol)?.ttyModes === true ? localTerminalModes(debug) : undefined;
  const request: SessionRequest = {
    type: 'session-request',
    user: cfg.User,
    command: args.command,
    ...(args.subsystem ? { subsystem: true } : {}),
    pty,
    term: pty ? (env['TERM'] ?? '') : '',
    cols: size.cols,
    rows: size.rows,
    env: sendEnv,
    ...(modes ? { modes } : {}),
  };
  debug?.(`sending session request${sendEnv.length > 0 ? ` with environment ${sendEnv.map(([k]) => k).join(' ')}` : ''}`);

  // ssh's messages name the host it connected to: HostName, as ssh's own `host` is after its config.
  const result = await runSession(channel, { host: loaded.HostName, request, escapeChar, io, log });
  const end = result.end;
  switch (end.kind) {
    case 'exit':
      debug?.(describeRemoteEnd(end.status));
      // ssh's goodbye after an interactive session; scripts without a PTY see nothing.
      if (pty) log.info(`Connection to ${loaded.HostName} closed.`);
      if (result.outputError) {
        log.error(failureLine(new TlsshError('TLSSH_ERR_INTERNAL', `output cut short: ${result.outputError.message}`), log.verbosity > 0));
        return EXIT_TLSSH_FAILURE;
      }
      return remoteExitCode(end.status);
    case 'disconnected':
      log.info(`Connection to ${loaded.HostName} closed.`);
      return EXIT_TLSSH_FAILURE;
    case 'failed':
      throw end.error;
  }
}

/**
 * The key made usable (engine detected, password asked for) and one authenticated connection.
 * The connection-sharing master calls it too, with a prompt that asks through the client that
 * started it, since the master itself has no terminal.
 */
export async function authenticate(
  loaded: ClientConfig,
  host: string,
  log: Log,
  promptOverride?: PasswordPrompt,
  alpn?: readonly string[],
): Promise<{ cfg: ClientConfig; socket: TLSSocket; reconnect: () => Promise<TLSSocket> }> {
  const debug = log.debug;
  const withEngine = withDetectedEngine(loaded, debug);
  assertKeyFilePrivate(withEngine);
  const prompt = promptOverride ?? promptFor(withEngine);
  const cfg = await withKeyPassword(withEngine, prompt);
  // Asking again after a wrong password is safe when it was typed (the user is there) or when
  // none was configured for a noDA key (the empty guess cost no lockout strike).
  const mayAskAgain = cfg !== withEngine || (cfg.PrivkeyEngine === 'tpm' && cfg.PrivkeyPassword === undefined && isNoDaTpmKey(cfg.KeyFile));
  if (debug) {
    const tcti = cfg.PrivkeyEngine === 'tpm' ? (await import('../transport/tpm-key')).configuredTcti(cfg) : undefined;
    for (const line of describeIdentity(cfg, tcti)) debug(line);
  }
  const connect = (): Promise<TLSSocket> =>
    cfg.PrivkeyEngine === 'tpm'
      ? connectWithTpmKey(cfg, host, log, prompt, mayAskAgain, alpn)
      : connectTls(cfg, { host, port: cfg.Port, debug, debug3: log.debug3, ...(alpn ? { alpn } : {}) });
  const socket = await connect();
  return { cfg, socket, reconnect: connect };
}

/** Local stdin, stdout, stderr and terminal, as the session will use them. */
async function localIo(args: ClientArgs, pty: boolean, stdinIsTty: boolean): Promise<SessionIo> {
  const input = args.stdinNull ? undefined : openInput();
  const io: SessionIo = {
    input,
    openStdout: (onFailure) => openOutput(1, onFailure),
    openStderr: (onFailure) => openOutput(2, onFailure),
    terminal: undefined,
    watchWindow: undefined,
    windowSize: undefined,
  };
  if (!pty) return io;
  // Terminal handling is loaded only for PTY sessions: commands run from scripts skip it.
  const term = await import('./local-terminal');
  io.windowSize = term.windowSize;
  io.watchWindow = term.onWindowChange;
  if (stdinIsTty && input) io.terminal = new term.LocalTerminal(input as tty.ReadStream);
  return io;
}

/**
 * The TLS handshake with the key inside the TPM. Loading the key (CreatePrimary, Load) starts
 * first and runs on the thread pool while the TCP connection is made and the server answers the
 * ClientHello with its own (maybe TPM-signed) flight; the engine's signature, synchronous inside
 * OpenSSL, waits on the addon's TPM lock for that load. The load is awaited before the
 * handshake's result is looked at, so an unreachable TPM or a key from another TPM is still
 * reported in the TPM's words; a signature that fails inside the handshake (a wrong key
 * password) is reported as the TPM's failure rather than OpenSSL's "EVP lib". The TPM is let go
 * (flushed on the thread pool) as soon as the one signature is made.
 */
async function connectWithTpmKey(
  given: ClientConfig,
  host: string,
  log: Pick<Log, 'debug' | 'debug3'>,
  prompt: PasswordPrompt,
  mayAskAgain: boolean,
  alpn?: readonly string[],
): Promise<TLSSocket> {
  const { debug, debug3 } = log;
  const withAlpn = alpn ? { alpn } : {};
  const { prepareTpmKey, takeTpmFailure, tpmFailuresLeft } = await import('../transport/tpm-key');
  let cfg = given;
  let prepared = await prepareTpmKey(cfg, debug ? { debug } : {});
  let signed = false;
  let early: Promise<TLSSocket> | undefined = connectTls(cfg, { host, port: cfg.Port, debug, debug3, ...withAlpn });
  // Its failure is looked at only after the load's: meanwhile it must not count as unhandled.
  early.catch(() => undefined);
  try {
    await prepared.loaded;
  } catch (err) {
    abandon(early, takeTpmFailure);
    early = undefined;
    await prepared.release();
    // A parent (SRK or owner hierarchy) with a password the config does not give: ask, as for the key.
    if (!isTlsshError(err) || err.code !== 'TLSSH_ERR_TPM_AUTH' || cfg.TpmSrkPassword !== undefined) throw err;
    cfg = await withParentPassword(cfg, prompt, err);
    prepared = await prepareTpmKey(cfg, debug ? { debug } : {});
    try {
      await prepared.loaded;
    } catch (e) {
      await prepared.release();
      throw e;
    }
  }
  // A handshake that overlapped a load which had to be retried may have failed for it: redo it.
  if (early && prepared.retried()) {
    abandon(early, takeTpmFailure);
    early = undefined;
  }
  try {
    // A wrong key password shows only when the TPM signs inside the handshake: ask again, as ssh
    // does, up to NumberOfPasswordPrompts times, when the password came from the terminal.
    // Passwords typed so far; the empty guess for a noDA key without one does not count.
    let typed = given.PrivkeyPassword !== undefined && mayAskAgain ? 1 : 0;
    for (;;) {
      try {
        const attempt = early ?? connectTls(cfg, { host, port: cfg.Port, debug, debug3, ...withAlpn });
        early = undefined;
        const socket = await attempt;
        signed = true;
        return socket;
      } catch (err) {
        const tpmFailure = takeTpmFailure();
        if (tpmFailure) debug?.(`TLS handshake failed because the TPM's signature did: ${describeError(err)} (${tpmFailure.code}: ${tpmFailure.message})`);
        const wrongPassword = tpmFailure?.code === 'TLSSH_ERR_TPM_AUTH' && mayAskAgain;
        if (!wrongPassword) throw tpmFailure ?? err;
        if (typed >= cfg.NumberOfPasswordPrompts) {
          throw new TlsshError('TLSSH_ERR_TPM_AUTH', `wrong password for TPM key ${cfg.KeyFile}, ${typed} ${typed === 1 ? 'time' : 'times'}; giving up`, { cause: tpmFailure });
        }
        if (typed > 0) {
          const left = cfg.NumberOfPasswordPrompts - typed;
          // A DA-protected key: the TPM counts every wrong password; say how close its lockout is.
          const tpmLeft = isNoDaTpmKey(cfg.KeyFile) ? undefined : await tpmFailuresLeft(cfg);
          const lockout = tpmLeft === undefined ? '' : ` (the TPM locks out after ${tpmLeft} more wrong ${tpmLeft === 1 ? 'password' : 'passwords'})`;
          writeStderrLine(`Wrong password for TPM key ${cfg.KeyFile}; ${left} ${left === 1 ? 'try' : 'tries'} left${lockout}.`);
        } else {
          debug?.(`TPM key ${cfg.KeyFile} is noDA and refused the empty password: asking for one`);
        }
        // The next handshake configures the engine again with the new password (keyMaterial).
        let password: string;
        try {
          password = await prompt(`Enter password for TPM key ${cfg.KeyFile}: `);
        } catch (e) {
          if (typed > 0 || !isTlsshError(e) || e.code !== 'TLSSH_ERR_TTY' || e instanceof BatchModeRefusal) throw e;
          throw new TlsshError(
            'TLSSH_ERR_TPM_AUTH',
            `TPM key ${cfg.KeyFile} has a password and there is no terminal to ask it on: set PrivkeyPassword in a config file of mode 0600`,
            { cause: e },
          );
        }
        cfg = Object.freeze({ ...cfg, PrivkeyPassword: password });
        typed += 1;
      }
    }
  } finally {
    // Not awaited here: the flushes run on the thread pool while the session starts; runClient
    // waits for them before exiting.
    tpmRelease = prepared.release(signed);
  }
}

/** The TPM's release after the handshake, while it runs (it never rejects). */
let tpmRelease: Promise<void> | undefined;
/** How long an ending tlssh waits for that release: a slow chip needs 3 commands, 20-200 ms each. */
const RELEASE_WAIT_MS = 5000;

/** A handshake started before its key failed to load: close it when it settles, and forget its TPM failure. */
function abandon(attempt: Promise<TLSSocket>, takeTpmFailure: () => unknown): void {
  attempt.then(
    (socket) => socket.destroy(),
    () => takeTpmFailure(),
  );
}

/** The prompt to use: the terminal, or with BatchMode a refusal, as ssh never prompts then. */
function promptFor(cfg: ClientConfig): PasswordPrompt {
  if (cfg.BatchMode) {
    return async (question) => {
      throw new BatchModeRefusal(question);
    };
  }
  return (question) => lazyPrompt(question);
}

async function lazyPrompt(question: string): Promise<string> {
  const { askOnTerminal } = await import('./password-prompt');
  return askOnTerminal(question);
}
