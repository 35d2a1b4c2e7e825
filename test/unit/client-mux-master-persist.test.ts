// ControlPersist, as the master's idle timer applies it: "no" ends the master as soon as its last
// session has ended, a number of seconds after it, "yes" never. Driven with mocked timers, so the
// test says which delay the master chose, not how fast a machine is.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { MuxMaster, type MasterOptions, type SharedSessionIo } from '../../src/client/mux-master';
import type { MuxSessionRequest } from '../../src/client/mux-frames';

function masterWith(persist: MasterOptions['persist']): { master: MuxMaster; ended: () => string | undefined } {
  let why: string | undefined;
  const master = new MuxMaster({
    socketPath: '/nonexistent/tlssh-persist-test',
    host: 'h',
    persist,
    confirm: false,
    openSession: () => ({ started: Promise.resolve(), ended: Promise.resolve({ kind: 'exit', status: { code: 0, signal: null } }), abort: () => undefined }),
    log: { info: () => undefined, debug: undefined },
    onEnd: (w) => {
      why = w;
    },
  });
  return { master, ended: () => why };
}

async function oneSession(t: TestContext, master: MuxMaster): Promise<void> {
  const io: SharedSessionIo = { input: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), onWindow: () => undefined, onSignal: () => undefined };
  master.openSession({ command: 'true' } as MuxSessionRequest, io, Promise.resolve());
  // The session's end and the link's are promises; the count drops one setImmediate later.
  for (let i = 0; i < 5; i++) await Promise.resolve();
  t.mock.timers.tick(0);
}

test('ControlPersist no: the master ends once its last session has, without waiting', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
  const { master, ended } = masterWith('no');
  await oneSession(t, master);
  t.mock.timers.tick(0);
  assert.equal(ended(), 'no session for 0 s (ControlPersist)');
});

test('ControlPersist 5: the master ends 5 s after its last session; yes: never', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] });
  const five = masterWith(5);
  await oneSession(t, five.master);
  t.mock.timers.tick(4999);
  assert.equal(five.ended(), undefined);
  t.mock.timers.tick(1);
  assert.equal(five.ended(), 'no session for 5 s (ControlPersist)');
  const forever = masterWith('yes');
  await oneSession(t, forever.master);
  t.mock.timers.tick(10 * 365 * 86_400_000);
  assert.equal(forever.ended(), undefined);
  forever.master.end('test over');
});
