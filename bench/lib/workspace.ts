// One throw-away directory per run holds every key, config, pid file and state directory, and
// a throw-away login account whose home has empty dot files. Both daemons log in that same
// account, so neither side pays for a ~/.bashrc the other skips (bash reads it for commands run
// under sshd, because sshd sets SSH_CLIENT; it would not under tlsshd).

import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The login account; TLSSH_BENCH_USER picks another, so two runs on one machine (engineers
 * benchmarking their own rows side by side) do not rewrite and delete each other's account.
 */
export const BENCH_USER = benchUser(process.env.TLSSH_BENCH_USER);

function benchUser(name: string | undefined): string {
  if (name === undefined || name === '') return 'tlsshbench';
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(name)) throw new Error(`TLSSH_BENCH_USER: not a plain account name: ${name}`);
  return name;
}

export interface Workspace {
  dir: string;
  home: string;
  user: string;
  uid: number;
  gid: number;
  shell: string;
  /** True when this run created the account (so it deletes it again). */
  createdUser: boolean;
}

function run(argv: string[]): { status: number | null; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function idOf(flag: '-u' | '-g', user: string): number {
  const r = run(['id', flag, user]);
  if (r.status !== 0) throw new Error(`id ${flag} ${user}: ${r.out}`);
  return Number(r.out);
}

export function createWorkspace(): Workspace {
  if (process.getuid?.() !== 0) throw new Error('the benchmark runs both daemons as root, as they are deployed: run it as root');
  const dir = mkdtempSync('/tmp/tlssh-bench-');
  // The home lives inside: every component must be traversable by the login account.
  chmodSync(dir, 0o755);
  const home = join(dir, 'home');
  mkdirSync(home, { mode: 0o755 });
  const shell = '/bin/bash';
  const exists = run(['id', '-u', BENCH_USER]).status === 0;
  // '*' rather than useradd's default '!': sshd without PAM refuses accounts whose password
  // field starts with '!' as locked, even for public-key logins.
  const r = exists
    ? run(['usermod', '-d', home, '-s', shell, '-p', '*', BENCH_USER])
    : run(['useradd', '-M', '-U', '-d', home, '-s', shell, '-p', '*', BENCH_USER]);
  if (r.status !== 0) throw new Error(`cannot set up the login account ${BENCH_USER}: ${r.out}`);
  const uid = idOf('-u', BENCH_USER);
  const gid = idOf('-g', BENCH_USER);
  for (const f of ['.bashrc', '.profile', '.bash_logout', '.hushlogin']) writeFileSync(join(home, f), '');
  for (const f of ['', '.bashrc', '.profile', '.bash_logout', '.hushlogin']) chownSync(join(home, f), uid, gid);
  for (const sub of ['ssh', 'pki', 'tlsshd', 'tpm', 'results-tmp']) mkdirSync(join(dir, sub), { mode: 0o700 });
  return { dir, home, user: BENCH_USER, uid, gid, shell, createdUser: !exists };
}

export function removeWorkspace(ws: Workspace): void {
  // -f: a session the daemons left behind must not keep the account alive.
  if (ws.createdUser || run(['id', '-u', BENCH_USER]).status === 0) run(['userdel', '-f', BENCH_USER]);
  rmSync(ws.dir, { recursive: true, force: true });
}
