// sshd's `ForceCommand COMMAND`: every session of the daemon runs COMMAND through the user's shell
// with -c, whatever the client asked for (a shell, a command or a subsystem), and finds what it
// asked for in SSH_ORIGINAL_COMMAND. `none` (the default) forces nothing; `internal-sftp` is the
// sftp-server, as on a Subsystem line.
import { ValueProblem, shown } from './config-error';
import { SFTP_SERVER_PATHS, withSftpServer } from './subsystem';

export function parseForceCommand(text: string, sftpServers: readonly string[] = SFTP_SERVER_PATHS): string {
  const command = text.trim();
  if (command === '' || command.toLowerCase() === 'none') return '';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(command)) throw new ValueProblem(`${shown(command)} contains a control character`);
  return withSftpServer(command, sftpServers);
}
