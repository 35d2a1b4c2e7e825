// Where the test TPM proxies listen: swtpm's TCTI wants its control port right after the command
// port, so a proxy takes a free pair and makes one server for each, retrying a pair that another
// test took meanwhile.
import * as net from 'node:net';
import { freePortPair } from './swtpm';

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Listens with `make(upstream, isCommandPort)` for swtpm's command port (`swtpmPort`) and its
 * control port on a free pair; resolves with the proxy's command port and both servers.
 */
export async function listenOnPortPair(
  swtpmPort: number,
  make: (upstreamPort: number, isCommandPort: boolean) => net.Server,
  attempts = 10,
): Promise<{ port: number; servers: [net.Server, net.Server] }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePortPair();
    const cmd = make(swtpmPort, true);
    const ctrl = make(swtpmPort + 1, false);
    try {
      await listen(cmd, port);
      await listen(ctrl, port + 1);
      return { port, servers: [cmd, ctrl] };
    } catch (e) {
      cmd.close();
      ctrl.close();
      if (attempt + 1 >= attempts) throw e;
    }
  }
}
