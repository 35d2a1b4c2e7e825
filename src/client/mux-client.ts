// The light side of connection sharing: one session relayed through the master at ControlPath.
// No TLS, TPM or protocol codec here: stdin, stdout, stderr, window changes, Ctrl-C and the exit
// status travel as local frames (mux-frames.ts, doc/MUX.md). The terminal, the escapes and the
// exit status follow the direct client's rules; `~.` ends only this session.

import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import * as tty from 'node:tty';
import { EXIT_TLSSH_FAILURE } from '../errors';
import type { ClientArgs } from './cli-args';
import { EscapeParser, escapeHelp, parseEscapeChar, showEscapeChar } from './escape-parser';
import { interceptInterrupt, markSessionStarted } from './exit-guards';
import { remoteExitCode } from './exit-status';
import { openInput, openOutput, type OutputSink } from './local-stdio';
import type { LocalTerminal, WindowSize } from './local-terminal';
import {
  MUX, MUX_VERSION, MuxDecoder, encodeFrame, encodeJson, encodeWindow, parseExit, parseFailure, parseReply,
  type MuxFrame, type MuxHello,
} from './mux-frames';
import { NO_TTY_WARNING, decidePty } from './pty-decision';
import { sanitizeRemoteText } from './remote-text';
import { enterInteractive, noteRelayed } from '../jit-tiering';
import { selectEnv } from './send-env';
import { writeStderrLine, type Log } from './stderr-log';
import { localTerminalModes } from './terminal-modes';

export interface SharedSessionSettings {
  HostName: string;
  EscapeChar: string;
  RequestTTY: 'auto' | 'no' | 'yes' | 'force';
  SendEnv: readonly string[];
}

