// UsePAM with the real modules: a root daemon whose PAMServiceName is a test-only stack in
// /etc/pam.d, so nothing here touches the machine's /etc/nologin, limits.conf or environment
// (other test runs share this machine). Users are throw-away "pamt-*" accounts.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import {
  connectClient, createTestUser, isRoot, makeServerFixture, runCommand, sessionRequest, startTlsshd, writeConfig,
  type ClientIdentity, type ServerFixture, type TestUser, type TlsshdHandle,
} from '../helpers/server-harness';
import { pollUntil } from '../helpers/poll';

const skip = isRoot ? false : 'needs root: creates system users and a PAM service in /etc/pam.d';
if (!isRoot) process.stderr.write('# server-pam: skipped, not running as root\n');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const tag = randomBytes(3).toString('hex');
const SERVICE = `tlsshd-pamt-${tag}`;
const SHIPPED = `tlsshd-pamt-shipped-${tag}`;

let fx: ServerFixture;
let dir: string;
let user: TestUser;
let expired: TestUser;
let mustChange: TestUser;
let daemon: TlsshdHandle;
let shipped: TlsshdHandle;
const id: Record<string, ClientIdentity> = {};

const MOTD = `pamt motd ${tag}`;
const NOLOGIN = `pamt: down for maintenance ${tag}`;

before(async () => {
  if (!isRoot) return;
  fx = makeServerFixture('tlsshd-pam');
  dir = path.join(fx.dir, 'pam');
  fs.mkdirSync(dir, { mode: 0o755 });
  user = createTestUser('pamt');
  expired = createTestUser('pamt');
  mustChange = createTestUser('pamt');
  execFileSync('chage', ['-E', '0', expired.name]);
  execFileSync('chage', ['-d', '0', mustChange.name]);

  fs.writeFileSync(path.join(dir, 'limits.conf'), `${user.name} - nofile 777\n`);
  fs.writeFileSync(path.join(dir, 'environment'), `PAMT_FROM_ENVFILE=envfile-${tag}\n`);
  fs.writeFileSync(path.join(dir, 'pam_env.conf'), `PAMT_FROM_CONF DEFAULT=conf-${tag}\n`);
  fs.writeFileSync(path.join(dir, 'motd'), `${MOTD}\n`);
  fs.writeFileSync(path.join(dir, 'access.conf'), '');
  // Records every open and close with who ran it, to see the close comes from a root process.
  const events = path.join(dir, 'events');
  fs.writeFileSync(path.join(dir, 'record.sh'), `#!/bin/sh\necho "$PAM_TYPE $PAM_USER $PAM_RHOST $PAM_TTY uid=$(id -u)" >> ${events}\n`, { mode: 0o755 });
  // A session module that fails while the flag file exists.
  fs.writeFileSync(path.join(dir, 'session-check.sh'), `#!/bin/sh\n[ "$PAM_TYPE" != open_session ] || [ ! -e ${path.join(dir, 'fail-session')} ]\n`, { mode: 0o755 });
  fs.writeFileSync(`/etc/pam.d/${SERVICE}`, [
    '@include common-auth',
    `account required pam_nologin.so file=${path.join(dir, 'nologin')}`,
    `account required pam_access.so accessfile=${path.join(dir, 'access.conf')}`,
    '@include common-account',
    `session required pam_exec.so quiet ${path.join(dir, 'session-check.sh')}`,
    'session required pam_loginuid.so',
    `session required pam_limits.so conf=${path.join(dir, 'limits.conf')}`,
    `session required pam_env.so envfile=${path.join(dir, 'environment')} conffile=${path.join(dir, 'pam_env.conf')}`,
    `session optional pam_motd.so motd=${path.join(dir, 'motd')} noupdate`,
    `session optional pam_exec.so quiet ${path.join(dir, 'record.sh')}`,
    '@include common-session',
    '',
  ].join('\n'));
  fs.copyFileSync(path.join(ROOT, 'etc', 'pam.d', 'tlsshd'), `/etc/pam.d/${SHIPPED}`);

  daemon = await startTlsshd({ dir: fx.dir, config: { ...fx.config, PermitRootLogin: 'yes', PAMServiceName: SERVICE } });
  shipped = await startTlsshd({ dir: fx.dir, config: { ...fx.config, PAMServiceName: SHIPPED } });
  for (const u of [user, expired, mustChange]) id[u.name] = fx.client(u.name);
  id['root'] = fx.client('root');
});

after(async () => {
  await daemon?.stop();
  await shipped?.stop();
  for (const u of [user, expired, mustChange]) u?.remove();
  for (const s of [SERVICE, SHIPPED]) fs.rmSync(`/etc/pam.d/${s}`, { force: true });
});

