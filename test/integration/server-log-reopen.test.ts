// A reload (SIGHUP, as logrotate's postrotate sends it, or tlsshctl reload) opens LogFile again by
// name, so that lines go to the new file and not to the one moved away; it applies a changed
// LogFile and the listener's LogLevel too. A real daemon logging to a file.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, loginUser, makeServerFixture, runCommand, startTlsshd, type ServerFixture, type TlsshdHandle } from '../helpers/server-harness';

let fx: ServerFixture;
let d: TlsshdHandle;
let port: number;
const me = loginUser();
const logA = (): string => path.join(fx.dir, 'a.log');
const logB = (): string => path.join(fx.dir, 'b.log');

const read = (file: string): string => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');

/** Waits until `file` holds `re` `count` times (more lines may be on their way). */
async function waitIn(file: string, re: RegExp, count = 1): Promise<string> {
  const all = new RegExp(re.source, `${re.flags.replace('g', '')}g`);
  for (let i = 0; i < 200; i++) {
    const text = read(file);
    if ((text.match(all) ?? []).length >= count) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  return assert.fail(`${file}: no ${count} x ${re} in:\n${read(file)}`);
}

/** One login; resolves once its worker has logged the session's end. */
async function login(file: string, marker: string): Promise<void> {
  const before = (read(file).match(/session closed: exit status 0/g) ?? []).length;
  const r = await runCommand(port, fx.client(me.name), `echo ${marker}`);
  assert.equal(r.stdout.toString(), `${marker}\n`, JSON.stringify(r.error));
  await waitIn(file, /session closed: exit status 0/, before + 1);
}

/** Adds lines to the daemon's config (the later line wins), sends SIGHUP and waits for its verdict in `file`. */
async function reloadWith(lines: string, file: string, verdict: RegExp): Promise<void> {
  fs.appendFileSync(d.configFile, lines);
  process.kill(d.pid, 'SIGHUP');
  await waitIn(file, verdict);
}

before(async () => {
  fx = makeServerFixture('tlsshd-log-reopen');
  port = await freePort();
  d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config, Port: String(port), LogFile: logA(), LogLevel: 'INFO' } });
  await waitIn(logA(), /listening on 127\.0\.0\.1:/);
});

after(async () => {
  await d?.stop();
  if (fx) fs.rmSync(fx.dir, { recursive: true, force: true });
});

test('after logrotate moves LogFile away and sends SIGHUP, the listener and new workers write to a new file', async () => {
  await login(logA(), 'first');
  fs.renameSync(logA(), `${logA()}.1`);
  process.kill(d.pid, 'SIGHUP');
  await waitIn(logA(), /configuration reloaded/);
  assert.equal(fs.statSync(logA()).mode & 0o777, 0o600);
  // A warm worker made after the reload takes this login: its lines are in the new file too.
  await login(logA(), 'second');
  assert.match(read(logA()), /user \S+ from 127\.0\.0\.1 port \d+: session closed: exit status 0/);
  assert.doesNotMatch(read(`${logA()}.1`), /configuration reloaded/);
  assert.equal((read(`${logA()}.1`).match(/session closed/g) ?? []).length, 1, 'the moved file got only the first session');
});

test('a reload the new configuration fails still opens the moved log again, and keeps the rest', async () => {
  fs.renameSync(logA(), `${logA()}.2`);
  await reloadWith('NoSuchKeyword 1\n', logA(), /SIGHUP: keeping the old configuration: .*NoSuchKeyword/);
  await login(logA(), 'third');
  assert.equal((read(`${logA()}.2`).match(/session closed/g) ?? []).length, 1);
  // Back to a configuration that loads.
  fs.writeFileSync(d.configFile, read(d.configFile).replace('NoSuchKeyword 1\n', ''));
});

test('a changed LogFile is used from the reload on, and a changed LogLevel applies to the listener too', async () => {
  // At INFO the listener does not log which worker took a connection.
  assert.doesNotMatch(read(logA()), /-> worker \d+/);
  await reloadWith(`LogFile ${logB()}\nLogLevel VERBOSE\n`, logB(), /configuration reloaded/);
  const before = read(logA());
  await login(logB(), 'fourth');
  assert.match(read(logB()), /connection #\d+ from 127\.0\.0\.1 port \d+ -> worker \d+/);
  assert.equal(read(logA()), before, 'nothing more in the old LogFile');
});

test('a LogFile that cannot be opened refuses the reload, and logging goes on where it was', async () => {
  await reloadWith(`LogFile ${path.join(fx.dir, 'no-such-dir', 'c.log')}\n`, logB(), /SIGHUP: keeping the old configuration: .*no-such-dir.*cannot open for logging/);
  await login(logB(), 'fifth');
  // The log was opened again all the same (logrotate), so the warm workers were replaced; at
  // VERBOSE the log says it was for that, not for a configuration it did not take.
  await waitIn(logB(), /reload: \d+ warm worker\(s\) set up before the log was opened again retired/);
});
