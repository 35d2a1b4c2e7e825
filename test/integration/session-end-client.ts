// A tlssh/2 client for the session-end tests that records the order of what the server sends
// and can hold back window credit, like a reader that has fallen behind.

import { MessageDecoder, encodeMessage } from '../../src/protocol/codec';
import { LIMITS, type ErrorMessage, type ExitStatus, type Message, type SessionRequest, type StreamId } from '../../src/protocol/messages';
import { connectTestTls, type ClientIdentity } from '../helpers/server-harness';

export interface RecordedSession {
  /** What the server sent, in order, without keepalive and flow-control traffic. */
  order: string[];
  stdout: Buffer;
  stderr: Buffer;
  exit: ExitStatus | undefined;
  error: ErrorMessage | undefined;
  transportError: Error | undefined;
}

export interface RecordOptions {
  request: SessionRequest;
  stdin?: Buffer;
  /** Send end of file on stdin after `stdin`; default true. */
  endStdin?: boolean;
  /** Return no window credit until this resolves: the server must stop at the window. */
  holdCredit?: Promise<void>;
}

export function recordSession(port: number, id: ClientIdentity, o: RecordOptions): Promise<RecordedSession> {
  const socket = connectTestTls(port, id);
  const send = (m: Message): void => {
    if (!socket.destroyed && !socket.writableEnded) socket.write(encodeMessage(m));
  };
  const out: RecordedSession = { order: [], stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exit: undefined, error: undefined, transportError: undefined };
  const chunks: Record<number, Buffer[]> = { 1: [], 2: [] };
  let holding = o.holdCredit !== undefined;
  const owed = new Map<StreamId, number>();
  const credit = (stream: StreamId, bytes: number): void => {
    if (holding) {
      owed.set(stream, (owed.get(stream) ?? 0) + bytes);
      return;
    }
    send({ type: 'window-adjust', stream, bytes });
  };
  void o.holdCredit?.then(() => {
    holding = false;
    for (const [stream, bytes] of owed) if (bytes > 0) send({ type: 'window-adjust', stream, bytes });
    owed.clear();
  });

  socket.on('secureConnect', () => {
    send(o.request);
    const data = o.stdin ?? Buffer.alloc(0);
    for (let off = 0; off < data.length; off += LIMITS.maxDataChunk) {
      send({ type: 'data', stream: 0 as StreamId, data: data.subarray(off, off + LIMITS.maxDataChunk) });
    }
    if (o.endStdin ?? true) send({ type: 'eof', stream: 0 });
  });
  const decoder = new MessageDecoder();
  socket.on('data', (buf: Buffer) => {
    let msgs: Message[];
    try {
      msgs = decoder.push(buf);
    } catch (e) {
      out.transportError = e as Error;
      socket.destroy();
      return;
    }
    for (const m of msgs) {
      switch (m.type) {
        case 'data':
          (chunks[m.stream] ??= []).push(Buffer.from(m.data));
          if (out.order[out.order.length - 1] !== `data ${m.stream}`) out.order.push(`data ${m.stream}`);
          credit(m.stream, m.data.length);
          break;
        case 'ping':
          send({ type: 'pong', cookie: m.cookie });
          break;
        case 'pong':
        case 'window-adjust':
          break;
        case 'eof':
          out.order.push(`eof ${m.stream}`);
          break;
        case 'exit-status':
          out.exit = m;
          out.order.push('exit-status');
          break;
        case 'error':
          out.error = m;
          out.order.push('error');
          break;
        default:
          out.order.push(m.type);
      }
    }
  });
  socket.on('end', () => socket.end());
  socket.on('error', (e) => {
    out.transportError ??= e;
  });
  return new Promise((resolve) => {
    socket.once('close', () => {
      out.stdout = Buffer.concat(chunks[1] ?? []);
      out.stderr = Buffer.concat(chunks[2] ?? []);
      resolve(out);
    });
  });
}
