// Shared sessions over one tlssh/2 connection each: the master's way to serve a server that does
// not multiplex. It still saves each client its start-up, configuration and key loading, and
// keeps the client light; the multiplexed connection (mux-connection.ts) saves the handshake too.
// Each session runs through the same runSession as a direct client, so every rule of a direct
// session (flow control, EOFs, exit status, remote errors) holds unchanged.

import type { TLSSocket } from 'node:tls';
import { TlsshError, describeError, isTlsshError } from '../errors';
import { Channel } from '../transport/channel';
import type { OpenSession, SharedSession, SharedSessionEnd, SharedSessionIo } from './mux-master';
import { sessionRequestFor, type MuxSessionRequest } from './mux-frames';
import { requestFor } from '../protocol/alpn';
import type { OutputSink } from './local-stdio';
import { runSession, type SessionIo } from './session';
import type { Log } from './stderr-log';

export interface ChannelBackendOptions {
  host: string;
  user: string;
  keepalive: number;
  /** Unanswered keepalives before the server is taken as gone (ServerAliveCountMax). */
  keepaliveMaxMissed: number;
  /** The connection made when the master started, used by the first session if still open. */
  first: TLSSocket | undefined;
  reconnect: () => Promise<TLSSocket>;
  log: Log;
}

export function channelSessions(opts: ChannelBackendOptions): OpenSession {
  let spare = opts.first;
  const take = async (): Promise<TLSSocket> => {
    const s = spare;
    spare = undefined;
    if (s && !s.destroyed && s.readyState === 'open') return s;
    s?.destroy();
    return opts.reconnect();
  };
  return (request, io) => openOne(take, request, io, opts);
}

function openOne(take: () => Promise<TLSSocket>, req: MuxSessionRequest, io: SharedSessionIo, opts: ChannelBackendOptions): SharedSession {
  let channel: Channel | undefined;
  let aborted = false;
  let markStarted!: () => void;
  let markFailed!: (e: unknown) => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    markFailed = reject;
  });
  started.catch(() => undefined);
  const sink = (w: import('node:stream').Writable): OutputSink => ({ stream: w, failure: undefined });
  const ended = (async (): Promise<SharedSessionEnd> => {
    try {
      const socket = await take();
      if (aborted) {
        socket.destroy();
        throw new TlsshError('TLSSH_ERR_CONNECTION_LOST', 'the client went away');
      }
      const ch = new Channel(socket, { role: 'client', keepalive: opts.keepalive, keepaliveMaxMissed: opts.keepaliveMaxMissed, debug: opts.log.debug2 });
      channel = ch;
      io.onSignal((name) => {
        if (!ch.isClosed) ch.send({ type: 'signal', name });
      });
      let size = { cols: req.cols, rows: req.rows };
      const sessionIo: SessionIo = {
        input: io.input,
        openStdout: () => {
          markStarted();
          return sink(io.stdout);
        },
        openStderr: () => sink(io.stderr),
        terminal: undefined,
        watchWindow: (listener) => {
          io.onWindow((s) => {
            size = s;
            listener(s);
          });
          return () => undefined;
        },
        windowSize: () => size,
      };
      const request = requestFor(socket.alpnProtocol, sessionRequestFor(opts.user, req));
      const result = await runSession(ch, { host: opts.host, request, escapeChar: null, io: sessionIo, log: opts.log });
      switch (result.end.kind) {
        case 'exit':
          return { kind: 'exit', status: { code: result.end.status.code, signal: result.end.status.signal } };
        case 'failed':
          markFailed(result.end.error);
          return { kind: 'failed', error: result.end.error };
        case 'disconnected':
          return { kind: 'failed', error: new TlsshError('TLSSH_ERR_CONNECTION_LOST', 'disconnected') };
      }
    } catch (err) {
      const error = isTlsshError(err) ? err : new TlsshError('TLSSH_ERR_INTERNAL', describeError(err), { cause: err });
      markFailed(error);
      return { kind: 'failed', error };
    }
  })();
  return {
    started,
    ended,
    abort: () => {
      aborted = true;
      channel?.destroy();
    },
  };
}
