// The benchmark sets itself up: OpenSSH (client and server) is installed when missing, the way
// scripts/install-deps.sh does it, so `npm run bench` works on a fresh machine.

import { spawnSync } from 'node:child_process';

function installed(pkg: string): boolean {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Installs the missing Debian packages; throws with apt's message when that is impossible. */
export function ensurePackages(pkgs: readonly string[], log: (line: string) => void): void {
  const missing = pkgs.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages ${missing.join(' ')}; run as root or install them`);
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const argv of [['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  }
}
