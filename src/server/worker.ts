// One connection, one process (DESIGN §1): TLS handshake, client certificate checks, the
// certificate -> user decision, then the permanent drop to that user, then the session.
// A crash or a slow TPM signature here touches no other connection.

import * as net from 'node:net';
import * as tls from 'node:tls';
import { findSubsystem } from '../config/subsystem';
import { TlsshError, categoryOf, isTlsshError, type ErrorCode } from '../errors';
import { setProcessTitle } from '../process-title';
import { negotiated } from '../protocol/alpn';
import { ALPN_TLSSH2, type Message, type SessionRequest } from '../protocol/messages';
import { encodeMessage } from '../protocol/codec';
import { toErrorMessage } from '../protocol/error-message';
import { Channel } from '../transport/channel';
import { MuxChannel } from '../transport/mux-channel';
import { describePeer, type PeerIdentity } from '../transport/peer-identity';
import { checkClientCertificate, type ServerTls } from '../transport/tls-options';
import { authorizeUser } from './cert-user';
import { followCertificate, type SessionExpiry } from './cert-expiry';
import { MAX_CERT_BASE64, MAX_REPORTED_CHAIN, WORKER_EXIT_SETUP_FAILED, type ConnectionMessage, type SessionEndCode, type WorkerMessage } from './ipc-messages';
import { Logger } from './log';
import { PAM_TTY_SSH, PamLogin, type OpenedPamSession } from './pam-session';
import type { Account } from './passwd-lookup';
import { dropPrivileges } from './privilege-drop';
import { EarlyMessages } from './early-messages';
import { SESSION_WINDOW, runSession, type SessionToRun } from './session';
import { checkShadowAccount } from './shadow-account';
import { checkLoginAccess } from './login-access';
import type { WorkerConfig } from './worker-config';
import { buildServerTls, type BuiltTls } from './warm-tls';

export interface WorkerHooks {
  /** Tell the listener something; failures (listener gone) are the caller's to ignore. */
  report(msg: WorkerMessage): void;
  /** End this process; `code` 0 for an orderly end. */
  exit(code: number): void;
}

function peerOf(e: unknown): PeerIdentity | undefined {
  const p = (e as { peer?: unknown } | null)?.peer;
  return typeof p === 'object' && p !== null ? (p as PeerIdentity) : undefined;
}

function shortMessage(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e);
}

/** What the worker-main can do to a connection being served. */
export interface ServedConnection {
  /** tlsshctl kill (or a reload's certificate check, with its `code`): the client gets the code and `message`; the session hangs up. */
  kill(message: string, code?: SessionEndCode): void;
}

/** The login a connection's first session did, which its later sessions share. */
interface LoggedIn {
  account: Account;
  pam: OpenedPamSession | undefined;
  expiry: SessionExpiry;
}

/** How often the traffic counts go to the listener (only when they changed). */
const STATS_INTERVAL_MS = 2000;
/** Refused session requests a logged-in shared connection may make before it is ended. */
const MAX_REFUSED_SESSIONS = 10;

