// tlsshctl: talk to a running tlsshd over its control socket (doc/CONTROL.md).
// Exit status: 0, or 255 with one line on stderr.

import { EXIT_TLSSH_FAILURE, describeError } from '../errors';
import { HELP, USAGE, UsageError, parseCtlArgs, wireRequest } from './args';
import { controlRequest, controlSocketPath } from './client';
import { sessionsTable, statusText } from './format';
import { exitQuietlyOnEpipe } from '../quiet-epipe';
import { terminalSafeJson } from '../terminal-safe-text';
import { guardInspectorSignal } from '../inspector-signal';
import { versionLine } from '../version';
import { DEFAULT_KILL_MESSAGE } from '../server/control-protocol';

guardInspectorSignal();

async function main(argv: readonly string[]): Promise<number> {
  let cmd;
  try {
    cmd = parseCtlArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`tlsshctl: ${e.message}\n${USAGE}\n`);
    return EXIT_TLSSH_FAILURE;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`${versionLine('tlsshctl')}\n`);
    return 0;
  }
  const socket = controlSocketPath(cmd);
  if (cmd.kind === 'top') {
    const { runTop } = await import('./top');
    return runTop(socket);
  }
  const reply = await controlRequest(socket, wireRequest(cmd.request));
  if (cmd.json) process.stdout.write(`${terminalSafeJson(reply)}\n`);
  if (!reply.ok) {
    process.stderr.write(`tlsshctl: ${cmd.request.op}: ${reply.message} (${reply.error})\n`);
    return EXIT_TLSSH_FAILURE;
  }
  if (cmd.json) return 0;
  if ('sessions' in reply) process.stdout.write(sessionsTable(reply.sessions));
  else if ('status' in reply) process.stdout.write(statusText(reply.status));
  else if ('killed' in reply) {
    process.stdout.write(`ended ${reply.killed.length === 1 ? 'session' : 'sessions'} ${reply.killed.join(', ')}\n`);
    const missed = reply.withoutMessage ?? [];
    if (missed.length > 0) {
      process.stderr.write(`tlsshctl: kill: ${missed.length === 1 ? 'session' : 'sessions'} ${missed.join(', ')} started under an earlier tlsshd, and this one has no line to ${missed.length === 1 ? 'its worker' : 'their workers'} to pass your message on: ${missed.length === 1 ? 'its client was' : 'their clients were'} told "${DEFAULT_KILL_MESSAGE}"\n`);
    }
  }
  else process.stdout.write('configuration reloaded\n');
  return 0;
}

exitQuietlyOnEpipe(); // `tlsshctl sessions | head -3`
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`tlsshctl: ${describeError(e)}\n`);
    process.exitCode = EXIT_TLSSH_FAILURE;
  },
);
