// sshd closes every descriptor above stderr at start-up so nothing its parent leaked can reach a
// user's session. Node has no closefrom(), and closing its own internal descriptors would break
// it; but libuv opens all of those close-on-exec, so a descriptor WITHOUT FD_CLOEXEC was
// inherited, and is the one to close.

import * as fs from 'node:fs';

const O_CLOEXEC = 0o2000000;

/** Closes inherited descriptors above 2, except those in `keep`; returns what it closed. */
export function closeInheritedFds(keep: readonly number[] = []): number[] {
  const closed: number[] = [];
  let names: string[];
  try {
    names = fs.readdirSync('/proc/self/fd');
  } catch {
    return closed;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2 || keep.includes(fd)) continue;
    try {
      const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
      const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '', 8);
      if (Number.isNaN(flags) || (flags & O_CLOEXEC) !== 0) continue;
      fs.closeSync(fd);
      closed.push(fd);
    } catch {
      // Gone already (the directory listing's own descriptor, for one).
    }
  }
  return closed;
}

/** The IPC channel's descriptor, which must survive. */
export function ipcFd(): number[] {
  const fd = (process.channel as unknown as { fd?: unknown } | undefined)?.fd;
  return typeof fd === 'number' ? [fd] : [];
}
