// A private tlsshd on 127.0.0.1 port 0 (it logs the port it got), with its own config, runtime
// directory and pid file, run in the foreground so it dies with the benchmark. And the matching
// tlssh client configuration, one per key kind.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { cpuMeterFor } from './lib/cpu-cgroup';
import { stopChild, waitFor } from './lib/proc';
import type { Workspace } from './lib/workspace';
import type { Daemon, Target } from './target';

export const REPO = resolve(__dirname, '..', '..');
export const TLSSH = join(REPO, 'bin', 'tlssh');
export const TLSSHD = join(REPO, 'bin', 'tlsshd');

export interface KeyPair {
  cert: string;
  key: string;
  /** TCTI of the TPM holding `key`; undefined for a plain PEM key file. */
  tpmTcti?: string;
}

function keyLines(k: KeyPair): string[] {
  const lines = [`CertFile ${k.cert}`, `KeyFile ${k.key}`];
  if (k.tpmTcti !== undefined) lines.push('PrivkeyEngine tpm', `TpmTcti ${k.tpmTcti}`);
  return lines;
}

/** `extra`: configuration lines after the common ones (the fork server's daemon). */
export async function startTlsshd(ws: Workspace, name: string, serverKey: KeyPair, clientCaFile: string, extra: readonly string[] = []): Promise<Daemon> {
  const dir = join(ws.dir, 'tlsshd', name);
  mkdirSync(join(dir, 'run'), { recursive: true, mode: 0o700 });
  const config = join(dir, 'tlsshd.conf');
  // The same MaxStartups as the private sshd, so neither drops connections of the 50-way burst.
  writeFileSync(config, [
    'Listen 127.0.0.1',
    'Port 0',
    ...keyLines(serverKey),
    `ClientCAFile ${clientCaFile}`,
    'LoginGraceTime 60',
    'MaxStartups 200',
    // The 50-way burst comes from one address: it must not be cut at the per-source default.
    'PerSourceMaxStartups none',
    'PermitRootLogin no',
    `PidFile ${join(dir, 'tlsshd.pid')}`,
    `RuntimeDir ${join(dir, 'run')}`,
    'LogLevel INFO',
    // As the private sshd's: PAM's modules would run for one side only (sshd.ts).
    'UsePAM no',
    ...extra,
    '',
  ].join('\n'), { mode: 0o600 });

  const child = spawn(TLSSHD, ['-f', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSS2_LOG: 'all+none' } });
  // stdout and stderr merged: where the daemon writes its "listening on" line is its own business.
  const both = new PassThrough();
  let log = '';
  for (const s of [child.stdout!, child.stderr!]) {
    s.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-8192); both.write(d); });
  }
  let exited = false;
  child.once('exit', (code, sig) => { exited = true; both.end(`\n[tlsshd exited ${code ?? sig}]\n`); });
  const m = await waitFor(both, /listening on 127\.0\.0\.1:(\d+)/, 15_000, 'tlsshd start').catch(async (e: unknown) => {
    if (!exited) await stopChild(child);
    throw e;
  });
  both.resume();
  // Joined after start-up: pre-forked workers, if any, are moved in with the listener.
  const meter = cpuMeterFor(`tlssh-bench-tlsshd-${child.pid}`, child.pid!);
  return {
    pid: child.pid!,
    port: Number(m[1]),
    recentLog: () => log,
    cpuMs: () => meter?.usageMs(),
    stop: async () => {
      await stopChild(child);
      meter?.remove();
    },
  };
}

/**
 * A client side for `daemon`. With several keys (one per client TPM), each login takes the next
 * one in turn, so n parallel logins out of n keys never share a TPM.
 */
export function tlsshTarget(ws: Workspace, name: string, label: string, daemon: Daemon, clientKeys: readonly KeyPair[], serverCaFile: string): Target {
  if (clientKeys.length === 0) throw new Error(`${label}: no client key`);
  const configs = clientKeys.map((k, i) => {
    const config = join(ws.dir, 'tlsshd', `${name}-client${clientKeys.length > 1 ? `-${i}` : ''}.conf`);
    writeFileSync(config, [
      `Port ${daemon.port}`,
      ...keyLines(k),
      `ServerCAFile ${serverCaFile}`,
      'ConnectTimeout 30',
      'Keepalive 0',
      '',
    ].join('\n'), { mode: 0o600 });
    return config;
  });
  let next = 0;
  return {
    side: 'tlssh',
    label,
    clientArgv: (o) => {
      const config = configs[next++ % configs.length]!;
      return [TLSSH, '-c', config, ...(o.tty === 'force' ? ['-tt'] : o.tty === 'none' ? ['-T'] : []), `${ws.user}@127.0.0.1`, ...(o.command === undefined ? [] : [o.command])];
    },
    serverPid: () => daemon.pid,
    serverCpuMs: () => daemon.cpuMs(),
    serverLog: () => daemon.recentLog(),
  };
}
