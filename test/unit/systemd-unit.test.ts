// etc/systemd/tlsshd.service and the template tlsshd@.service (a second daemon with a config of
// its own): the keys that keep sessions alive across a restart, the commands they run (parsed by
// tlsshd's own command line), each RuntimeDirectory against the RuntimeDir tlsshd will use, no
// sandboxing that logged-in sessions would inherit, and `systemd-analyze verify` when present.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadServerConfig } from '../../src/config';
import { parseDaemonArgs } from '../../src/server/cli-args';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const UNIT_DIR = path.join(ROOT, 'etc', 'systemd');
/** The template's instance these tests read it as: tlsshd@backup. */
const INSTANCE = 'backup';
const TLSSHD = '/usr/bin/tlsshd';

type Unit = Map<string, Map<string, string[]>>;

/** systemd's unit syntax, as far as this file uses it: sections, Key=value, repeatable keys. */
function parseUnit(text: string, file: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = new Map();
      unit.set(head[1] as string, section);
      continue;
    }
    const kv = /^(\w+)=(.*)$/.exec(line);
    assert.ok(kv && section, `${file}:${i + 1}: not a Key=value line in a section: ${raw}`);
    section.set(kv[1] as string, [...(section.get(kv[1] as string) ?? []), (kv[2] as string).trim()]);
  }
  return unit;
}