/** `prepared`: the TLS set-up a warm worker made before the connection (warm-tls.ts), still current. */
export function serveConnection(msg: ConnectionMessage, socket: net.Socket, hooks: WorkerHooks, prepared?: BuiltTls): ServedConnection {
  const cfg: WorkerConfig = msg.config;
  const root = new Logger({ level: cfg.LogLevel, sink: msg.logSink, facility: cfg.SyslogFacility });
  const remote = `${socket.remoteAddress ?? '?'} port ${socket.remotePort ?? '?'}`;
  // Plain IPv4 for IPv4-mapped addresses of a dual-stack socket, as sshd shows them.
  const clientIp = unmapped(socket.remoteAddress ?? '');
  // Every line of this connection carries its id and source, and the user once known, so that
  // `grep 'conn 7 '` or `grep 'user alice '` finds all of it; the certificate's serial and
  // fingerprint are in the one line that accepts or refuses it.
  let log = root.child(`conn ${msg.id} from ${remote}`);
  const connection = `${clientIp} ${socket.remotePort ?? ''} ${unmapped(socket.localAddress ?? '')} ${socket.localPort ?? ''}`;
  socket.setNoDelay(true);

  // The connection: one session's Channel, or a tlssh/2+mux connection carrying several.
  let channel: Channel | MuxChannel | undefined;
  let authenticated = false;
  let exiting = false;
  const finish = (code: number): void => {
    if (exiting) return;
    exiting = true;
    hooks.exit(code);
  };

  const served: ServedConnection = {
    kill: (message: string, code: SessionEndCode = 'TLSSH_ERR_SESSION_KILLED') => {
      log.info(code === 'TLSSH_ERR_SESSION_KILLED' ? `session ended by tlsshctl kill: ${message}` : `session ended: ${code}: ${message}`);
      if (channel) channel.fail(code, message);
      else {
        socket.destroy();
        finish(0);
      }
    },
  };

  let graceExpired = false;
  const grace = cfg.LoginGraceTime > 0
    ? setTimeout(() => {
      if (authenticated) return;
      graceExpired = true;
      log.info('timeout before authentication');
      safeReport(hooks, { t: 'penalty', reason: 'grace-exceeded' }, log);
      if (channel) channel.fail('TLSSH_ERR_LOGIN_GRACE_TIME', `no session within LoginGraceTime (${cfg.LoginGraceTime}s)`);
      else {
        socket.destroy();
        finish(0);
      }
    }, cfg.LoginGraceTime * 1000)
    : undefined;

  // A tls.Server that never listens, fed the one socket: its handshake path is the one Node
  // tests (it sets `authorized`/`authorizationError`, which a bare TLSSocket does not).
  let tlsSetup: ServerTls;
  let server: tls.Server;
  try {
    let certNotAfter: Date | undefined;
    ({ setup: tlsSetup, server, certNotAfter } = prepared ?? buildServerTls(msg));
    if (prepared) log.verbose('TLS set up before the connection (warm worker)');
    // Start refuses an expired certificate; one that expires while tlsshd runs is still offered
    // (the client then says so, with the date), and said here, where the administrator looks.
    if (certNotAfter !== undefined && certNotAfter.getTime() < Date.now()) {
      log.error(`CertFile ${cfg.CertFile}: certificate expired on ${certNotAfter.toISOString()}; clients refuse this server until it is renewed (workers read it for each connection)`);
    }
  } catch (e) {
    log.error(`cannot set up TLS: ${shortMessage(e)}`);
    socket.destroy();
    finish(WORKER_EXIT_SETUP_FAILED);
    return served;
  }

  server.on('tlsClientError', (e) => {
    // A failed signature through the key agent surfaces from OpenSSL as "EVP lib"; the TPM's
    // own reason is the one an administrator can act on.
    const keyFailure = msg.agentSocket ? serverKeyFailure() : undefined;
    if (keyFailure) log.error(`TLS handshake failed: server key: ${keyFailure}`);
    else {
      log.verbose(`TLS handshake failed: ${shortMessage(e)}`);
      // A client certificate this side could not take is a failed login; anything else broke the
      // handshake. An alert is the client's word: "unknown ca" or "bad certificate" there means
      // the client refused this server's certificate (a wrong ServerCAFile), and gave up before
      // authenticating, as sshd's noauth. A handshake the grace timer ended has its penalty
      // already, and the harsher one.
      const refusedOurs = /\balert\b/i.test(e.message);
      if (!graceExpired) safeReport(hooks, { t: 'penalty', reason: !refusedOurs && /certificate|\bca\b/i.test(e.message) ? 'authfail' : 'noauth' }, log);
    }
    socket.destroy();
    finish(0);
  });
  socket.on('close', () => {
    if (!channel) finish(0);
  });
  server.once('secureConnection', (tlsSocket: tls.TLSSocket) => onSecure(tlsSocket));
  // The listener already read the ClientHello (it holds connections until one arrives): put it
  // back in front of the socket, where the TLS socket takes buffered data from first.
  if (msg.prefix) socket.unshift(Buffer.from(msg.prefix, 'base64'));
  server.emit('connection', socket);

  const onSecure = (tlsSocket: tls.TLSSocket): void => {
    const protocol = negotiated(tlsSocket.alpnProtocol);
    const multiplexed = protocol?.multiplexed === true;
    if (protocol === undefined) {
      // The original's tlssh.1 text protocol (no ALPN) is not spoken here (PROTOCOL.md section 2).
      const why = `client did not negotiate ALPN ${ALPN_TLSSH2}; tlssh.1 is not supported`;
      log.info(`connection from ${remote} closed: TLSSH_ERR_ALPN: ${why}`);
      tlsSocket.on('error', () => undefined);
      tlsSocket.once('close', () => finish(0));
      tlsSocket.end(encodeMessage(toErrorMessage('TLSSH_ERR_ALPN', why)));
      // A peer that does not read cannot hold the worker.
      setTimeout(() => tlsSocket.destroy(), 5000).unref();
      return;
    }
    // Sessions of this connection whose channel has ended while their processes still run (see
    // MuxChannelOptions.lingering): they keep their MaxSessions slots until the processes exit.
    let lingering = 0;
    // Numbers this connection's sessions for the listener's list: ids on the wire can repeat.
    let sessionSerial = 0;
    const conn = multiplexed
      ? new MuxChannel(tlsSocket, { role: 'server', keepalive: cfg.Keepalive, maxSessions: cfg.MaxSessions, lingering: () => lingering, debug: log.debugFn() })
      : new Channel(tlsSocket, { role: 'server', keepalive: cfg.Keepalive, debug: log.debugFn() });
    channel = conn;
    // Sessions whose processes still run: a client that goes away (`~.`, a closed laptop) ends
    // them with the worker, before they could log their own end.
    let running = 0;
    conn.on('close', (err) => {
      // Protocol violations are worth an administrator's attention before login too.
      if (err && (authenticated || err.category === 'protocol')) log.info(`connection closed: ${err.code}: ${err.message}`);
      else if (err) log.verbose(`connection closed: ${err.code}: ${err.message}`);
      // Every logout leaves a line, as sshd's "Received disconnect ... disconnected by user".
      else if (running > 0) log.info(`connection closed by the client: ${running === 1 ? 'its session' : `${running} sessions`} hung up`);
      finish(0);
    });
    conn.once('stalled', (unsent) => log.verbose(`peer from ${remote} is not reading (${unsent} bytes unsent); reading paused until it does`));

    let peer: PeerIdentity;
    // `ch` is the session's Channel. A refused session of a multiplexed connection gets a
    // session-error; until one session has started, the connection ends too (PROTOCOL.md 12.5).
    let refusedSessions = 0;
    const refuse = (e: unknown, who: PeerIdentity | undefined, ch: Channel | MuxChannel = conn): void => {
      const code: ErrorCode = isTlsshError(e) ? e.code : 'TLSSH_ERR_INTERNAL';
      const message = shortMessage(e);
      // Some refusals tell the log more than the client (a file name on the server).
      const detail = (e as { logDetail?: unknown }).logDetail;
      log.info(`refused ${who ? describePeer(who) : 'client without certificate'}: ${code}: ${typeof detail === 'string' ? detail : message}`);
      if (!authenticated) safeReport(hooks, { t: 'penalty', reason: categoryOf(code) === 'protocol' ? 'noauth' : 'authfail' }, log);
      ch.fail(code, message);
      if (!authenticated && ch !== conn) conn.fail(code, message);
      // A logged-in peer that asks for refused sessions in a loop (another user, an unknown
      // subsystem) would write the log at thousands of lines a second: like sshd after
      // MaxAuthTries, the connection ends, here after MAX_REFUSED_SESSIONS of them.
      if (authenticated && ch !== conn && ++refusedSessions === MAX_REFUSED_SESSIONS) {
        log.info(`ending the connection of ${who ? describePeer(who) : 'client'}: ${refusedSessions} session requests refused`);
        conn.fail('TLSSH_ERR_PROTOCOL_STATE', `${refusedSessions} session requests refused on this connection`);
      }
    };
    try {
      peer = checkClientCertificate(tlsSocket, tlsSetup);
    } catch (e) {
      return refuse(e, peerOf(e));
    }
    log.debug(`client certificate ${describePeer(peer)}`);

    // Sessions start one after another (their processes then run side by side): the first does
    // the login (user, PAM, privilege drop) that the others share.
    let starts: Promise<void> = Promise.resolve();
    let loggedIn: LoggedIn | undefined;
    const acceptSession = (ch: Channel, id: number): void => {
      // Window changes and signals may follow the request at once, before the process exists
      // (PROTOCOL.md section 6): they are held here and applied once it does.
      const early = new EarlyMessages();
      const onFirst = (m: Message): void => {
        if (m.type !== 'session-request') {
          // The channel's message order refuses this first; kept as a second line of defence.
          return refuse(new TlsshError('TLSSH_ERR_PROTOCOL_STATE', `expected a session request, got ${m.type}`), peer, ch);
        }
        if (m.modes !== undefined && !protocol.ttyModes) {
          // Flag bit 2 is reserved in tlssh/2: the client sent what it was not offered.
          return refuse(new TlsshError('TLSSH_ERR_FRAME_MALFORMED', `session-request: reserved flag bits set (0x4) under ${String(tlsSocket.alpnProtocol)}`), peer, ch);
        }
        ch.on('message', early.hold);
        starts = starts.then(() => startSession(ch, id, early, m, peer));
      };
      ch.once('message', onFirst);
    };
    if (conn instanceof MuxChannel) conn.on('session', acceptSession);
    else acceptSession(conn, 0);

    const startSession = async (ch: Channel, id: number, early: EarlyMessages, req: SessionRequest, who: PeerIdentity): Promise<void> => {
      // Abandoned (or the connection ended) while an earlier session (or the login) was starting.
      if (ch.isClosed) return;
      if (loggedIn) return startMore(ch, id, early, req, who, loggedIn);
      const done = await logIn(who, req.user, { ch, req });
      if (!done) return;
      loggedIn = done.login;
      launch(ch, id, early, done.session ?? req, done.login);
    };

    // ssh -s: the name becomes the command of its Subsystem line; an unknown name is refused
    // before anything runs, so the client can say so and exit 255, as ssh does.
    // ForceCommand then replaces what would have run, as in sshd: an unknown subsystem is still
    // refused, and the command finds what the client asked for (a subsystem's command line) in
    // SSH_ORIGINAL_COMMAND.
    const resolveSession = (req: SessionRequest): SessionToRun | TlsshError => {
      let asked: SessionRequest = req;
      if (req.subsystem === true) {
        const command = findSubsystem(cfg.Subsystem, req.command);
        if (command === undefined) {
          return new TlsshError('TLSSH_ERR_UNKNOWN_SUBSYSTEM', `subsystem request for ${req.command} failed: tlsshd has no Subsystem ${req.command}`);
        }
        asked = { ...req, command };
      }
      if (cfg.ForceCommand === '') return asked;
      log.verbose(`forced command (ForceCommand) instead of the ${sessionKind(req)} asked for`);
      return { ...asked, subsystem: false, command: cfg.ForceCommand, originalCommand: asked.command };
    };

    /**
     * The login: the certificate's user, PermitRootLogin, PAM's account check and session, and
     * the privilege drop. A direct connection logs in with its session (`first`); a shared one
     * at once, before any session (PROTOCOL.md 12.5), so that a master with no session yet
     * (tlssh -M -N) is a logged-in connection and not one that never logged in. Refusals are
     * sent and logged here; undefined then. `session`: the first session as it will run.
     */
    const logIn = async (
      who: PeerIdentity, requestedUser: string, first?: { ch: Channel; req: SessionRequest },
    ): Promise<{ login: LoggedIn; session: SessionToRun | undefined } | undefined> => {
      const ch = first?.ch ?? conn;
      let account;
      try {
        account = await authorizeUser({
          commonNames: who.commonNames,
          clientDomain: cfg.ClientDomain,
          requestedUser,
          permitRootLogin: cfg.PermitRootLogin,
          forcedCommand: cfg.ForceCommand !== '',
          daemonUid: process.geteuid?.() ?? 0,
        });
        // From here the user is known: a refusal's line names it too, so one grep finds a user's all.
        log = root.child(`conn ${msg.id} user ${account.name} from ${remote}`);
        await checkLoginAccess(cfg, account, clientIp);
        // PAM's account stack does this otherwise; only root can read the shadow entries.
        if (!cfg.UsePAM && process.geteuid?.() === 0) await checkShadowAccount(account.name);
      } catch (e) {
        refuse(e, who, ch);
        return undefined;
      }
      const session = first ? resolveSession(first.req) : undefined;
      if (session instanceof TlsshError) {
        refuse(session, who, ch);
        return undefined;
      }
      if (session?.subsystem === true) log.verbose(`subsystem ${first?.req.command} for ${account.name}: ${session.command}`);
      // PAM's account stack runs for every login, before the user gets anything (DESIGN §1).
      // UsePAM is the listener's decision (root, the addon loaded there): if PAM then fails
      // here, checkAccount throws and the login is refused rather than let through without it.
      let pam: PamLogin | undefined;
      try {
        if (cfg.UsePAM) pam = PamLogin.checkAccount({ service: cfg.PAMServiceName, user: account.name, rhost: clientIp, tty: PAM_TTY_SSH });
      } catch (e) {
        refuse(e, who, ch);
        return undefined;
      }
      if (ch.isClosed) {
        pam?.abort();
        return undefined;
      }
      authenticated = true;
      if (grace) clearTimeout(grace);
      safeReport(hooks, { t: 'authenticated', user: account.name }, log);
      reportSession(hooks, tlsSocket, who, first?.req, log);
      const req = first?.req;
      log.info(`accepted certificate ${describePeer(who)}; ${req ? describeRequest(req) : 'shared connection'}`);
      // Set while still root: the title shows whose process this is before the drop.
      if (!req) setProcessTitle(`tlsshd: ${account.name} [shared]`, 'tlsshd');
      else if (!req.pty) setProcessTitle(`tlsshd: ${account.name} [cmd]`, 'tlsshd');
      let pamSession: OpenedPamSession | undefined;
      try {
        // As root, in the process that becomes the session's parent, right before the drop:
        // loginuid, limits and cgroup set on this process are the shell's.
        if (pam) {
          // sshd shows login messages only for a shell on a terminal (not a forced command); the
          // others ask for silence.
          // A shared connection's sessions are not known yet: its messages are kept, and shown
          // to the shells on a terminal that it runs (runSession).
          pamSession = pam.openSession({ silent: session ? !(session.pty && session.command === '') : false });
          // Told while still root: the listener (root) closes the session when we are gone.
          safeReport(hooks, { t: 'pam-session' }, log);
        }
        dropPrivileges(account);
      } catch (e) {
        refuse(e, who, ch);
        return undefined;
      }
      // One certificate per connection: at its expiry every session of the connection ends.
      const expiry = sessionExpiry(cfg, tlsSocket, conn, () => log);
      conn.once('close', () => expiry.stop());
      return { login: { account, pam: pamSession, expiry }, session };
    };

    if (conn instanceof MuxChannel) {
      starts = starts.then(async () => {
        const done = await logIn(peer, '');
        if (!done) return;
        loggedIn = done.login;
        // From the login on, a silent peer is found by keepalive, not by LoginGraceTime.
        conn.loggedIn();
      });
    }

    // A later session of a multiplexed connection: the login is done; only its own checks remain.
    const startMore = (ch: Channel, id: number, early: EarlyMessages, req: SessionRequest, who: PeerIdentity, login: LoggedIn): void => {
      const { account } = login;
      if (req.user !== '' && req.user !== account.name) {
        return refuse(new TlsshError('TLSSH_ERR_USER_MISMATCH', `this connection is logged in as ${account.name}; a session for ${req.user} needs a connection of its own`), who, ch);
      }
      const session = resolveSession(req);
      if (session instanceof TlsshError) return refuse(session, who, ch);
      log.info(`session ${id}: ${describeRequest(req)}`);
      launch(ch, id, early, session, login);
    };

    // A shared connection's title names the terminals of its sessions, as sshd's does
    // (tlsshd: alice@pts/1,pts/4), and goes back to [shared] when the last one ends.
    const ttys = new Set<string>();
    const titleShared = (user: string): void => {
      setProcessTitle(ttys.size > 0 ? `tlsshd: ${user}@${[...ttys].join(',')}` : `tlsshd: ${user} [shared]`, 'tlsshd');
    };

    // Not awaited: the next session may start while this one runs.
    const launch = (ch: Channel, id: number, early: EarlyMessages, session: SessionToRun, login: LoggedIn): void => {
      const { account, pam: pamSession } = login;
      const serial = ++sessionSerial;
      running++;
      // A client may use an id again once it is closed: the serial tells the two apart in the log.
      const sessionLog = multiplexed ? log.child(serial === id ? `session ${id}` : `session ${id} (#${serial})`) : log;
      let tty: string | undefined;
      let detachOutput: (() => void) | undefined;
      const kind = sessionKind(session);
      const listed = (ended: boolean): void => {
        if (multiplexed) safeReport(hooks, { t: 'mux-session', session: id, serial, kind, command: session.command.slice(0, 4096), ...(tty ? { tty } : {}), ended }, log);
      };
      listed(false);
      let processDone = false;
      let lingers = false;
      const onChannelClose = (): void => {
        if (processDone || lingers) return;
        lingers = true;
        lingering++;
      };
      ch.once('close', onChannelClose);
      ch.send({ type: 'session-started', user: account.name, window: SESSION_WINDOW });
      // runSession subscribes to the channel before its first await, so nothing falls between.
      ch.off('message', early.hold);
      runSession({
        channel: ch, account, request: session, acceptEnv: cfg.AcceptEnv, connection, log: sessionLog,
        ...(pamSession ? { pam: pamSession } : {}),
        printLastLog: cfg.PrintLastLog,
        early: early.take(),
        onOutput: (write) => {
          detachOutput = login.expiry.attachOutput(write);
        },
        onTty: (line) => {
          tty = line;
          if (multiplexed) {
            ttys.add(line);
            titleShared(account.name);
          } else setProcessTitle(`tlsshd: ${account.name}@${line}`, 'tlsshd');
          safeReport(hooks, { t: 'login', line }, log);
          listed(false);
        },
      }).catch((e: unknown) => {
        sessionLog.error(`session failed: ${shortMessage(e)}`);
        ch.fail(isTlsshError(e) ? e.code : 'TLSSH_ERR_SPAWN', shortMessage(e));
      }).finally(() => {
        running--;
        processDone = true;
        ch.off('close', onChannelClose);
        if (lingers) lingering--;
        detachOutput?.();
        // Each session of a shared connection has its own login record, closed when it ends.
        if (multiplexed && tty !== undefined) {
          safeReport(hooks, { t: 'logout', line: tty }, log);
          ttys.delete(tty);
          titleShared(account.name);
        }
        listed(true);
      });
    };
  };
  return served;

}