export async function runSharedSession(
  socket: Socket,
  socketPath: string,
  args: ClientArgs,
  cfg: SharedSessionSettings,
  env: NodeJS.ProcessEnv,
  log: Log,
  /** The token given to a master this client started (ControlMaster ask does not ask about it). */
  own?: string,
): Promise<number> {
  const debug = log.debug;
  const stdinIsTty = !args.stdinNull && tty.isatty(0);
  const decision = decidePty({ request: args.ttyRequest === 'auto' ? cfg.RequestTTY : args.ttyRequest, hasCommand: args.command !== '', stdinIsTty });
  if (decision.warnNoTty) log.info(NO_TTY_WARNING);
  const pty = decision.pty;
  const escapeChar = pty ? parseEscapeChar(cfg.EscapeChar) : null;
  let terminalMod: typeof import('./local-terminal') | undefined;
  if (pty) terminalMod = await import('./local-terminal');
  const size: WindowSize = terminalMod ? terminalMod.windowSize() : { cols: 0, rows: 0 };
  // Before raw mode; the master drops them when its server speaks only tlssh/2.
  const modes = pty && stdinIsTty ? localTerminalModes(debug) : undefined;
  const hello: MuxHello = {
    v: MUX_VERSION,
    op: 'session',
    session: {
      command: args.command,
      subsystem: args.subsystem,
      pty,
      term: pty ? (env['TERM'] ?? '') : '',
      cols: size.cols,
      rows: size.rows,
      env: selectEnv(cfg.SendEnv, env).slice(0, 256),
      ...(modes ? { modes } : {}),
    },
    ...(own !== undefined ? { own } : {}),
  };
  debug?.(`shared session through the master at ${socketPath}${pty ? ' with a pseudo-terminal' : ''}`);
  socket.setNoDelay?.(true);
  socket.write(encodeJson(MUX.hello, hello));

  return new Promise((resolve) => {
    const decoder = new MuxDecoder();
    let started = false;
    let done = false;
    const sinks: OutputSink[] = [];
    const teardown: Array<() => void> = [];
    let input: Readable | undefined;
    let terminal: LocalTerminal | undefined;

    /** `line` is an error, always shown; `info` one (ssh's "Shared connection closed") -q and LogLevel hide. */
    const finish = (status: number, line?: string, info?: string): void => {
      if (done) return;
      done = true;
      for (const fn of teardown.splice(0)) fn();
      terminal?.restore();
      // A sink calls back only once its bytes have left the process, so with nothing pending all
      // output is out: tlssh exits now, and the kernel closes the socket on the way. Destroying
      // it and ending the sinks first cost ~1 ms of every `tlssh host cmd` through a master.
      const say = (): void => {
        if (line) writeStderrLine(line);
        if (info) log.info(info);
      };
      if (sinks.every((s) => s.stream.destroyed || s.stream.writableLength === 0)) {
        say();
        return resolve(status);
      }
      socket.destroy();
      const flushed = Promise.all(sinks.map((s) => new Promise<void>((r) => {
        const w = s.stream;
        if (w.writableFinished || w.destroyed) return r();
        w.end();
        w.once('finish', () => r());
        w.once('close', () => r());
        w.once('error', () => r());
      })));
      void flushed.then(() => {
        say();
        resolve(status);
      });
    };

    const onOutputFailure = (name: string) => (err: NodeJS.ErrnoException): void => {
      debug?.(`write to ${name} failed: ${err.code ?? err.message}`);
      // As the direct client: a reader that went away ends the remote command with SIGPIPE.
      if (!socket.destroyed) socket.write(encodeFrame(MUX.signal, 'PIPE'));
    };

    const onStarted = (): void => {
      started = true;
      markSessionStarted();
      const stdout = openOutput(1, onOutputFailure('stdout'));
      const stderr = openOutput(2, onOutputFailure('stderr'));
      sinks.push(stdout, stderr);
      if (pty) input = args.stdinNull ? undefined : openInput();
      if (terminalMod && stdinIsTty && input) {
        terminal = new terminalMod.LocalTerminal(input as tty.ReadStream);
        terminal.enterRaw();
      }
      // As in the direct client (session.ts): the relay's code stays at baseline until bulk flows.
      if (pty) enterInteractive(debug);
      if (!pty) teardown.push(interceptInterrupt(() => socket.write(encodeFrame(MUX.signal, 'INT'))));
      if (terminalMod) {
        teardown.push(terminalMod.onWindowChange((s) => socket.write(encodeWindow(s.cols, s.rows))));
      }
      if (pty) relayInput();
    };

    const relayInput = (): void => {
      const source = input;
      if (!source) {
        socket.write(encodeFrame(MUX.stdinEof));
        return;
      }
      const escapes = escapeChar === null ? undefined : new EscapeParser(escapeChar);
      const write = (data: Buffer): void => {
        noteRelayed(data.length);
        for (let off = 0; off < data.length; off += 32 * 1024) {
          if (!socket.write(encodeFrame(MUX.stdin, data.subarray(off, off + 32 * 1024)))) {
            source.pause();
            socket.once('drain', () => {
              if (!done) source.resume();
            });
          }
        }
      };
      const onData = (chunk: Buffer): void => {
        if (!escapes) return write(chunk);
        for (const ev of escapes.push(chunk)) {
          if (done) return;
          if (ev.kind === 'data') write(ev.data);
          else escapeAction(ev.action);
        }
      };
      const onEnd = (): void => {
        debug?.('stdin reached end of file');
        if (!done) socket.write(encodeFrame(MUX.stdinEof));
      };
      source.on('data', onData);
      source.once('end', onEnd);
      source.on('error', onEnd);
      teardown.push(() => {
        source.removeListener('data', onData);
        source.removeListener('end', onEnd);
        source.removeListener('error', onEnd);
        source.pause();
      });
    };

    const escapeAction = (action: 'disconnect' | 'help' | 'suspend'): void => {
      const e = escapeChar ?? 0x7e;
      if (action === 'disconnect') {
        // Closing our socket is the whole message: the master ends this session only.
        writeStderrLine(`${showEscapeChar(e)}.`);
        finish(EXIT_TLSSH_FAILURE, undefined, `Shared connection to ${cfg.HostName} closed.`);
      } else if (action === 'help') {
        for (const line of escapeHelp(e, true)) writeStderrLine(line);
      } else if (terminal && terminalMod) {
        const mod = terminalMod;
        writeStderrLine(`${showEscapeChar(e)}^Z [suspend tlssh]`);
        terminal.suspend(() => {
          if (!done) {
            const s = mod.windowSize();
            socket.write(encodeWindow(s.cols, s.rows));
          }
        });
      }
    };

    const onFrame = (f: MuxFrame): void => {
      switch (f.type) {
        case MUX.reply: {
          if (started) throw new Error('a second reply');
          const r = parseReply(f.payload);
          if (!r.ok) return finish(EXIT_TLSSH_FAILURE, `tlssh: ${sanitizeRemoteText(r.message)}`);
          debug?.(`shared session started by master pid ${r.pid}`);
          return onStarted();
        }
        case MUX.stdout:
        case MUX.stderr: {
          if (!started) throw new Error('output before the session started');
          const sink = sinks[f.type === MUX.stdout ? 0 : 1]!;
          // Our reader sets the pace: stop reading the master until the bytes are out.
          if (!sink.stream.write(Buffer.from(f.payload))) {
            socket.pause();
            sink.stream.once('drain', () => socket.resume());
          }
          return;
        }
        case MUX.exit: {
          const status = parseExit(f.payload);
          debug?.(status.code !== null ? `exit status ${status.code}` : `killed by signal ${status.signal}`);
          return finish(remoteExitCode({ type: 'exit-status', coreDumped: false, ...status }), undefined, pty ? `Shared connection to ${cfg.HostName} closed.` : undefined);
        }
        case MUX.failure: {
          const failure = parseFailure(f.payload);
          return finish(EXIT_TLSSH_FAILURE, `tlssh: ${sanitizeRemoteText(failure.message)}${log.verbosity > 0 ? ` (${failure.code})` : ''}`);
        }
        default:
          throw new Error(`frame type 0x${f.type.toString(16)} from the master`);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      noteRelayed(chunk.length);
      try {
        for (const f of decoder.push(chunk)) {
          if (done) return;
          onFrame(f);
        }
      } catch (err) {
        finish(EXIT_TLSSH_FAILURE, `tlssh: bad data from the master at ${socketPath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      finish(EXIT_TLSSH_FAILURE, `tlssh: the connection-sharing master at ${socketPath} went away; ${started ? 'session ended' : 'no session'}`);
    });
    // Without a terminal, stdin goes right behind the hello (the master holds it until the session
    // is confirmed): a command that reads its stdin, as Ansible's pipelined modules do, does not
    // wait a round trip to the server and back for the reply first. With a terminal, input waits:
    // raw mode and the escapes start with the session.
    if (!pty) {
      input = args.stdinNull ? undefined : openInput();
      relayInput();
    }
  });
}
