import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { processStartTime } from '../../src/server/login-records';
import type { PamTarget } from '../../src/server/pam-session';
import { PamSessionRegistry } from '../../src/server/pam-session-registry';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-pam-registry-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function registry(dir: string): { reg: PamSessionRegistry; closed: PamTarget[]; logs: string[] } {
  const closed: PamTarget[] = [];
  const logs: string[] = [];
  const reg = new PamSessionRegistry({
    stateDir: dir,
    close: (t) => {
      closed.push({ service: t.service, user: t.user, rhost: t.rhost, tty: t.tty });
      return undefined;
    },
    log: (level, m) => logs.push(`${level}: ${m}`),
    pollMs: 10,
  });
  return { reg, closed, logs };
}

const target: PamTarget = { service: 'tlsshd', user: 'alice', rhost: '192.0.2.1', tty: 'ssh' };

test('a session is closed once, with the terminal it got, when its worker ends', () => {
  const dir = path.join(tmp, 'a');
  const { reg, closed } = registry(dir);
  reg.opened(process.pid, target);
  assert.ok(fs.existsSync(path.join(dir, `${process.pid}.json`)));
  reg.setTty(process.pid, '/dev/pts/7');
  reg.ended(process.pid);
  reg.ended(process.pid);
  assert.deepEqual(closed, [{ ...target, tty: '/dev/pts/7' }]);
  assert.equal(fs.existsSync(path.join(dir, `${process.pid}.json`)), false);
});

test('a worker without a PAM session closes nothing', () => {
  const { reg, closed } = registry(path.join(tmp, 'b'));
  reg.ended(12345);
  assert.deepEqual(closed, []);
});

test('a later listener closes sessions whose worker is gone, watches live ones, skips junk', async () => {
  const dir = path.join(tmp, 'c');
  fs.mkdirSync(dir, { recursive: true });
  const live = { ...target, user: 'live', pid: process.pid, startTime: processStartTime(process.pid) };
  // Same pid, other start time: a recycled pid, so that session is over.
  const recycled = { ...target, user: 'gone', pid: process.ppid, startTime: '1' };
  fs.writeFileSync(path.join(dir, `${live.pid}.json`), JSON.stringify(live));
  fs.writeFileSync(path.join(dir, `${recycled.pid}.json`), JSON.stringify(recycled));
  fs.writeFileSync(path.join(dir, '99999.json'), '{"pid": "1; rm -rf /"}');
  const { reg, closed, logs } = registry(dir);
  reg.adoptOrphans();
  try {
    assert.deepEqual(closed.map((t) => t.user), ['gone']);
    assert.ok(logs.some((l) => /^error: ignoring unreadable PAM session record 99999\.json/.test(l)));
    assert.ok(logs.some((l) => /watching PAM session of live/.test(l)));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(closed.map((t) => t.user), ['gone'], 'the live one stays open while its process runs');
    reg.ended(process.pid);
    assert.deepEqual(closed.map((t) => t.user), ['gone', 'live']);
  } finally {
    reg.stop();
  }
});
