// A reload (SIGHUP, tlsshctl reload) moves tlsshd to a new Listen/Port set in place, as sshd's
// re-exec does: new connections on the new addresses, the dropped ones refused, sessions opened
// before carrying on. A set that cannot be bound leaves the old configuration, sockets included.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectClient, freePort, loginUser, makeServerFixture, runCommand, sessionRequest, startTlsshd, type ClientIdentity, type ServerFixture, type TlsshdHandle } from '../helpers/server-harness';
import { ctl } from './tlsshctl-client';

/** Whether a TCP connection to 127.0.0.1:port is accepted; false on ECONNREFUSED. */
function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve(false) : reject(e)));
  });
}

/** The daemon's config with its Listen and Port lines replaced by `lines` (plus `extra`). */
function rewriteListen(d: TlsshdHandle, lines: string[], extra: string[] = []): void {
  const kept = fs.readFileSync(d.configFile, 'utf8').split('\n').filter((l) => !/^(Listen|Port)\b/.test(l) && l !== '');
  fs.writeFileSync(d.configFile, [...kept, ...lines, ...extra, ''].join('\n'));
}

describe('a reload moves Listen and Port', () => {
  let fx: ServerFixture;
  let d: TlsshdHandle;
  let id: ClientIdentity;
  /** Where the daemon listens now. */
  let port: number;

  before(async () => {
    fx = makeServerFixture('tlsshd-reload-listen');
    const me = loginUser();
    id = fx.client(me.name);
    d = await startTlsshd({ dir: fx.dir, config: { ...fx.config, ...me.config } });
    port = d.port;
  });
  after(async () => {
    await d.stop();
    fs.rmSync(fx.dir, { recursive: true, force: true });
  });

  it('to a new port: logins there, the old port refused, a session opened before carries on', async () => {
    const oldPort = port;
    const open = connectClient(oldPort, id, sessionRequest({ command: 'echo started; read line; echo "after the reload: $line"' }));
    await open.waitForStdout((s) => s.includes('started\n'));

    const newPort = await freePort();
    rewriteListen(d, ['Listen 127.0.0.1', `Port ${newPort}`]);
    process.kill(d.pid, 'SIGHUP');
    await d.waitForLog(new RegExp(`no longer listening on 127\\.0\\.0\\.1:${oldPort}; its sessions carry on`));
    assert.match(d.logs(), new RegExp(`listening on 127\\.0\\.0\\.1:${newPort}$`, 'm'));

    const r = await runCommand(newPort, id, 'echo on the new port');
    assert.equal(r.stdout.toString(), 'on the new port\n', r.stderr.toString());
    assert.equal(await accepts(oldPort), false);

    open.write('still here\n');
    open.endStdin();
    const before = await open.result;
    assert.equal(before.stdout.toString(), 'started\nafter the reload: still here\n');
    assert.equal(before.exit?.code, 0);
    port = newPort;
  });

  it('a port in use refuses the whole reload, through tlsshctl too: the old port and settings stay', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const original = fs.readFileSync(d.configFile, 'utf8');
    try {
      // AllowUsers nobody would refuse every login, had the rest of the file been applied.
      rewriteListen(d, ['Listen 127.0.0.1', `Port ${busyPort}`], ['AllowUsers nobody']);
      const r = await ctl(['-c', d.configFile, 'reload']);
      assert.equal(r.status, 255);
      assert.match(r.stderr, new RegExp(`^tlsshctl: reload: keeping the old configuration: cannot listen on 127\\.0\\.0\\.1 port ${busyPort}: .*EADDRINUSE`));
      process.kill(d.pid, 'SIGHUP');
      await d.waitForLog(new RegExp(`SIGHUP: keeping the old configuration: cannot listen on 127\\.0\\.0\\.1 port ${busyPort}`));
      const s = await runCommand(port, id, 'echo old settings');
      assert.equal(s.stdout.toString(), 'old settings\n', s.stderr.toString());
    } finally {
      busy.close();
      fs.writeFileSync(d.configFile, original);
    }
  });

  it('an address that overlaps one being dropped (127.0.0.1 to 0.0.0.0, same port) is taken over', async () => {
    rewriteListen(d, ['Listen 0.0.0.0', `Port ${port}`]);
    const r = await ctl(['-c', d.configFile, 'reload']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(d.logs(), new RegExp(`listening on 0\\.0\\.0\\.0:${port}$`, 'm'));
    assert.match(d.logs(), new RegExp(`no longer listening on 127\\.0\\.0\\.1:${port};`));
    const s = await runCommand(port, id, 'echo through 0.0.0.0');
    assert.equal(s.stdout.toString(), 'through 0.0.0.0\n', JSON.stringify(s.error ?? s.stderr.toString()));
    // Back to loopback alone, for nothing else to reach this test's daemon.
    rewriteListen(d, ['Listen 127.0.0.1', `Port ${port}`]);
    assert.equal((await ctl(['-c', d.configFile, 'reload'])).status, 0);
    assert.match(fs.readFileSync(`/proc/${d.pid}/cmdline`, 'latin1'), new RegExp(`^tlsshd: listening on 127\\.0\\.0\\.1:${port}\\b`));
  });

  it('a second address beside the first: both serve, and the first keeps its socket', async () => {
    const mark = d.logs().length;
    rewriteListen(d, ['Listen 127.0.0.1', 'Listen 127.0.0.2', `Port ${port}`]);
    assert.equal((await ctl(['-c', d.configFile, 'reload'])).status, 0);
    await d.waitForLog(/configuration reloaded/);
    const logged = d.logs().slice(mark);
    assert.match(logged, new RegExp(`listening on 127\\.0\\.0\\.2:${port}$`, 'm'));
    assert.doesNotMatch(logged, /no longer listening/);
    assert.equal(await accepts(port, '127.0.0.2'), true);
    assert.equal(await accepts(port, '127.0.0.1'), true);
    assert.match(fs.readFileSync(`/proc/${d.pid}/cmdline`, 'latin1'), new RegExp(`^tlsshd: listening on 127\\.0\\.0\\.1:${port}, 127\\.0\\.0\\.2:${port}`));
  });
});