/** CertificateExpiry: warn the user ahead of the client certificate's notAfter, end the session at it. */
function sessionExpiry(cfg: WorkerConfig, tlsSocket: tls.TLSSocket, ch: Channel | MuxChannel, log: () => Logger): SessionExpiry {
  const validTo = tlsSocket.getPeerCertificate().valid_to;
  return followCertificate({
    mode: cfg.CertificateExpiry,
    warnLead: cfg.CertificateExpiryWarning,
    notAfter: validTo ? new Date(validTo) : undefined,
    log: (line) => log().info(line),
    // Logged once, by the channel's close handler: "connection closed: TLSSH_ERR_CERT_EXPIRED_IN_SESSION: ...".
    end: (message) => ch.fail('TLSSH_ERR_CERT_EXPIRED_IN_SESSION', message),
  });
}

function sessionKind(req: SessionRequest): 'shell' | 'command' | 'subsystem' {
  return req.subsystem === true ? 'subsystem' : req.command === '' ? 'shell' : 'command';
}

/** A session request in the log: "pty, shell", "no pty, command", "no pty, subsystem sftp". */
function describeRequest(req: SessionRequest): string {
  const kind = sessionKind(req);
  return `${req.pty ? 'pty' : 'no pty'}, ${kind === 'subsystem' ? `subsystem ${req.command}` : kind}`;
}

