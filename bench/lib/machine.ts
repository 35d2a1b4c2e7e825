// What the figures were measured on, printed with every result: numbers without the machine
// they came from cannot be compared with anything.

import { cpus, release, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';

export interface MachineInfo {
  date: string;
  cpuCount: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  /** OpenSSL inside Node (the one tlssh uses). */
  nodeOpenssl: string;
  /** The openssl command line tool / system library (the one OpenSSH uses). */
  systemOpenssl: string;
  openssh: string;
  swtpm: string;
}

function firstLine(argv: string[], useStderr = false): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.error) return 'not installed';
  return ((useStderr ? r.stderr : r.stdout) || r.stdout || r.stderr || '').split('\n')[0]!.trim();
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    date: new Date().toISOString(),
    cpuCount: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `Linux ${release()}`,
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    systemOpenssl: firstLine(['openssl', 'version']).split(' ').slice(0, 2).join(' '),
    openssh: firstLine(['ssh', '-V'], true).split(',')[0]!,
    swtpm: firstLine(['swtpm', '--version']).split(',')[0]!.replace('TPM emulator version', 'swtpm'),
  };
}

export function machineLines(m: MachineInfo): string[] {
  return [
    `machine: ${m.cpuCount} x ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.kernel}`,
    `software: node ${m.node} (its OpenSSL ${m.nodeOpenssl}), system ${m.systemOpenssl}, ${m.openssh}, ${m.swtpm}`,
  ];
}
