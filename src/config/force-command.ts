// sshd's `ForceCommand COMMAND`: every session of the daemon runs COMMAND through the user's shell
// with -c, whatever the client asked for (a shell, a command or a subsystem), and finds what it
// asked for in SSH_ORIGINAL_COMMAND. `none` (the default) forces nothing; `internal-sftp` is the
// sftp-server, as on a Subsystem line.
import { SFTP_SERVER_PATHS, refuseControlCharacters, withSftpServer } from './subsystem';

export function parseForceCommand(text: string, sftpServers: readonly string[] = SFTP_SERVER_PATHS): string {
  const command = text.trim();
  if (command === '' || command.toLowerCase() === 'none') return '';
  refuseControlCharacters(command);
  return withSftpServer(command, sftpServers);
}
