// PAM policy for tlsshd, following sshd with UsePAM yes and a public-key login:
// - No pam_authenticate, ever: the client certificate is the authentication, and the
//   conversation (native/pam.cc) answers no prompts.
// - pam_acct_mgmt for every login, before anything else happens for the user. A refusal carries
//   the modules' own text (pam_nologin's file, pam_unix's "account has expired") to the client.
//   An expired password (PAM_NEW_AUTHTOK_REQD) is refused: there is no prompt to change it, as
//   sshd refuses when it has no tty to change it on.
// - pam_setcred(ESTABLISH) and pam_open_session as root in the worker, just before it drops to
//   the user for good. The worker becomes the session's parent, so what the modules set on the
//   calling process is inherited by the shell: pam_loginuid's /proc/self/loginuid (settable
//   once, only by root), pam_limits' rlimits, pam_systemd's cgroup, pam_keyinit's keyring.
// - pam_close_session by a root process when the session ends. The worker cannot: it is the user
//   by then, and keeping a root process per session (sshd's privsep monitor) would cost a second
//   Node process (~10 MB) per login. So the root listener, which already watches its workers to
//   write the wtmp logout, starts a fresh handle for the same service, user, rhost and tty and
//   runs pam_close_session and pam_setcred(DELETE) on it. That is enough for Debian's stack:
//   what the session set up per process ends with the processes; close_session's work left is
//   logging (pam_unix "session closed") and pam_systemd, which finds nothing to release in a
//   fresh handle while logind ends the session when its processes and its fifo (held by the
//   worker) are gone. Each open session is also kept on disk (pam-session-registry.ts), so a
//   listener started later still closes the sessions that outlived a restart.

import * as fs from 'node:fs';
import type { ServerConfig } from '../config/types';
import { TlsshError } from '../errors';
import { loadPamBinding, type NativePamHandle, type NativePamMessage, type PamBinding } from './pam-binding';

/** PAM_TTY while the session is opened: what sshd sets (pam_systemd and pam_time know it). */
export const PAM_TTY_SSH = 'ssh';

export interface PamTarget {
  /** The PAM service: /etc/pam.d/<service>. */
  service: string;
  user: string;
  /** The client's address (PAM_RHOST). */
  rhost: string;
  /** PAM_TTY: "ssh", or "/dev/pts/N" once known. */
  tty: string;
}

export interface OpenedPamSession {
  /** "NAME=value" strings from pam_getenvlist. */
  env: string[];
  /** Texts to show at an interactive login (motd, last login, account warnings), in order. */
  messages: string[];
}

function binding(): PamBinding {
  const r = loadPamBinding();
  if ('error' in r) throw new TlsshError('TLSSH_ERR_PAM_UNAVAILABLE', r.error);
  return r.binding;
}

/** Whether the PAM addon loads here, and why not. */
export function pamAvailability(): { ok: true } | { ok: false; why: string } {
  const r = loadPamBinding();
  return 'error' in r ? { ok: false, why: r.error } : { ok: true };
}

export type PamDecision =
  | { on: true }
  /** `refuse`: UsePAM was asked for explicitly and cannot be had, so nobody may log in. */
  | { on: false; why: string; refuse: boolean };

/**
 * Whether logins go through PAM. UsePAM defaults to yes "where libpam is present": a default yes
 * without the addon is off, an explicit yes without it is a broken set-up. A daemon not run as
 * root serves only its own user and can open no PAM session (pam_loginuid, pam_limits need
 * root), so PAM is off there, as sshd cannot use PAM when not started as root.
 */
export function pamDecision(
  cfg: Pick<ServerConfig, 'UsePAM' | 'origin'>,
  euid: number,
  available: () => { ok: true } | { ok: false; why: string } = pamAvailability,
): PamDecision {
  if (!cfg.UsePAM) return { on: false, why: 'UsePAM no', refuse: false };
  if (euid !== 0) return { on: false, why: 'not running as root', refuse: false };
  const a = available();
  if (a.ok) return { on: true };
  const explicit = (cfg.origin['UsePAM'] ?? 'default') !== 'default';
  return { on: false, why: a.why, refuse: explicit };
}

/** pamDecision for the start, a reload and `tlsshd -t`: throws when UsePAM yes cannot be honoured. */
export function pamAtStart(cfg: Pick<ServerConfig, 'UsePAM' | 'origin'>, euid: number): PamDecision {
  const d = pamDecision(cfg, euid);
  if (!d.on && d.refuse) throw new TlsshError('TLSSH_ERR_PAM_UNAVAILABLE', `UsePAM yes, but ${d.why}`);
  return d;
}

/** A note for the log when /etc/pam.d/<service> is missing: libpam then uses /etc/pam.d/other. */
export function pamServiceNote(service: string, dir = '/etc/pam.d'): string | undefined {
  return fs.existsSync(`${dir}/${service}`) ? undefined : `${dir}/${service} does not exist: PAM uses ${dir}/other for tlsshd`;
}

