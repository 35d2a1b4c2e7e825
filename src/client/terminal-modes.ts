// The local terminal's modes for the remote one (tlssh/3, as ssh's pty-req): read before raw mode
// goes on, from stdin, with stty(1), since Node has no tcgetattr. Nothing is sent when stdin is
// not a terminal or stty fails: the server then keeps its defaults, as sshd does.

import { spawnSync } from 'node:child_process';
import { modesFromSttyAll } from '../protocol/tty-modes';

export function localTerminalModes(debug?: (line: string) => void): Array<[number, number]> | undefined {
  const r = spawnSync('stty', ['-a'], { stdio: [0, 'pipe', 'ignore'], encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') {
    debug?.('cannot read the local terminal\'s modes (stty -a); the remote terminal keeps its defaults');
    return undefined;
  }
  const modes = modesFromSttyAll(r.stdout);
  debug?.(`local terminal: ${modes.length} modes for the remote terminal`);
  return modes.length > 0 ? modes : undefined;
}
