// A resumed TLS session is never a login (tls-options.ts checkClientCertificate): the client
// proved nothing in it, whatever certificate the session remembers. tlsshd issues no tickets, so
// integration/server-tls-resumption cannot reach this second line of defence; a socket that
// reports a resumed session, with a valid certificate, can.

import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { test } from 'node:test';
import { isTlsshError } from '../../src/errors';
import { checkClientCertificate, type ServerTls } from '../../src/transport/tls-options';

test('a resumed session is refused before its remembered certificate is looked at', () => {
  let asked = false;
  const socket = {
    isSessionReused: () => true,
    authorized: true,
    getPeerCertificate: () => {
      asked = true;
      throw new Error('not reached');
    },
  } as unknown as TLSSocket;
  const setup: ServerTls = { options: {}, crlError: undefined };
  assert.throws(() => checkClientCertificate(socket, setup), (e: unknown) => isTlsshError(e) && e.code === 'TLSSH_ERR_CLIENT_CERT_MISSING' && /resumed TLS session/.test(e.message));
  assert.equal(asked, false);
});