/** The arguments of a command line that runs the packaged tlsshd. */
function tlsshdArgs(cmd: string | undefined): string[] {
  assert.ok(cmd !== undefined && (cmd.startsWith(`${TLSSHD} `) || cmd === TLSSHD), `not ${TLSSHD}: ${cmd}`);
  return cmd.split(/\s+/).slice(1);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-unit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

for (const name of ['tlsshd.service', 'tlsshd@.service']) {
  const file = path.join(UNIT_DIR, name);
  const template = name.includes('@');
  // systemd's %i in a template, as "systemctl start tlsshd@backup" fills it in.
  const text = fs.readFileSync(file, 'utf8');
  const unit = parseUnit(template ? text.replaceAll('%i', INSTANCE) : text, file);
  const service = unit.get('Service') ?? new Map<string, string[]>();
  const one = (key: string): string | undefined => {
    const v = service.get(key);
    assert.ok(v === undefined || v.length === 1, `${key} is given ${v?.length} times`);
    return v?.[0];
  };
  // What the unit gives tlsshd besides -f or -t: nothing for tlsshd.service; the template's own
  // config file and RuntimeDir.
  const common = template ? ['-c', `/etc/tlssh/tlsshd-${INSTANCE}.conf`, '-o', `RuntimeDir=/run/tlsshd-${INSTANCE}`] : [];

  describe(name, () => {
    test('restarting or stopping the unit kills only the listener, never the sessions', () => {
      assert.equal(one('KillMode'), 'process');
      assert.equal(one('Restart'), 'on-failure');
      // 255 is "cannot start": a restart loop would only fill the journal.
      assert.match(one('RestartPreventExitStatus') ?? '', /(^|\s)255(\s|$)/);
    });

    test('ExecStart runs tlsshd in the foreground, with arguments tlsshd accepts', () => {
      const args = tlsshdArgs(one('ExecStart'));
      assert.deepEqual(args, ['-f', ...common]);
      const parsed = parseDaemonArgs(args);
      assert.equal(parsed.kind, 'run');
      assert.equal(parsed.kind === 'run' && parsed.args.foreground, true);
      // Type=forking would wait for a fork that -f never makes; exec (not simple) makes
      // `systemctl start` fail when the program cannot be run at all, as tlsshd(8) says.
      assert.equal(one('Type'), 'exec');
    });

    test('ExecStartPre checks the config and keys with tlsshd -t; reload checks, then sends SIGHUP', () => {
      // The same config and RuntimeDir as ExecStart: a check of another daemon's would prove nothing.
      assert.deepEqual(tlsshdArgs(one('ExecStartPre')), ['-t', ...common]);
      const check = parseDaemonArgs(['-t', ...common]);
      assert.equal(check.kind === 'run' && check.args.mode, 'test');
      // Exactly the check, then the signal: a reload with a broken config must not reach SIGHUP.
      const reload = service.get('ExecReload') ?? [];
      assert.equal(reload.length, 2, reload.join(' | '));
      assert.deepEqual(tlsshdArgs(reload[0]), ['-t', ...common]);
      assert.equal(reload[1], '/bin/kill -HUP $MAINPID');
    });

    test('RuntimeDirectory is the RuntimeDir tlsshd uses, private to root, and outlives a stop', () => {
      // What ExecStart's -o lines make of an empty config file: the default, or the template's own.
      const parsed = parseDaemonArgs(tlsshdArgs(one('ExecStart')));
      const cfg = loadServerConfig({ file: '/dev/null', overrides: parsed.kind === 'run' ? parsed.args.overrides : [] });
      assert.equal(`/run/${one('RuntimeDirectory')}`, cfg.RuntimeDir);
      if (template) assert.notEqual(cfg.RuntimeDir, loadServerConfig({ file: '/dev/null' }).RuntimeDir, 'the same RuntimeDir as tlsshd.service');
      // The listener refuses a RuntimeDir others can enter (its TPM agent socket lives there).
      assert.equal(Number.parseInt(one('RuntimeDirectoryMode') ?? '0755', 8) & 0o077, 0);
      // Session records there let the next listener write the logout of sessions that outlived it.
      assert.equal(one('RuntimeDirectoryPreserve'), 'yes');
    });

    test('no sandboxing that logged-in sessions would inherit and break on', () => {
      // Each of these applies to every process of the unit, the users' shells included (see tlsshd(8)).
      const breaking = [
        'NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'PrivateUsers', 'PrivateNetwork',
        'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups', 'ProtectClock', 'ProtectHostname',
        'ProtectProc', 'RestrictNamespaces', 'RestrictSUIDSGID', 'RestrictRealtime', 'LockPersonality', 'MemoryDenyWriteExecute',
        'SystemCallFilter', 'SystemCallArchitectures', 'CapabilityBoundingSet', 'AmbientCapabilities', 'DynamicUser', 'User',
        'ReadOnlyPaths', 'InaccessiblePaths', 'IPAddressDeny', 'UMask', 'PrivateMounts',
      ];
      for (const key of breaking) assert.equal(service.has(key), false, `${key} would apply to every session`);
    });

    test('the unit is documented and installs into multi-user.target', () => {
      assert.match(unit.get('Unit')?.get('Documentation')?.join(' ') ?? '', /man:tlsshd\(8\)/);
      // After the network (Listen addresses) and auditd, as sshd's unit.
      assert.deepEqual(unit.get('Unit')?.get('After')?.join(' ').split(/\s+/).sort(), ['auditd.service', 'network.target']);
      // sshd's opt-out file, in both units.
      assert.ok(unit.get('Unit')?.get('ConditionPathExists')?.includes('!/etc/tlssh/tlsshd_not_to_be_run'));
      // The template starts only where its config file exists.
      if (template) assert.ok(unit.get('Unit')?.get('ConditionPathExists')?.includes(`/etc/tlssh/tlsshd-${INSTANCE}.conf`));
      assert.deepEqual(unit.get('Install')?.get('WantedBy'), ['multi-user.target']);
      // The choices are explained where an administrator looks.
      const man = fs.readFileSync(path.join(ROOT, 'man', 'tlsshd.8'), 'utf8');
      assert.match(man, /^\.Sh SYSTEMD$/m);
      for (const key of ['KillMode', 'RuntimeDirectory', 'NoNewPrivileges', 'ProtectHome', 'tlsshd@.service', 'tlsshd_not_to_be_run', 'network.target', 'Type Ns = Ns Cm exec']) assert.ok(man.includes(key), `tlsshd(8) does not mention ${key}`);
    });

    test('systemd-analyze verify accepts it', (t) => {
      if (spawnSync('sh', ['-c', 'command -v systemd-analyze']).status !== 0) {
        t.skip('systemd-analyze is not installed (Debian package systemd)');
        return;
      }
      // Verify wants the programs it names to exist: point it at this checkout's tlsshd.
      const copy = path.join(tmp, template ? `tlsshd@${INSTANCE}.service` : name);
      fs.writeFileSync(copy, text.replaceAll(TLSSHD, path.join(ROOT, 'bin', 'tlsshd')));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '');
    });
  });
}
