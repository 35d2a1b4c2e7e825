import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pamDecision } from '../../src/server/pam-session';

const yes = (): { ok: true } => ({ ok: true });
const no = (): { ok: false; why: string } => ({ ok: false, why: 'no libpam' });

test('UsePAM: on for a root daemon where the addon loads', () => {
  assert.deepEqual(pamDecision({ UsePAM: true, origin: { UsePAM: 'default' } }, 0, yes), { on: true });
});

test('UsePAM: off, without refusing, when set to no or when not root', () => {
  assert.deepEqual(pamDecision({ UsePAM: false, origin: {} }, 0, yes), { on: false, why: 'UsePAM no', refuse: false });
  const d = pamDecision({ UsePAM: true, origin: { UsePAM: '/etc/tlssh/tlsshd.conf:3' } }, 1000, yes);
  assert.equal(d.on, false);
  assert.equal(!d.on && d.refuse, false);
});

test('UsePAM without libpam: a default yes is off, an explicit yes is a broken set-up', () => {
  const byDefault = pamDecision({ UsePAM: true, origin: { UsePAM: 'default' } }, 0, no);
  assert.deepEqual(byDefault, { on: false, why: 'no libpam', refuse: false });
  const explicit = pamDecision({ UsePAM: true, origin: { UsePAM: 'command line' } }, 0, no);
  assert.deepEqual(explicit, { on: false, why: 'no libpam', refuse: true });
});