/**
 * The session's details for tlsshctl, then its traffic every few seconds while it changes.
 * `req`: the session a direct connection logs in with; none for a shared connection.
 */
function reportSession(hooks: WorkerHooks, tlsSocket: tls.TLSSocket, who: PeerIdentity, req: SessionRequest | undefined, log: Logger): void {
  const validTo = tlsSocket.getPeerCertificate().valid_to;
  const notAfter = validTo ? new Date(validTo) : undefined;
  safeReport(hooks, {
    t: 'session-info',
    subject: who.subject.slice(0, 1024),
    serial: who.serial.replace(/[^0-9A-F]/g, '').slice(0, 128),
    fingerprint: who.fingerprint.slice(0, 128),
    notAfter: notAfter && !Number.isNaN(notAfter.getTime()) ? notAfter.toISOString() : '',
    kind: req ? sessionKind(req) : 'shared',
    command: req ? req.command.slice(0, 4096) : '',
    ...presentedChain(tlsSocket),
  }, log);
  let lastIn = -1;
  let lastOut = -1;
  let lastInput = Date.now();
  const tick = (): void => {
    const bytesIn = tlsSocket.bytesRead;
    const bytesOut = tlsSocket.bytesWritten;
    if (bytesIn !== lastIn) lastInput = Date.now();
    if (bytesIn === lastIn && bytesOut === lastOut) return;
    lastIn = bytesIn;
    lastOut = bytesOut;
    // A listener that has gone will not come back for this session: stop telling it.
    if (!safeReport(hooks, { t: 'stats', bytesIn, bytesOut, lastInput }, log)) clearInterval(timer);
  };
  const timer = setInterval(tick, STATS_INTERVAL_MS);
  tick();
  timer.unref();
  tlsSocket.once('close', () => clearInterval(timer));
}

