// A real TLS 1.3 ClientHello, as node:tls sends it offering tlssh/2: what the listener must frame.

import * as net from 'node:net';
import * as tls from 'node:tls';

/** The first flight of a real TLS client, read by a plain TCP server. */
export function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      s.once('data', (b: Buffer) => {
        resolve(b);
        s.destroy();
        server.close();
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      const c = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['tlssh/2'], minVersion: 'TLSv1.3', rejectUnauthorized: false });
      c.on('error', () => undefined);
    });
  });
}
