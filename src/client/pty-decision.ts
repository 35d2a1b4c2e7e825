// Whether to ask for a remote pseudo-terminal, by ssh(1)'s rules, as a pure function so that the
// whole decision table can be tested without a terminal.

/**
 * What the command line asked for. As in ssh, -t and -T set one value and the last one given
 * wins: -t asks ("yes"), a second -t forces ("force"), -T refuses ("no").
 */
export type TtyRequest = 'auto' | 'no' | 'yes' | 'force';

export function applyTtyFlag(current: TtyRequest, flag: 't' | 'T'): TtyRequest {
  if (flag === 'T') return 'no';
  return current === 'yes' || current === 'force' ? 'force' : 'yes';
}

export interface PtyInputs {
  request: TtyRequest;
  /** A remote command was given. */
  hasCommand: boolean;
  /** Local stdin is a terminal (and not replaced by /dev/null through -n). */
  stdinIsTty: boolean;
}

export interface PtyDecision {
  pty: boolean;
  /** Print ssh's "Pseudo-terminal will not be allocated because stdin is not a terminal." */
  warnNoTty: boolean;
}

export const NO_TTY_WARNING = 'Pseudo-terminal will not be allocated because stdin is not a terminal.';

export function decidePty(inputs: PtyInputs): PtyDecision {
  switch (inputs.request) {
    case 'no':
      return { pty: false, warnNoTty: false };
    case 'force':
      return { pty: true, warnNoTty: false };
    case 'auto':
      // An interactive login (no command) wants a PTY; a command does not.
      if (inputs.hasCommand) return { pty: false, warnNoTty: false };
      break;
    case 'yes':
      break;
  }
  if (!inputs.stdinIsTty) return { pty: false, warnNoTty: true };
  return { pty: true, warnNoTty: false };
}