/**
 * The client's certificate and the ones above it that the handshake saw, for the listener's
 * re-check on reload. Which of them are trust anchors is the listener's call, not ours.
 */
function presentedChain(tlsSocket: tls.TLSSocket): { chain?: string[] } {
  const chain: string[] = [];
  let c: tls.DetailedPeerCertificate | undefined = tlsSocket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c && c.raw && chain.length < MAX_REPORTED_CHAIN) {
    const b64 = c.raw.toString('base64');
    if (seen.has(b64) || b64.length > MAX_CERT_BASE64) break;
    seen.add(b64);
    chain.push(b64);
    c = c.issuerCertificate;
  }
  return chain.length > 0 ? { chain } : {};
}

function unmapped(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** False when the listener could not be told (it has gone: a restart keeps sessions). */
function safeReport(hooks: WorkerHooks, msg: WorkerMessage, log: Logger): boolean {
  try {
    hooks.report(msg);
    return true;
  } catch (e) {
    log.verbose(`listener not reachable (${shortMessage(e)}); ${msg.t} not reported`);
    return false;
  }
}

/** Why the last signature through the key agent failed, if one did. */
function serverKeyFailure(): string | undefined {
  // Already loaded: the worker's TLS context names the agent's engine.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const e = (require('../tpm/agent-engine') as typeof import('../tpm/agent-engine')).takeAgentEngineError();
  return e && `${e.code}: ${e.message}`;
}
