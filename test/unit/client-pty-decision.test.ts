import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { applyTtyFlag, decidePty, type TtyRequest } from '../../src/client/pty-decision';

describe('PTY decision (ssh rules)', () => {
  // request, hasCommand, stdinIsTty -> pty, warn
  const table: Array<[TtyRequest, boolean, boolean, boolean, boolean]> = [
    ['auto', false, true, true, false], // interactive login
    ['auto', false, false, false, true], // `echo ls | tlssh host`: warns like ssh
    ['auto', true, true, false, false], // `tlssh host ls` from a terminal
    ['auto', true, false, false, false], // cron
    ['yes', true, true, true, false], // -t with a command
    ['yes', true, false, false, true], // -t without a tty: warning
    ['yes', false, false, false, true],
    ['force', true, false, true, false], // -tt forces
    ['force', false, false, true, false],
    ['no', false, true, false, false], // -T
    ['no', true, true, false, false],
  ];
  for (const [request, hasCommand, stdinIsTty, pty, warnNoTty] of table) {
    it(`${request} command=${hasCommand} tty=${stdinIsTty} -> pty=${pty} warn=${warnNoTty}`, () => {
      assert.deepEqual(decidePty({ request, hasCommand, stdinIsTty }), { pty, warnNoTty });
    });
  }

  it('lets the last of -t / -T win, and a second -t force', () => {
    const fold = (flags: Array<'t' | 'T'>): TtyRequest => flags.reduce<TtyRequest>(applyTtyFlag, 'auto');
    assert.equal(fold(['t']), 'yes');
    assert.equal(fold(['t', 't']), 'force');
    assert.equal(fold(['t', 't', 't']), 'force');
    assert.equal(fold(['t', 'T']), 'no');
    assert.equal(fold(['T', 't']), 'yes');
    assert.equal(fold(['T', 't', 't']), 'force');
  });
});
