// tlsshctl top: not yet written.

export function runTop(_socket: string): Promise<number> {
  process.stderr.write('tlsshctl: top is not available in this build\n');
  return Promise.resolve(255);
}
