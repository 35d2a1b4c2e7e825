// Entry point of bin/tlssh. Kept tiny: the exit guards go in before anything can touch the
// terminal, and the connection machinery loads only once the command line asks for it, so
// --help, -V and usage errors answer at once.

import { setComm } from '../process-title';
import { parseArgs } from './cli-args';
import { exitNow, installExitGuards } from './exit-guards';
import { writeStderrLine } from './stderr-log';
import { guardInspectorSignal } from '../inspector-signal';
import { versionLine } from '../version';

guardInspectorSignal();

// comm is "node" otherwise: `pgrep -x tlssh` and `ps -C tlssh` look for this.
setComm('tlssh');
let verbosity = 0;
installExitGuards({ verbosity: () => verbosity });

const parsed = parseArgs(process.argv.slice(2), versionLine('tlssh'));
if (parsed.kind === 'exit') {
  if (parsed.stdout) process.stdout.write(parsed.stdout);
  if (parsed.stderr) writeStderrLine(parsed.stderr.replace(/\n$/, ''));
  exitNow(parsed.status);
} else {
  const args = parsed.args;
  // ssh says when X11 forwarding does not happen; tlssh has none, so asking for it gets the
  // same kind of line (-q, or else the first -o LogLevel, silences it; the configuration files are
  // not read yet).
  const isLogLevel = (o: { statement: string }): boolean => /^\s*loglevel\b/i.test(o.statement);
  const level = (args.flagOverrides.filter(isLogLevel).pop() ?? args.overrides.find(isLogLevel))?.statement ?? '';
  const quiet = /quiet\s*$/i.test(level);
  if (args.x11 && !args.dumpConfig && !args.controlCommand && !quiet) writeStderrLine('tlssh: X11 forwarding is not supported; the session goes on without it');
  const onVerbosity = (v: number): void => {
    verbosity = v;
  };
  // Read once: a direct connection uses what the route read (the full bundle would read it again).
  let config: import('../config/types').ClientConfig | undefined;
  // Connection sharing is decided first, with only the configuration loaded: a session through
  // a master never loads TLS, the TPM addon or the protocol codec (mux-route.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runThroughMaster } = require('./mux-route') as typeof import('./mux-route');
  void runThroughMaster({ args, env: process.env, argv: process.argv.slice(2), onVerbosity, onConfig: (c) => { config = c; } })
    .then((shared) => {
      if (shared !== undefined) return shared;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { runClient } = require('./run-client') as typeof import('./run-client');
      return runClient({ args, env: process.env, onVerbosity, ...(config ? { config } : {}) });
    })
    .then((status) => exitNow(status));
}
