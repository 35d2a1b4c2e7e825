// One tlssh/2 session from the client's side: the request, the relay of stdin, stdout and
// stderr with flow control, escapes and window changes for PTY sessions, and how it ended.
// Process-wide concerns (exit status, printing the failure, exiting) belong to the caller.

import type { Readable, Writable } from 'node:stream';
import { TlsshError, describeError, isErrorCode } from '../errors';
import { STREAM, type ExitStatus, type Message, type SessionRequest, type StreamId } from '../protocol/messages';
import type { Channel } from '../transport/channel';
import { enterInteractive } from '../jit-tiering';
import { EscapeParser, escapeHelp, showEscapeChar } from './escape-parser';
import type { LocalTerminal, WindowSize } from './local-terminal';
import type { OutputSink } from './local-stdio';
import { interceptInterrupt, markSessionStarted } from './exit-guards';
import { sanitizeRemoteText } from './remote-text';
import { writeStderrLine, type Log } from './stderr-log';

export interface SessionIo {
  /** Local stdin; undefined with -n (stdin from /dev/null: eof is sent at once). */
  input: Readable | undefined;
  openStdout: (onFailure: (err: NodeJS.ErrnoException) => void) => OutputSink;
  openStderr: (onFailure: (err: NodeJS.ErrnoException) => void) => OutputSink;
  /** The local terminal, raw for the session; only for PTY sessions with a terminal on stdin. */
  terminal: LocalTerminal | undefined;
  /** Subscribes to local window changes (PTY sessions); returns an unsubscribe. */
  watchWindow: ((listener: (size: WindowSize) => void) => () => void) | undefined;
  /** The local window size now (PTY sessions), sent again after a suspend. */
  windowSize: (() => WindowSize) | undefined;
}

export interface SessionSetup {
  /** The host connected to (HostName), for messages, as ssh names it. */
  host: string;
  request: SessionRequest;
  /** Escape character, or null when escapes are off (no PTY, or EscapeChar none). */
  escapeChar: number | null;
  io: SessionIo;
  log: Log;
}

export type SessionEnd =
  | { kind: 'exit'; status: ExitStatus }
  /** The user typed ~. */
  | { kind: 'disconnected' }
  | { kind: 'failed'; error: TlsshError };

export interface SessionResult {
  end: SessionEnd;
  /** A local write error that cut output short (EPIPE excluded: a reader may stop reading). */
  outputError: NodeJS.ErrnoException | undefined;
}

function waitWritten(w: Writable): Promise<void> {
  if (w.writableFinished || w.destroyed) return Promise.resolve();
  if (!w.writableEnded) w.end();
  return new Promise((resolve) => {
    w.once('finish', resolve);
    w.once('close', resolve);
    w.once('error', () => resolve());
  });
}