const until = <T>(what: string, fn: () => T | undefined): Promise<T> => pollUntil(what, fn, { limitMs: 15_000 });

test('pam_env: variables from envfile= and conffile= reach the session', { skip }, async () => {
  const r = await runCommand(daemon.port, id[user.name]!, 'echo "$PAMT_FROM_ENVFILE $PAMT_FROM_CONF"');
  assert.equal(r.error, undefined);
  assert.equal(r.stdout.toString().trim(), `envfile-${tag} conf-${tag}`);
});

test('pam_limits: a limits.conf line is what ulimit shows in the session', { skip }, async () => {
  const r = await runCommand(daemon.port, id[user.name]!, 'ulimit -n');
  assert.equal(r.stdout.toString().trim(), '777');
  // On a terminal too (the PTY spawn goes another way).
  const p = await runCommand(daemon.port, id[user.name]!, 'ulimit -n', { pty: true, term: 'dumb' });
  assert.equal(p.stdout.toString().trim(), '777');
});

test('pam_loginuid: the session is attributed to the user (auditd)', { skip }, async () => {
  const r = await runCommand(daemon.port, id[user.name]!, 'cat /proc/self/loginuid');
  assert.equal(r.stdout.toString().trim(), String(user.uid));
});

test('an expired account (chage -E 0) is refused with the module\'s text', { skip }, async () => {
  const r = await runCommand(daemon.port, id[expired.name]!, 'echo should-not-run');
  assert.equal(r.error?.code, 'TLSSH_ERR_PAM_ACCOUNT');
  assert.match(r.error?.message ?? '', /expired/i);
  assert.equal(r.started, undefined);
  assert.equal(r.stdout.toString(), '');
});

test('a password that must be changed is refused: there is no prompt to change it', { skip }, async () => {
  const r = await runCommand(daemon.port, id[mustChange.name]!, 'echo should-not-run');
  assert.equal(r.error?.code, 'TLSSH_ERR_PAM_ACCOUNT');
  assert.match(r.error?.message ?? '', /password change required/);
  assert.equal(r.stdout.toString(), '');
});

test('pam_nologin: a non-root user is refused and reads the nologin text; root still logs in', { skip }, async () => {
  const nologin = path.join(dir, 'nologin');
  fs.writeFileSync(nologin, `${NOLOGIN}\nsecond line ${tag}\n`);
  try {
    const r = await runCommand(daemon.port, id[user.name]!, 'echo should-not-run');
    assert.equal(r.error?.code, 'TLSSH_ERR_PAM_ACCOUNT');
    assert.match(r.error?.message ?? '', new RegExp(`${NOLOGIN} second line ${tag}`));
    assert.equal(r.stdout.toString(), '');
    const root = await runCommand(daemon.port, id['root']!, 'echo root-in');
    assert.equal(root.error, undefined);
    assert.equal(root.stdout.toString().trim(), 'root-in');
  } finally {
    fs.rmSync(nologin, { force: true });
  }
  const again = await runCommand(daemon.port, id[user.name]!, 'echo back');
  assert.equal(again.stdout.toString().trim(), 'back');
});

test('pam_access: an access.conf line refuses the user', { skip }, async () => {
  const access = path.join(dir, 'access.conf');
  fs.writeFileSync(access, `-:${user.name}:ALL\n`);
  try {
    const r = await runCommand(daemon.port, id[user.name]!, 'echo should-not-run');
    assert.equal(r.error?.code, 'TLSSH_ERR_PAM_ACCOUNT');
    assert.equal(r.stdout.toString(), '');
    const root = await runCommand(daemon.port, id['root']!, 'echo root-in');
    assert.equal(root.stdout.toString().trim(), 'root-in');
  } finally {
    fs.writeFileSync(access, '');
  }
});

test('a session module that fails refuses the login before anything runs', { skip }, async () => {
  const flag = path.join(dir, 'fail-session');
  fs.writeFileSync(flag, '');
  try {
    const r = await runCommand(daemon.port, id[user.name]!, 'echo should-not-run');
    assert.equal(r.error?.code, 'TLSSH_ERR_PAM_SESSION');
    assert.equal(r.started, undefined);
    assert.equal(r.stdout.toString(), '');
  } finally {
    fs.rmSync(flag, { force: true });
  }
});

