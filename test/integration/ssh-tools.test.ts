// The tools that expect ssh, run for real over tlssh against a real tlsshd on 127.0.0.1: sftp and
// scp (-S), scp -O, sshfs (-o ssh_command), git over ssh:// URLs with a port (GIT_SSH_COMMAND and
// core.sshCommand), rsync -e, and tar pipes. The client config has no Port, so each tool must
// pass the daemon's port through its own option (-P, -p, the URL) for anything to work.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TLSSH, errorCodeOf, runTlssh, startFixture, type ClientFixture } from './client-fixture';

let fx: ClientFixture;
let port: number;
let home: string;
let env: NodeJS.ProcessEnv;
let work: string;

function has(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

interface Ran { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs a shell line with the test's HOME (whose ~/.tlssh/tlssh.conf tlssh reads). Asynchronous:
 * a spawnSync would stop this process from reading the daemon's log pipe, and a daemon blocked on
 * a full pipe stops accepting connections.
 */
function sh(line: string, opts: { cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], { cwd: opts.cwd ?? work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString('utf8'); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    // A bound against hangs, never a timing assertion.
    const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('error', reject);
    child.once('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

function ok(r: Ran, what: string): string {
  assert.equal(r.status, 0, `${what} failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

before(async () => {
  fx = await startFixture({
    // greet shows the subsystem runs as the user, through the shell, with its arguments.
    serverArgs: ['-o', 'Subsystem=sftp /usr/lib/openssh/sftp-server', '-o', 'Subsystem=greet /usr/bin/id -un'],
  });
  port = fx.server.port;
  home = path.join(fx.dir, 'home');
  work = path.join(fx.dir, 'work');
  fs.mkdirSync(path.join(home, '.tlssh'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(work);
  // Everything but the Port: the tools must give it.
  const cfg = fs.readFileSync(fx.configFile, 'utf8').split('\n').filter((l) => !l.startsWith('Port ')).join('\n');
  fs.writeFileSync(path.join(home, '.tlssh', 'tlssh.conf'), cfg, { mode: 0o600 });
  env = {
    ...process.env, HOME: home, LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@tlssh.invalid', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@tlssh.invalid',
  };
});
after(async () => fx?.stop());

describe('tlssh -s (subsystems)', () => {
  it('runs the Subsystem line as the user, without a terminal', async () => {
    const r = await runTlssh(['-F', path.join(home, '.tlssh', 'tlssh.conf'), '-p', String(port), '-s', '127.0.0.1', 'greet']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.toString(), `${fx.user}\n`);
    await fx.server.waitForLog(/subsystem greet for /);
  });

  it('refuses an unknown subsystem with its code and exits 255', async () => {
    const r = await runTlssh(['-v', '-F', path.join(home, '.tlssh', 'tlssh.conf'), '-p', String(port), '-s', '127.0.0.1', 'nosuch']);
    assert.equal(r.status, 255);
    assert.equal(errorCodeOf(r.stderr), 'TLSSH_ERR_UNKNOWN_SUBSYSTEM');
    assert.equal(r.stdout.length, 0);
  });

  it('does not run a subsystem name as a command', async () => {
    // "id" is a command on the server but no Subsystem: ssh -s never falls back to running it.
    const r = await runTlssh(['-F', path.join(home, '.tlssh', 'tlssh.conf'), '-p', String(port), '-s', '127.0.0.1', 'id']);
    assert.equal(r.status, 255);
    assert.equal(r.stdout.length, 0);
  });
});

describe('sftp and scp', () => {
  it('sftp -S tlssh puts and gets a file', async () => {
    fs.writeFileSync(path.join(work, 'up.txt'), 'sent over sftp\n');
    const batch = `put up.txt ${path.join(work, 'sftp-remote.txt')}\nget ${path.join(work, 'sftp-remote.txt')} down.txt\n`;
    fs.writeFileSync(path.join(work, 'batch'), batch);
    ok(await sh(`sftp -S ${q(TLSSH)} -P ${port} -b batch 127.0.0.1`), 'sftp');
    assert.equal(fs.readFileSync(path.join(work, 'sftp-remote.txt'), 'utf8'), 'sent over sftp\n');
    assert.equal(fs.readFileSync(path.join(work, 'down.txt'), 'utf8'), 'sent over sftp\n');
  });

  it('scp -S tlssh copies both ways over SFTP (OpenSSH 9 default)', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    fs.writeFileSync(path.join(work, 'scp-src.bin'), data);
    const sftpSessions = (): number => fx.server.logs().split('\n').filter((l) => /subsystem sftp for /.test(l)).length;
    const before = sftpSessions();
    ok(await sh(`scp -S ${q(TLSSH)} -P ${port} scp-src.bin 127.0.0.1:${q(path.join(work, 'scp-remote.bin'))}`), 'scp upload');
    ok(await sh(`scp -S ${q(TLSSH)} -P ${port} 127.0.0.1:${q(path.join(work, 'scp-remote.bin'))} scp-back.bin`), 'scp download');
    assert.ok(fs.readFileSync(path.join(work, 'scp-remote.bin')).equals(data));
    assert.ok(fs.readFileSync(path.join(work, 'scp-back.bin')).equals(data));
    // Both went through the sftp subsystem, not "scp -t".
    assert.equal(sftpSessions(), before + 2);
  });

  it('scp -O -S tlssh (the legacy scp protocol) copies both ways, recursively', async () => {
    fs.mkdirSync(path.join(work, 'tree', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(work, 'tree', 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(work, 'tree', 'sub', 'b.txt'), 'b\n');
    ok(await sh(`scp -O -r -S ${q(TLSSH)} -P ${port} tree 127.0.0.1:${q(path.join(work, 'scp-o-remote'))}`), 'scp -O upload');
    ok(await sh(`scp -O -r -S ${q(TLSSH)} -P ${port} 127.0.0.1:${q(path.join(work, 'scp-o-remote'))} scp-o-back`), 'scp -O download');
    assert.equal(fs.readFileSync(path.join(work, 'scp-o-back', 'sub', 'b.txt'), 'utf8'), 'b\n');
    assert.equal(fs.readFileSync(path.join(work, 'scp-o-remote', 'a.txt'), 'utf8'), 'a\n');
  });

  it('sshfs -o ssh_command=tlssh mounts, reads and writes', async (t) => {
    if (!has('sshfs')) return t.skip('sshfs is not installed');
    if (!fs.existsSync('/dev/fuse')) return t.skip('no /dev/fuse here: FUSE is not available');
    const mnt = path.join(fx.dir, 'mnt');
    fs.mkdirSync(mnt);
    fs.writeFileSync(path.join(work, 'via-sshfs.txt'), 'read through sshfs\n');
    const mount = await sh(`sshfs -p ${port} -o ssh_command=${q(TLSSH)} 127.0.0.1:${q(work)} ${q(mnt)}`);
    if (mount.status !== 0 && /fuse|mount|permitted/i.test(mount.stderr) && !/tlssh/.test(mount.stderr)) {
      return t.skip(`FUSE mounts are not allowed here: ${mount.stderr.trim().split('\n')[0]}`);
    }
    ok(mount, 'sshfs');
    try {
      assert.equal(fs.readFileSync(path.join(mnt, 'via-sshfs.txt'), 'utf8'), 'read through sshfs\n');
      fs.writeFileSync(path.join(mnt, 'written-by-sshfs.txt'), 'written\n');
    } finally {
      await sh(`fusermount -u ${q(mnt)} || umount ${q(mnt)}`);
    }
    assert.equal(fs.readFileSync(path.join(work, 'written-by-sshfs.txt'), 'utf8'), 'written\n');
  });
});

describe('git over ssh:// with a port', () => {
  const bare = (): string => path.join(fx.dir, 'srv', 'repo.git');
  before(async () => {
    fs.mkdirSync(path.join(fx.dir, 'srv'));
    ok(await sh(`git init -q --bare ${q(bare())}`), 'git init');
    ok(await sh(`git init -q seed && cd seed && echo one > f && git add f && git commit -qm one && git push -q ${q(bare())} HEAD:refs/heads/main`), 'seed');
  });

  for (const how of ['GIT_SSH_COMMAND', 'core.sshCommand'] as const) {
    it(`clones and pushes with ${how}`, async () => {
      const clone = `clone-${how}`;
      const url = `ssh://127.0.0.1:${port}${bare()}`;
      const prefix = how === 'GIT_SSH_COMMAND' ? `GIT_SSH_COMMAND=${q(TLSSH)} git` : `git -c core.sshCommand=${q(TLSSH)}`;
      ok(await sh(`${prefix} clone -q -b main ${q(url)} ${clone}`), 'git clone');
      assert.equal(fs.readFileSync(path.join(work, clone, 'f'), 'utf8'), 'one\n');
      if (how === 'core.sshCommand') ok(await sh(`git -C ${clone} config core.sshCommand ${q(TLSSH)}`), 'git config');
      const push = how === 'GIT_SSH_COMMAND' ? `GIT_SSH_COMMAND=${q(TLSSH)} git` : 'git';
      ok(await sh(`cd ${clone} && echo ${how} > g && git add g && git commit -qm ${q(how)} && ${push} push -q origin main`), 'git push');
      assert.equal(ok(await sh(`git --git-dir=${q(bare())} log -1 --format=%s main`), 'git log').trim(), how);
    });
  }
});

describe('rsync and tar', () => {
  it('rsync -e tlssh pushes, pulls and deletes', async () => {
    fs.mkdirSync(path.join(work, 'rs', 'd'), { recursive: true });
    fs.writeFileSync(path.join(work, 'rs', 'x'), 'x\n');
    fs.writeFileSync(path.join(work, 'rs', 'd', 'y'), 'y\n');
    const e = `-e ${q(`${TLSSH} -p ${port}`)}`;
    ok(await sh(`rsync -a ${e} rs/ 127.0.0.1:${q(path.join(work, 'rs-remote'))}/`), 'rsync push');
    assert.equal(fs.readFileSync(path.join(work, 'rs-remote', 'd', 'y'), 'utf8'), 'y\n');
    fs.rmSync(path.join(work, 'rs', 'x'));
    ok(await sh(`rsync -a --delete ${e} rs/ 127.0.0.1:${q(path.join(work, 'rs-remote'))}/`), 'rsync --delete');
    assert.ok(!fs.existsSync(path.join(work, 'rs-remote', 'x')));
    ok(await sh(`rsync -a ${e} 127.0.0.1:${q(path.join(work, 'rs-remote'))}/ rs-back/`), 'rsync pull');
    assert.equal(fs.readFileSync(path.join(work, 'rs-back', 'd', 'y'), 'utf8'), 'y\n');
  });

  it('a tar pipe copies a tree both ways', async () => {
    fs.mkdirSync(path.join(work, 'tar-src', 'd'), { recursive: true });
    fs.writeFileSync(path.join(work, 'tar-src', 'd', 'z'), 'z\n');
    const t = `${q(TLSSH)} -p ${port} 127.0.0.1`;
    ok(await sh(`tar cf - -C tar-src . | ${t} ${q(`mkdir -p ${path.join(work, 'tar-remote')} && tar xf - -C ${path.join(work, 'tar-remote')}`)}`), 'tar push');
    assert.equal(fs.readFileSync(path.join(work, 'tar-remote', 'd', 'z'), 'utf8'), 'z\n');
    ok(await sh(`mkdir tar-back && ${t} ${q(`tar cf - -C ${path.join(work, 'tar-remote')} .`)} | tar xf - -C tar-back`), 'tar pull');
    assert.equal(fs.readFileSync(path.join(work, 'tar-back', 'd', 'z'), 'utf8'), 'z\n');
  });
});
