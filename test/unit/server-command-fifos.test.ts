// The worker's side of the command pipes (src/server/command-fifos.ts): only FIFOs of our own are
// opened, their names are gone afterwards, and nothing stays open when they are refused.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { closeCommandFifos, FifoStock, openCommandFifos } from '../../src/server/command-fifos';
import { makeTempDir } from '../helpers/ca';

const dir = makeTempDir('tlssh-fifos-unit');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function fifo(name: string): string {
  const p = path.join(dir, name);
  execFileSync('mkfifo', ['-m', '600', p]);
  return p;
}

test('two FIFOs: both ends open, the command\'s blocking, and the names gone', () => {
  const paths = [fifo('out1'), fifo('err1')];
  const f = openCommandFifos(paths);
  assert.ok(f);
  for (const p of paths) assert.equal(fs.existsSync(p), false);
  // What the command's ends write, ours read.
  fs.writeSync(f.stdout.child, 'out');
  fs.writeSync(f.stderr.child, 'err');
  const buf = Buffer.alloc(8);
  assert.equal(buf.toString('latin1', 0, fs.readSync(f.stdout.ours, buf)), 'out');
  assert.equal(buf.toString('latin1', 0, fs.readSync(f.stderr.ours, buf)), 'err');
  // Ours does not block: an empty pipe says EAGAIN.
  assert.throws(() => fs.readSync(f.stdout.ours, buf), { code: 'EAGAIN' });
  closeCommandFifos(f);
});

test('anything but two FIFOs is refused, and nothing stays open', () => {
  const file = path.join(dir, 'plain');
  fs.writeFileSync(file, 'x');
  const link = path.join(dir, 'link');
  const target = fifo('target');
  fs.symlinkSync(target, link);
  const before = openFds();
  assert.equal(openCommandFifos([fifo('out2'), file]), undefined);
  assert.equal(openCommandFifos([link, fifo('err3')]), undefined);
  assert.equal(openCommandFifos([fifo('one'), fifo('two'), fifo('three')]), undefined);
  assert.equal(openCommandFifos(undefined), undefined);
  assert.equal(openFds(), before);
  // The symbolic link was not followed: its target is still there, unopened.
  assert.equal(fs.lstatSync(target).isFIFO(), true);
});

test('the stock: sets of two FIFOs from one mkfifo, all removed at stop', async () => {
  const stockDir = path.join(dir, 'stock');
  const stock = new FifoStock(stockDir, () => undefined);
  stock.start();
  assert.equal(fs.statSync(stockDir).mode & 0o777, 0o700);
  for (let i = 0; i < 100 && stock.available === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const set = stock.take();
  assert.ok(set);
  assert.equal(set.length, 2);
  for (const p of set) assert.equal(fs.lstatSync(p).isFIFO(), true);
  stock.release(set);
  for (const p of set) assert.equal(fs.existsSync(p), false);
  stock.stop();
  assert.deepEqual(fs.readdirSync(stockDir), []);
});
