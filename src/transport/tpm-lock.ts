// One tlssh at a time on a TPM without a resource manager. Such a TPM (swtpm, /dev/tpm0) has
// a handful of object slots shared by every client, and libtss2's swtpm TCTI even reconnects for
// every command, so two logins that interleave their commands flush or crowd out each other's
// keys. The lock is an abstract Unix socket: the kernel frees it when its holder dies, so a
// killed tlssh never leaves a stale lock behind.

import { createHash } from 'node:crypto';
import * as net from 'node:net';

export interface TpmLock {
  release(): void;
}

/** TCTIs whose TPM isolates its clients' objects itself (the kernel's tpmrm, tpm2-abrmd). */
export function hasResourceManager(tcti: string): boolean {
  if (tcti.startsWith('tabrmd')) return true;
  return /^device:\/dev\/tpmrm\d+$/.test(tcti);
}

function lockName(tcti: string): string {
  const uid = process.getuid?.() ?? 0;
  const digest = createHash('sha256').update(tcti).digest('hex').slice(0, 24);
  return `\0tlssh-tpm-${uid}-${digest}`;
}

function tryListen(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer((s) => s.destroy());
    server.once('error', () => resolve(undefined));
    server.listen(name, () => {
      server.unref();
      resolve(server);
    });
  });
}

/**
 * Waits until no other tlssh of this user uses the TPM behind `tcti`, for at most `waitMs`. A
 * lock still held then (a hung client, or someone squatting the name) is ignored rather than
 * fatal: the login then merely risks the collisions the lock exists to avoid.
 */
export async function lockTpm(tcti: string, opts: { waitMs: number; debug?: (line: string) => void }): Promise<TpmLock> {
  if (hasResourceManager(tcti)) return { release: () => undefined };
  const name = lockName(tcti);
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    const server = await tryListen(name);
    if (server) return { release: () => server.close() };
    if (Date.now() >= deadline) {
      opts.debug?.(`TPM ${tcti} still in use by another tlssh; going ahead without waiting`);
      return { release: () => undefined };
    }
    if (!told) opts.debug?.(`TPM ${tcti} in use by another tlssh; waiting`);
    told = true;
    // Jitter, so that waiting clients do not retry in lockstep.
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
  }
}
