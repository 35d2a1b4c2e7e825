// The message order of doc/PROTOCOL.md section 6, as a state machine without I/O: the Channel
// asks it about every message it receives (a violation is TLSSH_ERR_PROTOCOL_STATE and ends the
// connection) and tells it about every message it sends (nothing goes out after exit-status or
// an error). Both sides use it, so a client and a server that disagree find out at once instead
// of holding or silently dropping what they cannot place.

import { TlsshError } from '../errors';
import { STREAM, type Message, type StreamId } from './messages';

export type Role = 'client' | 'server';

const STREAM_NAMES: Record<StreamId, string> = { 0: 'stdin', 1: 'stdout', 2: 'stderr' };

function violation(what: string): TlsshError {
  return new TlsshError('TLSSH_ERR_PROTOCOL_STATE', what);
}

export class MessageOrder {
  /** The session-request has crossed: the server received it, or the client sent it. */
  private requested = false;
  /** Client: session-started received. */
  private started = false;
  /** Client: exit-status received; nothing but an error may follow. */
  private ended = false;
  /** We sent exit-status or error: the connection is ours to close, nothing more goes out. */
  private finalSent = false;

  constructor(readonly role: Role) {}

  /** Pings (and so keepalive) start once the session-request has crossed, in either role. */
  get pingsAllowed(): boolean {
    return this.requested && !this.finalSent;
  }

  /** False once this side has sent its last message (exit-status or error). */
  get maySend(): boolean {
    return !this.finalSent;
  }

  /** Throws TLSSH_ERR_PROTOCOL_STATE unless `msg` from the peer is allowed now. */
  received(msg: Message): void {
    // An error is allowed at any time; the peer closes after it.
    if (msg.type === 'error') return;
    if (this.role === 'server') this.fromClient(msg);
    else this.fromServer(msg);
  }

  /** Records a message this side is about to send. */
  sent(msg: Message): void {
    if (msg.type === 'error') {
      this.finalSent = true;
      return;
    }
    if (this.role === 'client' && msg.type === 'session-request') this.requested = true;
    if (this.role === 'server' && msg.type === 'exit-status') this.finalSent = true;
  }

  /** What the client may send: stdin, its window changes and signals may follow the request at once. */
  private fromClient(msg: Message): void {
    if (!this.requested) {
      if (msg.type !== 'session-request') throw violation(`client sent ${describe(msg)} before the session request`);
      this.requested = true;
      return;
    }
    switch (msg.type) {
      case 'session-request':
        throw violation('client sent a second session request');
      case 'data':
      case 'eof':
        if (msg.stream !== STREAM.stdin) throw violation(`client sent ${describe(msg)}: only the server writes ${STREAM_NAMES[msg.stream]}`);
        return;
      case 'window-adjust':
        if (msg.stream === STREAM.stdin) throw violation('client sent window-adjust for stdin: only the server grants stdin credit');
        return;
      case 'window-change':
      case 'signal':
      case 'ping':
      case 'pong':
        return;
      case 'session-started':
      case 'exit-status':
        throw violation(`client sent ${msg.type}, which only the server sends`);
    }
  }

  private fromServer(msg: Message): void {
    if (this.ended) throw violation(`server sent ${describe(msg)} after exit-status`);
    switch (msg.type) {
      case 'session-started':
        if (this.started) throw violation('server sent a second session-started');
        this.started = true;
        return;
      case 'ping':
      case 'pong':
        // The server answers (and sends) pings once it has the request, which we sent first.
        return;
      case 'session-request':
      case 'window-change':
      case 'signal':
        throw violation(`server sent ${msg.type}, which only the client sends`);
      default:
        break;
    }
    if (!this.started) throw violation(`server sent ${describe(msg)} before session-started`);
    switch (msg.type) {
      case 'data':
      case 'eof':
        if (msg.stream === STREAM.stdin) throw violation(`server sent ${describe(msg)}: only the client writes stdin`);
        return;
      case 'window-adjust':
        if (msg.stream !== STREAM.stdin) throw violation(`server sent window-adjust for ${STREAM_NAMES[msg.stream]}: only the client grants its credit`);
        return;
      case 'exit-status':
        this.ended = true;
        return;
    }
  }
}

function describe(msg: Message): string {
  switch (msg.type) {
    case 'data':
    case 'eof':
      return `${msg.type} on ${STREAM_NAMES[msg.stream]}`;
    default:
      return msg.type;
  }
}
