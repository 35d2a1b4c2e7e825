import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { SessionView } from '../../src/server/control-protocol';
import { SessionViewsStore } from '../../src/server/session-views-store';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-views-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const view = (pid: number): SessionView => ({ id: 3, pid, user: 'alice', remote: '192.0.2.7 port 1', started: new Date().toISOString(), bytesIn: 0, bytesOut: 0, idle: 0 });

function store(name: string): { dir: string; s: SessionViewsStore; errors: string[] } {
  const dir = path.join(tmp, name);
  const errors: string[] = [];
  return { dir, s: new SessionViewsStore(dir, (level, m) => void (level === 'error' && errors.push(m))), errors };
}

test('a record of a process that is not a tlsshd worker (this test runner) is not adopted, and is removed', () => {
  const { dir, s } = store('a');
  s.save(process.pid, view(process.pid), ['MIIB']);
  const file = path.join(dir, `${process.pid}.json`);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(s.adopt().size, 0);
  assert.equal(fs.existsSync(file), false);
});

test('a forged record whose pid does not match its file name, or garbage, is dropped', () => {
  const { dir, s } = store('b');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.writeFileSync(path.join(dir, '1.json'), JSON.stringify({ view: view(process.pid), startTime: '1' }));
  fs.writeFileSync(path.join(dir, '2.json'), 'not json');
  assert.equal(s.adopt().size, 0);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a directory others can write is not read at all', () => {
  const { dir, s, errors } = store('c');
  fs.mkdirSync(dir);
  fs.chmodSync(dir, 0o777);
  fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ view: view(process.pid), startTime: '1' }));
  assert.equal(s.adopt().size, 0);
  assert.equal(errors.length, 1);
  assert.match(errors[0] ?? '', /not adopting earlier sessions/);
});

test('a symlink planted at the temporary name is not written through', () => {
  const { dir, s } = store('d');
  fs.mkdirSync(dir, { mode: 0o700 });
  const victim = path.join(tmp, 'victim');
  fs.writeFileSync(victim, 'precious\n');
  fs.symlinkSync(victim, path.join(dir, `.${process.pid}.tmp`));
  s.save(process.pid, view(process.pid), undefined);
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
  assert.ok(fs.lstatSync(path.join(dir, `${process.pid}.json`)).isFile());
});
