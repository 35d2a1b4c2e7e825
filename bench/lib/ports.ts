// Free TCP ports on the loopback address. The kernel picks (port 0), so two benchmark runs or a
// test suite running next to us never collide on a fixed number.

import { createServer } from 'node:net';

function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr !== null ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

export async function freePort(): Promise<number> {
  const p = await listenOnce(0);
  if (p === undefined) throw new Error('no free TCP port on 127.0.0.1');
  return p;
}

/** Two consecutive free ports (swtpm's TCTI uses PORT for commands and PORT+1 for control). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await freePort();
    if (p < 65535 && (await listenOnce(p + 1)) !== undefined) return p;
  }
  throw new Error('no two consecutive free TCP ports on 127.0.0.1');
}
