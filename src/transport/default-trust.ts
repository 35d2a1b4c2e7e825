// tlssh trusts only the CAs its configuration names: every context it makes has its own store
// holding those. Node 20 still builds its process-wide default store the first time any context
// adds a CA (it compares the context's store with the default one, creating that to compare), and
// by default that means parsing the ~140 root certificates compiled into node: 19-31 ms of CPU,
// measured, in every process that makes one TLS connection, the largest single cost of a worker
// or a client after node's own start (a second context costs 0.3-0.7 ms).
//
// With NODE_TRUST_FLAG (--use-openssl-ca) node builds that store from OpenSSL's default
// locations instead, which OpenSSL reads from SSL_CERT_FILE and SSL_CERT_DIR at that moment.
// emptyDefaultTrust() builds it while both point at /dev/null: ~1 ms, and the store stays empty
// for the life of the process. The two variables are put back at once, so whatever tlssh starts
// later (a ProxyCommand, a user's session) sees the values it was given. It runs before the
// process's first TLS context and before any TPM work on the thread pool (prepareTpmKey), so no
// other thread reads the environment while it changes.
//
// Trust does not change: the default store is used only by a context made without `ca`, which
// tlssh never makes, and such a context would now trust nothing instead of node's list. Without
// the flag (node run by hand on dist/src) node parses its list as before: slower, never wrong.

import { createSecureContext } from 'node:tls';

const DONE = Symbol.for('tlssh.transport.default-trust');
const VARIABLES = ['SSL_CERT_FILE', 'SSL_CERT_DIR'] as const;

/** Builds node's default CA store now, empty; call before the process's first secure context. */
export function emptyDefaultTrust(): void {
  const state = globalThis as Record<symbol, boolean | undefined>;
  // Once per process: the client's two bundles each carry a copy of this module.
  if (state[DONE]) return;
  state[DONE] = true;
  const saved = VARIABLES.map((name) => process.env[name]);
  try {
    for (const name of VARIABLES) process.env[name] = '/dev/null';
    // A context without `ca` takes the default store, which builds it.
    createSecureContext({ minVersion: 'TLSv1.3' });
  } finally {
    VARIABLES.forEach((name, i) => {
      const value = saved[i];
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    });
  }
}
