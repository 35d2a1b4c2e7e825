import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { fdReadable, fdWritable } from '../../src/client/fd-streams';
import { missingKeyPassword } from '../../src/client/key-password';
import { sanitizeRemoteText } from '../../src/client/remote-text';
import { createLog } from '../../src/client/stderr-log';
import type { ClientConfig } from '../../src/config/types';

describe('fd streams', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-fd-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes every byte, in order, and reads them back to end of file', async () => {
    const file = path.join(dir, 'data');
    const data = randomBytes(1024 * 1024 + 17);
    const wfd = fs.openSync(file, 'w');
    const w = fdWritable(wfd);
    for (let off = 0; off < data.length; off += 70_000) w.write(data.subarray(off, off + 70_000));
    w.end();
    await finished(w);
    fs.closeSync(wfd);
    assert.deepEqual(fs.readFileSync(file), data);

    const rfd = fs.openSync(file, 'r');
    const chunks: Buffer[] = [];
    for await (const chunk of fdReadable(rfd)) chunks.push(chunk as Buffer);
    fs.closeSync(rfd);
    assert.deepEqual(Buffer.concat(chunks), data);
  });

  it('ends at once on an empty input such as /dev/null', async () => {
    const fd = fs.openSync('/dev/null', 'r');
    const chunks: Buffer[] = [];
    for await (const chunk of fdReadable(fd)) chunks.push(chunk as Buffer);
    fs.closeSync(fd);
    assert.equal(chunks.length, 0);
  });

  it('reports a write error through the callback', async () => {
    const fd = fs.openSync('/dev/full', 'w');
    const w = fdWritable(fd);
    const err = await new Promise<NodeJS.ErrnoException | null | undefined>((resolve) => {
      w.on('error', () => undefined);
      w.write(Buffer.from('x'), (e) => resolve(e as NodeJS.ErrnoException | null | undefined));
    });
    fs.closeSync(fd);
    assert.equal(err?.code, 'ENOSPC');
  });
});

describe('local output', () => {
  // A child whose fd 1 is what the test gives it writes 4 MiB through openOutput(1), ends the
  // stream and exits at once, as the client does once its output is flushed.
  const writer = (stdout: 'pipe' | number): Promise<{ path: string; out: Buffer; code: number | null }> => {
    const mod = path.resolve(__dirname, '../../src/client/local-stdio.js');
    const script = `
      const { openOutput, openTarget } = require(${JSON.stringify(mod)});
      process.stderr.write(openTarget(1).path);
      const sink = openOutput(1, (e) => { process.stderr.write(' failed ' + e.code); process.exit(3); });
      const data = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = i % 251;
      for (let off = 0; off < data.length; off += 16000) sink.stream.write(data.subarray(off, off + 16000));
      sink.stream.end(() => process.exit(0));`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', stdout, 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout?.on('data', (d: Buffer) => out.push(d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ path: err, out: Buffer.concat(out), code }));
    });
  };
  const expected = (): Buffer => {
    const data = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    return data;
  };

  it('writes a socket stdout (what spawn gives for a pipe) from the event loop, not the thread pool, and loses nothing at exit', async () => {
    const r = await writer('pipe');
    assert.equal(r.code, 0);
    assert.equal(r.path, 'socket');
    assert.ok(r.out.equals(expected()));
  });

  it('writes a file stdout directly, every byte', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-out-'));
    try {
      const file = path.join(dir, 'out');
      const fd = fs.openSync(file, 'w');
      const r = await writer(fd);
      fs.closeSync(fd);
      assert.equal(r.code, 0);
      assert.equal(r.path, 'file');
      assert.ok(fs.readFileSync(file).equals(expected()));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remote text', () => {
  it('replaces terminal control characters a server could hide in a message', () => {
    assert.equal(sanitizeRemoteText('bad\x1b]0;owned\x07 user'), 'bad?]0;owned? user');
    assert.equal(sanitizeRemoteText('two\nlines\r\tand tab'), 'two lines and tab');
    assert.equal(sanitizeRemoteText('c1\u009b31m'), 'c1?31m');
    assert.equal(sanitizeRemoteText('bidi\u202eevil'), 'bidi?evil');
    assert.equal(sanitizeRemoteText('plain ünïcode'), 'plain ünïcode');
    assert.equal(sanitizeRemoteText('x'.repeat(2000)).length, 1024 + 3);
  });
});

describe('log levels', () => {
  it('turns debug on with -v or LogLevel DEBUG, and -vv adds the protocol level', () => {
    assert.equal(createLog(0, 'INFO').debug, undefined);
    assert.notEqual(createLog(1, 'INFO').debug, undefined);
    assert.equal(createLog(1, 'INFO').debug2, undefined);
    assert.notEqual(createLog(2, 'INFO').debug2, undefined);
    assert.notEqual(createLog(0, 'DEBUG').debug, undefined);
    assert.equal(createLog(0, 'QUIET').verbosity, 0);
  });
});

describe('key passwords', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-keypw-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cfg = (over: Partial<ClientConfig>): ClientConfig => ({ KeyFile: '', PrivkeyEngine: '', PrivkeyPassword: undefined, ...over }) as ClientConfig;

  it('asks only for an encrypted PEM key without a configured password', () => {
    const plain = path.join(dir, 'plain.key');
    const enc = path.join(dir, 'enc.key');
    fs.writeFileSync(plain, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    fs.writeFileSync(enc, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n');
    assert.equal(missingKeyPassword(cfg({ KeyFile: plain })), undefined);
    assert.match(missingKeyPassword(cfg({ KeyFile: enc })) ?? '', /passphrase/);
    assert.equal(missingKeyPassword(cfg({ KeyFile: enc, PrivkeyPassword: '' })), undefined);
    assert.equal(missingKeyPassword(cfg({ KeyFile: path.join(dir, 'missing.key') })), undefined);
  });
});

describe('local stdin', () => {
  // Run in a child so that its fd 0 is what the test chooses. The thread pool's four threads
  // show in /proc/self/task once started, and Node joins them at exit: a shared `tlssh host true`
  // with stdin on /dev/null must reach end of file without them.
  const script = (): string => [
    `const { openInput } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src', 'client', 'local-stdio.js'))});`,
    "const fs = require('node:fs');",
    "const threads = () => fs.readdirSync('/proc/self/task').length;",
    'const before = threads();',
    'let bytes = 0;',
    "const input = openInput();",
    "input.on('data', (c) => { bytes += c.length; });",
    "input.on('end', () => setImmediate(() => process.stdout.write(JSON.stringify({ bytes, before, after: threads() }))));",
  ].join('\n');

  const runWithStdin = async (stdin: string): Promise<{ bytes: number; before: number; after: number }> => {
    const { spawnSync } = await import('node:child_process');
    const fd = fs.openSync(stdin, 'r');
    try {
      const r = spawnSync(process.execPath, ['-e', script()], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { bytes: number; before: number; after: number };
    } finally {
      fs.closeSync(fd);
    }
  };

  it('/dev/null ends at once, without starting the thread pool', async () => {
    const r = await runWithStdin('/dev/null');
    assert.equal(r.bytes, 0);
    assert.equal(r.after, r.before, `threads before ${r.before}, after ${r.after}`);
  });

  it('a file is still read to its end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-stdin-'));
    try {
      const file = path.join(dir, 'in');
      fs.writeFileSync(file, randomBytes(200_000));
      assert.equal((await runWithStdin(file)).bytes, 200_000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