test('credentials that PAM cannot establish (pam_setcred) refuse the login before anything runs, as sshd', { skip }, async () => {
  // pam_deny's credentials step always fails; pam_setcred is the only auth call tlsshd makes
  // (the certificate is the authentication), so its account and session stacks would pass.
  const service = `${SERVICE}-nocred`;
  fs.writeFileSync(`/etc/pam.d/${service}`, ['auth required pam_deny.so', '@include common-account', '@include common-session', ''].join('\n'));
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, PAMServiceName: service } });
  try {
    const r = await runCommand(d.port, id[user.name]!, 'echo should-not-run');
    assert.equal(r.error?.code, 'TLSSH_ERR_PAM_SESSION');
    assert.match(r.error?.message ?? '', new RegExp(`pam_setcred for ${user.name}`));
    assert.equal(r.started, undefined);
    assert.equal(r.stdout.toString(), '');
    await d.waitForLog(new RegExp(`pam_setcred for ${user.name}`));
  } finally {
    await d.stop();
    fs.rmSync(`/etc/pam.d/${service}`, { force: true });
  }
});

test('motd is shown at an interactive login on a terminal, not for a command', { skip }, async () => {
  const s = connectClient(daemon.port, id[user.name]!, sessionRequest({ command: '', pty: true, term: 'dumb' }));
  await s.waitForStdout((o) => o.includes(MOTD));
  s.write('exit\n');
  const r = await s.result;
  assert.equal(r.exit?.code, 0);
  const cmd = await runCommand(daemon.port, id[user.name]!, 'echo cmd', { pty: true, term: 'dumb' });
  assert.doesNotMatch(cmd.stdout.toString(), new RegExp(MOTD));
  // ~/.hushlogin quiets it, as with sshd.
  fs.writeFileSync(path.join(user.home, '.hushlogin'), '');
  try {
    const q = connectClient(daemon.port, id[user.name]!, sessionRequest({ command: '', pty: true, term: 'dumb' }));
    await q.waitFor('session-started');
    q.write('echo "marker-$((6*7))"; exit\n');
    const out = await q.waitForStdout((o) => o.includes('marker-42'));
    assert.doesNotMatch(out, new RegExp(MOTD));
    await q.result;
  } finally {
    fs.rmSync(path.join(user.home, '.hushlogin'), { force: true });
  }
});

test('the session is opened as root before the drop and closed by a root process, with the tty', { skip }, async () => {
  const events = path.join(dir, 'events');
  fs.rmSync(events, { force: true });
  const s = connectClient(daemon.port, id[user.name]!, sessionRequest({ command: 'tty; exit 3', pty: true, term: 'dumb' }));
  const r = await s.result;
  assert.equal(r.exit?.code, 3);
  const line = /\/dev\/pts\/\d+/.exec(r.stdout.toString())?.[0];
  assert.ok(line, r.stdout.toString());
  // Sessions of earlier tests may still be closing: wait for this one's line.
  const log = await until('the close_session event', () => {
    const text = fs.existsSync(events) ? fs.readFileSync(events, 'utf8') : '';
    return text.includes(`close_session ${user.name} 127.0.0.1 ${line} `) ? text : undefined;
  });
  assert.match(log, new RegExp(`^open_session ${user.name} 127\\.0\\.0\\.1 ssh uid=0$`, 'm'));
  assert.match(log, new RegExp(`^close_session ${user.name} 127\\.0\\.0\\.1 ${line} uid=0$`, 'm'));
});

test('a session that outlives a listener restart is closed through PAM by the next listener', { skip }, async () => {
  const events = path.join(dir, 'events');
  const config = { ...fx.config, PAMServiceName: SERVICE, RuntimeDir: path.join(fx.dir, 'run-restart') };
  const first = await startTlsshd({ dir: fx.dir, config });
  fs.rmSync(events, { force: true });
  // As root: no other test's session can write a close_session line for root meanwhile.
  const s = connectClient(first.port, id['root']!, sessionRequest({ command: 'echo up; exec cat' }));
  await s.waitForStdout((o) => o.includes('up'));
  await first.stop({ keepSessions: true });
  const second = await startTlsshd({ dir: fx.dir, config });
  try {
    await second.waitForLog(/watching PAM session of/);
    assert.doesNotMatch(fs.readFileSync(events, 'utf8'), /close_session root /, 'not closed while it runs');
    s.endStdin();
    const r = await s.result;
    assert.equal(r.exit?.code, 0);
    const log = await until('the close_session event', () => {
      const text = fs.readFileSync(events, 'utf8');
      return /close_session root /.test(text) ? text : undefined;
    });
    assert.match(log, /^close_session root 127\.0\.0\.1 ssh uid=0$/m);
  } finally {
    await second.stop();
  }
});

