// tlsshctl's command line: kill takes exactly one selector, so that a typed ID never silently
// outranks a --user or --serial the operator also gave (or the reverse), and what goes on the
// wire is what was asked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError, parseCtlArgs, wireRequest } from '../../src/ctl/args';

test('kill takes exactly one of ID, --user and --serial', () => {
  for (const argv of [['kill', '5', '--user', 'bob'], ['kill', '--user', 'a', '--serial', 'AB'], ['kill', '5', '--serial', 'AB'], ['kill']]) {
    assert.throws(() => parseCtlArgs(argv), (e: unknown) => e instanceof UsageError && e.message === 'kill: give exactly one of ID, --user USER, --serial SERIAL', argv.join(' '));
  }
  const byId = parseCtlArgs(['kill', '5']);
  assert.ok(byId.kind === 'request');
  assert.deepEqual(wireRequest(byId.request), { v: 1, op: 'kill', id: 5, message: (byId.request as { message: string }).message });
  const byUser = parseCtlArgs(['kill', '--user', 'bob', '-m', 'bye']);
  assert.ok(byUser.kind === 'request');
  assert.deepEqual(wireRequest(byUser.request), { v: 1, op: 'kill', user: 'bob', message: 'bye' });
});

test('kill refuses what is not a session id, a user or a serial; the other commands take no selector', () => {
  assert.throws(() => parseCtlArgs(['kill', '0']), /not a positive number/);
  assert.throws(() => parseCtlArgs(['kill', '--user', '']), /--user needs a name/);
  assert.throws(() => parseCtlArgs(['kill', '--serial', 'xyz']), /not hexadecimal/);
  assert.throws(() => parseCtlArgs(['sessions', '--user', 'bob']), /belong to kill/);
});
