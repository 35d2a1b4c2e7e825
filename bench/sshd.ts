// A private OpenSSH server: its own sshd_config, host key, authorized_keys and pid file, on a
// free port of 127.0.0.1, run in the foreground (-D -e) so it dies with the benchmark. The
// system's sshd service is never touched.

import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cpuMeterFor } from './lib/cpu-cgroup';
import { freePort } from './lib/ports';
import { runChecked, stopChild, waitFor } from './lib/proc';
import type { Workspace } from './lib/workspace';
import type { Daemon, Target } from './target';

const SSHD = '/usr/sbin/sshd';

export interface SshdSetup {
  daemon: Daemon;
  target: Target;
}

export async function startSshd(ws: Workspace): Promise<SshdSetup> {
  const dir = join(ws.dir, 'ssh');
  const p = (f: string): string => join(dir, f);
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bench host', '-f', p('host_ed25519')]);
  await runChecked(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bench user', '-f', p('id_ed25519')]);
  // sshd reads authorized_keys as the login user, so it lives outside the root-only directory.
  const authorized = join(ws.dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(p('id_ed25519.pub')));
  chmodSync(authorized, 0o644);
  // Privilege separation needs its empty directory; Debian creates it only when the service runs.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });

  const port = await freePort();
  // PAM off: tlsshd has no PAM stack either, and Debian's (pam_systemd, motd) would add its own
  // cost to every ssh login. MaxStartups high on both sides so 50 parallel logins are not dropped.
  writeFileSync(p('sshd_config'), [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${p('host_ed25519')}`,
    `PidFile ${p('sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`,
    'AuthenticationMethods publickey',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin no',
    `AllowUsers ${ws.user}`,
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'UseDNS no',
    'MaxStartups 200',
    'MaxSessions 10',
    'LoginGraceTime 60',
    'LogLevel INFO',
    '',
  ].join('\n'));

  const child = spawn(SSHD, ['-D', '-e', '-f', p('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const meter = cpuMeterFor(`tlssh-bench-sshd-${child.pid}`, child.pid!);
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { log = (log + d).slice(-8192); });
  await waitFor(child.stderr!, /Server listening on 127\.0\.0\.1 port \d+/, 10_000, 'sshd start');

  const hostPub = readFileSync(p('host_ed25519.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(p('known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`);
  writeFileSync(p('ssh_config'), [
    'Host *',
    `  Port ${port}`,
    `  User ${ws.user}`,
    `  IdentityFile ${p('id_ed25519')}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${p('known_hosts')}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  UpdateHostKeys no',
    '  BatchMode yes',
    '  ControlMaster no',
    '  ControlPath none',
    '  LogLevel ERROR',
    '',
  ].join('\n'));

  const pid = child.pid!;
  const daemon: Daemon = {
    pid,
    port,
    recentLog: () => log,
    cpuMs: () => meter?.usageMs(),
    stop: async () => {
      await stopChild(child);
      meter?.remove();
    },
  };
  const target: Target = {
    side: 'ssh',
    label: 'OpenSSH',
    clientArgv: (o) => ['ssh', '-F', p('ssh_config'), ...(o.tty === 'force' ? ['-tt'] : o.tty === 'none' ? ['-T'] : []), `${ws.user}@127.0.0.1`, ...(o.command === undefined ? [] : [o.command])],
    serverPid: () => pid,
    serverCpuMs: () => meter?.usageMs(),
    serverLog: () => daemon.recentLog(),
  };
  return { daemon, target };
}