test('lastlog, as sshd keeps it: terminal logins only, "Last login" at the next interactive one, PrintLastLog no hides it', { skip }, async () => {
  // A user of its own: nobody has logged in as it yet (useradd clears a reused uid's record).
  const fresh = createTestUser('pamt');
  const quiet = await startTlsshd({ dir: fx.dir, config: { ...fx.config, PAMServiceName: SERVICE, PrintLastLog: 'no' } });
  try {
    const ident = fx.client(fresh.name);
    const lastlog = (): string => execFileSync('lastlog', ['-u', fresh.name], { encoding: 'utf8' });
    const login = async (port: number): Promise<string> => {
      const s = connectClient(port, ident, sessionRequest({ command: '', pty: true, term: 'dumb' }));
      await s.waitFor('session-started');
      s.write('echo "in-$((6*7))"; exit\n');
      await s.waitForStdout((o) => o.includes('in-42'));
      const r = await s.result;
      assert.equal(r.exit?.code, 0);
      return r.stdout.toString();
    };
    // A command without a terminal (cron, Ansible) is no login to remember.
    assert.equal((await runCommand(daemon.port, ident, 'true')).exit?.code, 0);
    assert.match(lastlog(), /Never logged in/);
    const first = await login(daemon.port);
    assert.doesNotMatch(first, /Last login/);
    // Recorded once the session had its terminal: lastlog(8) reads tlsshd's record.
    const recorded = await until('the lastlog record', () => (/pts\/\d+\s+127\.0\.0\.1/.test(lastlog()) ? lastlog() : undefined));
    assert.match(recorded, new RegExp(`^${fresh.name}\\s+pts/\\d+\\s+127\\.0\\.0\\.1\\s+\\w{3} \\w{3}`, 'm'));
    assert.match(await login(daemon.port), /Last login: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} from 127\.0\.0\.1\r\n/);
    assert.doesNotMatch(await login(quiet.port), /Last login/);
    // ~/.hushlogin quiets it too, as with sshd.
    fs.writeFileSync(path.join(fresh.home, '.hushlogin'), '');
    assert.doesNotMatch(await login(daemon.port), /Last login/);
  } finally {
    await quiet.stop();
    fresh.remove();
  }
});

test('the shipped etc/pam.d/tlsshd works: a login gets loginuid, motd and a lastlog record', { skip }, async () => {
  const s = connectClient(shipped.port, id[user.name]!, sessionRequest({ command: '', pty: true, term: 'dumb' }));
  await s.waitFor('session-started');
  s.write('echo "loginuid=$(cat /proc/self/loginuid)"; exit\n');
  const out = await s.waitForStdout((o) => /loginuid=\d+/.test(o));
  assert.match(out, new RegExp(`loginuid=${user.uid}\\b`));
  const r = await s.result;
  assert.equal(r.exit?.code, 0);
  const motd = fs.existsSync('/etc/motd') ? fs.readFileSync('/etc/motd', 'utf8').split('\n').find((l) => l.trim() !== '') : undefined;
  if (motd) assert.ok(out.includes(motd.trim()), `motd line ${JSON.stringify(motd)} in ${JSON.stringify(out)}`);
  const lastlog = execFileSync('lastlog', ['-u', user.name], { encoding: 'utf8' });
  assert.doesNotMatch(lastlog, /Never logged in/);
  assert.match(lastlog, /127\.0\.0\.1/);
  // The second login says when the first was.
  const again = connectClient(shipped.port, id[user.name]!, sessionRequest({ command: '', pty: true, term: 'dumb' }));
  await again.waitFor('session-started');
  again.write('exit\n');
  const second = await again.result;
  assert.match(second.stdout.toString(), /Last login: .* from 127\.0\.0\.1/);
});

test('without the PAM addon: a default UsePAM is off and logged, an explicit "UsePAM yes" exits 255', { skip }, async () => {
  const env = { ...process.env, TLSSH_PAM_ADDON: path.join(dir, 'no-such-addon.node') };
  const d = await startTlsshd({ dir: fx.dir, config: { ...fx.config }, env });
  // Without PAM, tlsshd refuses a locked account ("!", as useradd left this one) as sshd does.
  execFileSync('usermod', ['-p', '*', user.name]);
  try {
    await d.waitForLog(/PAM is off: the PAM addon could not be loaded/);
    const r = await runCommand(d.port, id[user.name]!, 'cat /proc/self/loginuid; ulimit -n');
    assert.equal(r.exit?.code, 0);
    assert.doesNotMatch(r.stdout.toString(), /^777$/m, 'no pam_limits without PAM');
  } finally {
    execFileSync('usermod', ['-p', '!', user.name]);
    await d.stop();
  }
  const conf = path.join(fx.dir, 'explicit-pam.conf');
  writeConfig(conf, { ...fx.config, Listen: '127.0.0.1', Port: '0', RuntimeDir: path.join(fx.dir, 'run-explicit-pam'), UsePAM: 'yes' });
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tlsshd'), '-f', '-c', conf], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 255, r.stderr);
  assert.match(r.stderr, /UsePAM yes, but the PAM addon could not be loaded/);
});
