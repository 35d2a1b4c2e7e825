// sshd's `Subsystem NAME COMMAND [ARGS]`: what `tlssh -s host NAME` (and so sftp, scp, sshfs)
// runs. The command line is kept as written: the user's shell runs it with -c, as sshd does.
import * as fs from 'node:fs';
import { ValueProblem, shown } from './config-error';

export interface Subsystem {
  name: string;
  /** The command line, run by the user's shell with -c. */
  command: string;
}

/** The same rule as the protocol's subsystem name (doc/PROTOCOL.md, session-request). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

/**
 * Where distributions put OpenSSH's sftp-server: Debian, Fedora/RHEL, Arch, FreeBSD-style.
 * `internal-sftp` (sshd's in-process server) maps to the first that exists, since tlsshd has no
 * SFTP server of its own and sftp-server takes the same options.
 */
export const SFTP_SERVER_PATHS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server', '/usr/libexec/sftp-server'];

/**
 * One line's value: `NAME COMMAND [ARGS]`, or `none` (no subsystems at all, since any line replaces
 * the built-in sftp default). Returns a list, so that `none` can be the empty one.
 */
export function parseSubsystem(text: string, sftpServers: readonly string[] = SFTP_SERVER_PATHS): Subsystem[] {
  if (text.trim().toLowerCase() === 'none') return [];
  refuseControlCharacters(text);
  const m = /^(\S+)\s+(\S.*?)\s*$/.exec(text.trim());
  if (m === null) throw new ValueProblem(`${shown(text)} is not "NAME COMMAND [ARGUMENTS]"`);
  const name = m[1] ?? '';
  const command = m[2] ?? '';
  if (!NAME_RE.test(name)) throw new ValueProblem(`${shown(name)} is not a subsystem name ([A-Za-z0-9._@+-], at most 64)`);
  return [{ name, command: withSftpServer(command, sftpServers) }];
}

/** A command line (tabs aside) holds no control character: it ends up in logs and a shell's -c. */
export function refuseControlCharacters(text: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text.replace(/\t/g, ' '))) throw new ValueProblem(`${shown(text)} contains a control character`);
}

/**
 * A command line as written, except that `internal-sftp` as its program becomes the sftp-server
 * found (Subsystem and ForceCommand lines, as sshd takes `internal-sftp` in both).
 */
export function withSftpServer(command: string, sftpServers: readonly string[] = SFTP_SERVER_PATHS): string {
  const [program = '', ...rest] = command.split(/\s+/);
  if (program !== 'internal-sftp') return command;
  const found = sftpServers.find((p) => isExecutable(p));
  if (found === undefined) {
    throw new ValueProblem(`internal-sftp: tlsshd has no built-in SFTP server and found no sftp-server (${sftpServers.join(', ')}); install openssh-sftp-server or give the sftp-server's path`);
  }
  return [found, ...rest].join(' ');
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A second line for one name is an error, as in sshd ("Subsystem 'sftp' already defined"). */
export function checkSubsystemName(current: readonly unknown[], item: unknown): void {
  const name = (item as Subsystem).name;
  if (current.some((s) => (s as Subsystem).name === name)) throw new ValueProblem(`subsystem ${shown(name)} is already defined by an earlier line`);
}

/** The command for `name`: there is at most one line per name (checkSubsystemName). */
export function findSubsystem(list: readonly Subsystem[], name: string): string | undefined {
  return list.find((s) => s.name === name)?.command;
}