export function runSession(channel: Channel, setup: SessionSetup): Promise<SessionResult> {
  const { host, request, io, log } = setup;
  const debug = log.debug;
  return new Promise((resolve) => {
    let started = false;
    let exitStatus: ExitStatus | undefined;
    let remoteError: TlsshError | undefined;
    let finished = false;
    let outputError: NodeJS.ErrnoException | undefined;
    const sinks: OutputSink[] = [];
    const teardown: Array<() => void> = [];

    const finish = (end: SessionEnd, flush: boolean): void => {
      if (finished) return;
      finished = true;
      for (const fn of teardown.splice(0)) fn();
      // Leave raw mode before anything more is printed, and before waiting on slow readers.
      io.terminal?.restore();
      const flushed = flush ? Promise.all(sinks.map((s) => waitWritten(s.stream))) : Promise.resolve();
      void flushed.then(() => resolve({ end, outputError }));
    };

    // A reader that went away (EPIPE) ends the remote command the way a local pipeline would:
    // with SIGPIPE. Other write errors (a full disk) are reported once the session ends.
    const onOutputFailure = (name: string) => (err: NodeJS.ErrnoException): void => {
      debug?.(`write to ${name} failed: ${err.code ?? err.message}`);
      if (err.code !== 'EPIPE') outputError ??= err;
      if (!channel.isClosed) channel.send({ type: 'signal', name: 'PIPE' });
    };

    const onStarted = (window: number, user: string): void => {
      started = true;
      markSessionStarted();
      debug?.(`session started as ${sanitizeRemoteText(user)}${request.pty ? ' with a pseudo-terminal' : ''} (${Date.now() - requestSentAt} ms after the request)`);
      const stdout = io.openStdout(onOutputFailure('stdout'));
      const stderr = io.openStderr(onOutputFailure('stderr'));
      sinks.push(stdout, stderr);
      // Without a PTY, output is bulk data more often than not: one write per socket read.
      channel.incoming(STREAM.stdout, stdout.stream, { coalesce: !request.pty });
      channel.incoming(STREAM.stderr, stderr.stream, { coalesce: !request.pty });
      io.terminal?.enterRaw();
      if (request.pty) enterInteractive(debug);
      // Without a PTY the remote command has no terminal to get ^C from: pass tlssh's SIGINT on.
      if (!request.pty) teardown.push(interceptInterrupt(() => channel.send({ type: 'signal', name: 'INT' })));
      if (io.watchWindow) {
        teardown.push(io.watchWindow((size) => channel.send({ type: 'window-change', cols: size.cols, rows: size.rows })));
      }
      relayInput(window);
    };

    const relayInput = (window: number): void => {
      const out = channel.outgoing(STREAM.stdin, window);
      out.on('error', () => undefined);
      const input = io.input;
      if (!input) {
        out.end();
        return;
      }
      const escapes = setup.escapeChar === null ? undefined : new EscapeParser(setup.escapeChar);
      const write = (data: Buffer): void => {
        if (data.length === 0 || out.writableEnded) return;
        // Respect the channel's window: stop reading the keyboard or the pipe until it drains.
        if (!out.write(data)) {
          input.pause();
          out.once('drain', () => {
            if (!finished) input.resume();
          });
        }
      };
      const onData = (chunk: Buffer): void => {
        if (!escapes) return write(chunk);
        for (const ev of escapes.push(chunk)) {
          if (finished) return;
          if (ev.kind === 'data') write(ev.data);
          else escapeAction(ev.action);
        }
      };
      const onEnd = (): void => {
        debug?.('stdin reached end of file');
        if (!out.writableEnded) out.end();
      };
      const onError = (err: NodeJS.ErrnoException): void => {
        // An unreadable stdin (closed fd, EIO after hangup) is the end of input, as in ssh.
        debug?.(`reading stdin failed: ${err.code ?? err.message}`);
        onEnd();
      };
      input.on('data', onData);
      input.once('end', onEnd);
      input.on('error', onError);
      teardown.push(() => {
        input.removeListener('data', onData);
        input.removeListener('end', onEnd);
        input.removeListener('error', onError);
        input.pause();
      });
    };

    const escapeAction = (action: 'disconnect' | 'help' | 'suspend'): void => {
      const e = setup.escapeChar ?? 0x7e;
      switch (action) {
        case 'disconnect':
          // ssh's echo of the escape, which the raw terminal did not show.
          writeStderrLine(`${showEscapeChar(e)}.`);
          finish({ kind: 'disconnected' }, false);
          channel.destroy();
          return;
        case 'help':
          // Asked for explicitly, so shown even with -q.
          for (const line of escapeHelp(e)) writeStderrLine(line);
          return;
        case 'suspend': {
          const terminal = io.terminal;
          if (!terminal) return;
          writeStderrLine(`${showEscapeChar(e)}^Z [suspend tlssh]`);
          terminal.suspend(() => {
            // The window may have changed while stopped, with nobody listening for SIGWINCH.
            if (io.windowSize && !finished) channel.send({ type: 'window-change', ...io.windowSize() });
          });
          return;
        }
      }
    };

    const onMessage = (msg: Message): void => {
      if (finished) return;
      switch (msg.type) {
        case 'session-started':
          if (started) return protocolError('second session-started');
          try {
            return onStarted(msg.window, msg.user);
          } catch (err) {
            // A local failure (the terminal refusing raw mode, say) is not the server's fault:
            // keep it out of the channel, which would report it as a protocol violation.
            const error = err instanceof TlsshError ? err : new TlsshError('TLSSH_ERR_TTY', `cannot set up the local terminal: ${describeError(err)}`, { cause: err });
            finish({ kind: 'failed', error }, false);
            channel.destroy();
            return;
          }
        case 'exit-status':
          if (!started) return protocolError('exit-status before session-started');
          exitStatus = msg;
          // The server sends it after the last output and closes; closing our side completes that.
          channel.close();
          return;
        case 'error':
          remoteError = new TlsshError(isErrorCode(msg.code) ? msg.code : 'TLSSH_ERR_REMOTE', sanitizeRemoteText(msg.message));
          return;
        default:
          return protocolError(`unexpected ${msg.type} message`);
      }
    };

    const protocolError = (what: string): void => {
      channel.fail('TLSSH_ERR_PROTOCOL_STATE', `${what} from server`);
    };

    const onEof = (stream: StreamId): void => {
      debug?.(`server sent eof on ${stream === STREAM.stdout ? 'stdout' : stream === STREAM.stderr ? 'stderr' : `stream ${stream}`}`);
    };

    const onClose = (err: TlsshError | undefined): void => {
      // A violation after exit-status (data behind it, say) is still the server breaking the
      // protocol: reported, not hidden behind the exit status.
      const violation = err && err.category === 'protocol' && err.code !== 'TLSSH_ERR_REMOTE';
      if (exitStatus && !violation) return finish({ kind: 'exit', status: exitStatus }, true);
      const error =
        (err && err.code !== 'TLSSH_ERR_CONNECTION_LOST' ? err : undefined) ??
        remoteError ??
        err ??
        new TlsshError('TLSSH_ERR_CONNECTION_LOST', `connection to ${host} closed by remote host, without an exit status`);
      finish({ kind: 'failed', error: sanitized(error) }, true);
    };

    channel.on('message', onMessage);
    channel.on('eof', onEof);
    channel.once('close', onClose);
    teardown.push(() => {
      channel.removeListener('message', onMessage);
      channel.removeListener('eof', onEof);
      channel.removeListener('close', onClose);
    });
    const requestSentAt = Date.now();
    channel.send(request);
  });
}

/** Errors made from a remote error frame carry server text; strip what a terminal would obey. */
function sanitized(err: TlsshError): TlsshError {
  const clean = sanitizeRemoteText(err.message);
  return clean === err.message ? err : new TlsshError(err.code, clean, { cause: err });
}
