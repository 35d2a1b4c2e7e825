// The floor relay of bench/floor.ts: its figures only mean something if it really relays a session
// over mutual TLS 1.3 as the rows drive it. Real certificates, a real server on 127.0.0.1, real
// commands in pipes and in a PTY.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { issueCert, makeCa, makeTempDir, type Ca, type Issued } from '../helpers/ca';

const FLOOR = path.join(__dirname, '..', '..', 'bench', 'floor');
let dir: string;
let ca: Ca;
let server: ChildProcess;
let port: number;
let client: Issued;

before(async () => {
  dir = makeTempDir('tlssh-floor-');
  ca = makeCa(dir);
  const srv = issueCert(ca, { cn: '127.0.0.1', san: ['IP:127.0.0.1'] });
  client = issueCert(ca, { cn: 'bench' });
  server = spawn(process.execPath, [path.join(FLOOR, 'relay-server.js'), srv.certFile, srv.keyFile, ca.certFile, String(process.getuid!()), String(process.getgid!())], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    server.once('exit', (code) => reject(new Error(`relay server exited ${code}`)));
  });
});

after(() => {
  server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

function relay(mode: 't' | 'n', command: string, input: string, opts: { goAfter?: number; key?: Issued } = {}): { status: number | null; stdout: string; stderr: string } {
  const key = opts.key ?? client;
  const r = spawnSync(process.execPath, [path.join(FLOOR, 'relay-client.js'), String(port), mode, key.certFile, key.keyFile, ca.certFile, String(opts.goAfter ?? 0), command], { input, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('pipes: stdin reaches the command and its whole output comes back after the client half-closes', () => {
  const r = relay('n', 'wc -c', 'x'.repeat(300_000));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '300000');
});

test('a terminal: the command runs in a PTY, and the session ends with it', () => {
  const r = relay('t', 'tty >/dev/null && echo in-a-terminal', '');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /in-a-terminal/);
});

test('"go" goes to stderr once the given number of input bytes has been sent, and not before', () => {
  assert.match(relay('n', 'wc -c', 'y'.repeat(70_000), { goAfter: 65_536 }).stderr, /^go$/m);
  assert.doesNotMatch(relay('n', 'wc -c', 'y'.repeat(1000), { goAfter: 65_536 }).stderr, /go/);
});

test('the TLS is mutual: a client certificate from another CA gets no session', () => {
  const otherDir = makeTempDir('tlssh-floor-other-');
  try {
    const other = issueCert(makeCa(otherDir, 'another CA'), { cn: 'bench' });
    const r = relay('n', 'echo should-not-run', '', { key: other });
    assert.doesNotMatch(r.stdout, /should-not-run/);
  } finally {
    rmSync(otherDir, { recursive: true, force: true });
  }
});
