// Shared sessions over one multiplexed connection (tlssh/2+mux, doc/PROTOCOL.md section 12):
// the master's normal way. No handshake and no TPM signature per session: a session costs the
// server one session-request. Session output is written to the client's socket before credit
// goes back to the server, so a slow client slows its own session only.

import { TlsshError, describeError, isTlsshError } from '../errors';
import { sessionRequestFor } from './mux-frames';
import type { MuxConnection } from './mux-connection';
import type { OpenSession, SharedSession, SharedSessionEnd } from './mux-master';

export function multiplexedSessions(conn: MuxConnection, user: string): OpenSession {
  return (req, io) => {
    let aborted = false;
    let close: (() => void) | undefined;
    const request = sessionRequestFor(user, req);
    const opened = conn.openSession(request, { stdout: io.stdout, stderr: io.stderr });
    const started = opened.then((s) => {
      close = () => s.close();
      if (aborted) s.close();
      io.onWindow(({ cols, rows }) => s.windowChange(cols, rows));
      io.onSignal((name) => s.signal(name));
      // pipe() pauses the client's stdin while the server's window is shut.
      io.input.pipe(s.stdin);
    });
    started.catch(() => undefined);
    const ended: Promise<SharedSessionEnd> = opened.then(
      async (s) => {
        const end = await s.done;
        if (end.kind === 'exit') return { kind: 'exit', status: { code: end.status.code, signal: end.status.signal } };
        return end;
      },
      (err: unknown) => ({
        kind: 'failed',
        error: isTlsshError(err) ? err : new TlsshError('TLSSH_ERR_INTERNAL', describeError(err), { cause: err }),
      }),
    );
    const session: SharedSession = {
      started,
      ended,
      abort: () => {
        aborted = true;
        close?.();
      },
    };
    return session;
  };
}
