// tlsshctl's command line, parsed without I/O. Usage mistakes are one line plus the usage text.

import type { ControlRequest, KillTarget } from '../server/control-protocol';
import { DEFAULT_KILL_MESSAGE, normaliseSerial } from '../server/control-protocol';

export const USAGE = [
  'usage: tlsshctl [-c FILE | -S SOCKET] sessions [--json]',
  '       tlsshctl [-c FILE | -S SOCKET] kill ID | --user USER | --serial SERIAL [--message TEXT] [--json]',
  '       tlsshctl [-c FILE | -S SOCKET] reload [--json]',
  '       tlsshctl [-c FILE | -S SOCKET] status [--json]',
  '       tlsshctl [-c FILE | -S SOCKET] top',
].join('\n');

export const HELP = `${USAGE}

Controls a running tlsshd through its control socket, RuntimeDir/control.sock (root only).

  -c FILE          the server configuration that names RuntimeDir (default /etc/tlssh/tlsshd.conf)
  -S SOCKET        the control socket itself, instead of the one RuntimeDir names
  sessions         list the sessions: id, user, tty or command, source, certificate, start, idle, bytes, pid
  kill             end sessions by connection id, user or certificate serial; the client prints
                   TEXT (default "${DEFAULT_KILL_MESSAGE}") and exits 255
  reload           re-read the configuration, as SIGHUP does; a bad one is refused
  status           uptime, session and pre-auth counts, per-source penalties
  top              a live full-screen monitor (needs a terminal)
  --json           print the daemon's JSON reply instead of a table
  -h, --help       this text
  -V, --version    the version

Exit status: 0, or 255 on any failure (no such session, no daemon, a refused reload).
`;

export type CtlCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'request'; configFile?: string; socket?: string; json: boolean; request: ControlRequest }
  | { kind: 'top'; configFile?: string; socket?: string };

export class UsageError extends Error {}

export function parseCtlArgs(argv: readonly string[]): CtlCommand {
  let configFile: string | undefined;
  let socket: string | undefined;
  let json = false;
  let user: string | undefined;
  let serial: string | undefined;
  let message: string | undefined;
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`option ${a} needs a value`);
      return v;
    };
    if (a === '-h' || a === '--help') return { kind: 'help' };
    else if (a === '-V' || a === '--version') return { kind: 'version' };
    else if (a === '-c') configFile = value();
    else if (a === '-S') socket = value();
    else if (a === '--json') json = true;
    else if (a === '--user' || a === '-u') user = value();
    else if (a === '--serial' || a === '-s') serial = value();
    else if (a === '--message' || a === '-m') message = value();
    else if (a === '--') words.push(...argv.slice(i + 1)), (i = argv.length);
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else words.push(a);
  }
  const [cmd, ...rest] = words;
  const common = { ...(configFile !== undefined ? { configFile } : {}), ...(socket !== undefined ? { socket } : {}) };
  if (cmd === undefined) throw new UsageError('no command given');
  const noArgs = (): void => {
    if (rest.length > 0) throw new UsageError(`${cmd}: unexpected argument ${rest[0] ?? ''}`);
    if (cmd !== 'kill' && (user !== undefined || serial !== undefined || message !== undefined)) throw new UsageError(`${cmd}: --user, --serial and --message belong to kill`);
  };
  if (cmd === 'sessions' || cmd === 'status' || cmd === 'reload') {
    noArgs();
    return { kind: 'request', ...common, json, request: { op: cmd } };
  }
  if (cmd === 'top') {
    noArgs();
    return { kind: 'top', ...common };
  }
  if (cmd !== 'kill') throw new UsageError(`unknown command ${cmd}`);
  if (rest.length > 1) throw new UsageError(`kill: unexpected argument ${rest[1] ?? ''}`);
  const given = (rest.length === 1 ? 1 : 0) + (user !== undefined ? 1 : 0) + (serial !== undefined ? 1 : 0);
  if (given !== 1) throw new UsageError('kill: give exactly one of ID, --user USER, --serial SERIAL');
  let target: KillTarget;
  if (rest.length === 1) {
    const id = Number(rest[0]);
    if (!/^[1-9][0-9]{0,14}$/.test(rest[0] ?? '')) throw new UsageError(`kill: session id ${rest[0] ?? ''} is not a positive number`);
    target = { by: 'id', id };
  } else if (user !== undefined) {
    if (user === '') throw new UsageError('kill: --user needs a name');
    target = { by: 'user', user };
  } else {
    if (!/^[0-9A-Fa-f:]{1,128}$/.test(serial ?? '')) throw new UsageError(`kill: serial ${serial ?? ''} is not hexadecimal`);
    target = { by: 'serial', serial: normaliseSerial(serial ?? '') };
  }
  return { kind: 'request', ...common, json, request: { op: 'kill', target, message: message ?? DEFAULT_KILL_MESSAGE } };
}

/** The request as it goes on the wire (doc/CONTROL.md). */
export function wireRequest(r: ControlRequest): Record<string, unknown> {
  if (r.op !== 'kill') return { v: 1, op: r.op };
  const t = r.target;
  return { v: 1, op: 'kill', ...(t.by === 'id' ? { id: t.id } : t.by === 'user' ? { user: t.user } : { serial: t.serial }), message: r.message };
}
