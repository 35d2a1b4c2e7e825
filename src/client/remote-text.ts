// Text a server chose (error messages, user and signal names) is printed on the user's terminal,
// on one line and cut to a length, with what a terminal would obey replaced (terminal-safe-text.ts).

import { terminalSafe } from '../terminal-safe-text';

export function sanitizeRemoteText(text: string, maxLength = 1024): string {
  const flat = terminalSafe(text.replace(/[\r\n\t]+/g, ' '));
  return flat.length > maxLength ? `${flat.slice(0, maxLength)}...` : flat;
}