/** Error texts travel as one line (logs, the error frame); a multi-line /etc/nologin too. */
function oneLine(list: string[]): string {
  return list.map((t) => t.replace(/\s*\n\s*/g, ' ').trim()).join(' ');
}

function texts(list: NativePamMessage[]): string[] {
  return list.map((m) => m.text).filter((t) => t.trim() !== '');
}

/** One login's PAM handle, from the account check to the opened session. */
export class PamLogin {
  private done = false;
  private readonly shown: string[] = [];

  private constructor(private readonly b: PamBinding, private readonly h: NativePamHandle, private readonly t: PamTarget) {}

  /**
   * pam_start and pam_acct_mgmt. Refusals are TLSSH_ERR_PAM_ACCOUNT with the modules' own text
   * when they gave one (that text is what the user must read, e.g. /etc/nologin).
   */
  static checkAccount(t: PamTarget): PamLogin {
    const b = binding();
    const started = b.start(t.service, t.user, t.rhost, t.tty);
    if (started.rc !== b.constants.SUCCESS || started.handle === undefined) {
      throw new TlsshError('TLSSH_ERR_PAM_SESSION', `PAM service ${t.service}: pam_start: ${b.strerror(null, started.rc)}`);
    }
    const login = new PamLogin(b, started.handle, t);
    const rc = b.acctMgmt(started.handle, 0);
    const said = texts(b.takeMessages(started.handle));
    if (rc === b.constants.SUCCESS) {
      login.shown.push(...said);
      return login;
    }
    const why = b.strerror(started.handle, rc);
    login.finish(rc);
    if (rc === b.constants.NEW_AUTHTOK_REQD) {
      throw new TlsshError(
        'TLSSH_ERR_PAM_ACCOUNT',
        oneLine([...said, `password change required for ${t.user}, and tlssh cannot prompt for one: change it at a console or ask an administrator`]),
      );
    }
    throw new TlsshError('TLSSH_ERR_PAM_ACCOUNT', said.length > 0 ? oneLine(said) : `account ${t.user} refused by PAM (${t.service}): ${why}`);
  }

  /**
   * pam_setcred(ESTABLISH) and pam_open_session, then pam_end with PAM_DATA_SILENT: the session
   * now belongs to this process and its children, and the handle is no longer needed here.
   * `silent` (PAM_SILENT) for logins that show no messages (a command, no terminal): modules
   * then skip what only prints, such as pam_motd running /etc/update-motd.d (~30 ms a login).
   */
  openSession(o: { silent: boolean }): OpenedPamSession {
    const { b, h, t } = this;
    const c = b.constants;
    let rc = b.setcred(h, c.ESTABLISH_CRED);
    let step = 'pam_setcred';
    if (rc === c.SUCCESS) {
      rc = b.openSession(h, o.silent ? c.SILENT : 0);
      step = 'pam_open_session';
    }
    const said = texts(b.takeMessages(h));
    if (rc !== c.SUCCESS) {
      const why = b.strerror(h, rc);
      this.finish(rc);
      throw new TlsshError('TLSSH_ERR_PAM_SESSION', `PAM service ${t.service}: ${step} for ${t.user}: ${[why, ...said].join('; ')}`);
    }
    const env = b.getenvlist(h) ?? [];
    this.shown.push(...said);
    this.finish(c.SUCCESS, true);
    return { env, messages: [...this.shown] };
  }

  /** Ends the handle without a session (a later step failed); idempotent. */
  abort(): void {
    this.finish(this.b.constants.SUCCESS);
  }

  private finish(status: number, dataSilent = false): void {
    if (this.done) return;
    this.done = true;
    this.b.end(this.h, status, dataSilent);
  }
}

/**
 * pam_close_session and pam_setcred(DELETE) for a session another process opened (see the top
 * of this file). Run by the root listener when the session's worker has ended. Returns what
 * went wrong, for the log, or undefined.
 */
export function closePamSession(t: PamTarget): string | undefined {
  const r = loadPamBinding();
  if ('error' in r) return r.error;
  const b = r.binding;
  const c = b.constants;
  const started = b.start(t.service, t.user, t.rhost, t.tty);
  if (started.rc !== c.SUCCESS || started.handle === undefined) return `pam_start: ${b.strerror(null, started.rc)}`;
  const h = started.handle;
  const problems: string[] = [];
  const closed = b.closeSession(h, c.SILENT);
  if (closed !== c.SUCCESS) problems.push(`pam_close_session: ${b.strerror(h, closed)}`);
  const deleted = b.setcred(h, c.DELETE_CRED | c.SILENT);
  if (deleted !== c.SUCCESS) problems.push(`pam_setcred(DELETE): ${b.strerror(h, deleted)}`);
  b.takeMessages(h);
  b.end(h, closed, false);
  return problems.length > 0 ? problems.join('; ') : undefined;
}
