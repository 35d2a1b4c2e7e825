// Ansible, unchanged, over tlssh: Debian's ansible-core with ansible_ssh_executable=bin/tlssh and
// its default ssh_args (-C -o ControlMaster=auto -o ControlPersist=60s, so every task runs through
// a connection-sharing master tlssh starts) and transfer method (sftp, then scp), against a real
// tlsshd on 127.0.0.1 run as root. One playbook, run with pipelining
// off and on, covers ping, command, copy (a file transfer), and become through sudo, which with
// pipelining off runs on a terminal (-tt) and answers sudo's password prompt there.

import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestUser, isRoot, makeServerFixture, startTlsshd, type TestUser, type TlsshdHandle } from '../helpers/server-harness';
import { TLSSH } from './client-fixture';

const hasAnsible = spawnSync('sh', ['-c', 'command -v ansible-playbook && command -v sudo'], { stdio: 'ignore' }).status === 0;
const skip = !isRoot ? 'needs root (a test user with sudo rights)' : !hasAnsible ? 'ansible-core or sudo is not installed (scripts/install-deps.sh)' : false;
if (skip) process.stderr.write(`# ansible over tlssh skipped: ${skip}\n`);

/**
 * ansible-playbook, asynchronously: a spawnSync would stop this process from reading the daemon's
 * log pipe, and a daemon blocked writing a full pipe stops accepting connections.
 */
function playbook(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ansible-playbook', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString('utf8'); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    // A bound against hangs, never a timing assertion.
    const killer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** tlsshd's log line for an sftp session: the connection's first, or a later one over a shared connection. */
const SFTP_LOG = /subsystem sftp for |session \d+: .*subsystem sftp/;

const PLAYBOOK = `
- hosts: all
  gather_facts: false
  tasks:
    - ping:
    - command: id -un
      register: who
    - copy:
        src: "{{ src }}"
        dest: "{{ dest }}"
        mode: "0640"
    - command: id -u
      become: true
      register: root
    - copy:
        content: "{{ who.stdout }} {{ root.stdout }}\\n"
        dest: "{{ dest }}.result"
`;

describe('Ansible with ansible_ssh_executable=tlssh', { skip }, () => {
  let user: TestUser;
  let daemon: TlsshdHandle;
  let dir: string;
  let sudoers: string;
  let env: NodeJS.ProcessEnv;
  const password = `pw-${process.pid}-x`;

  before(async () => {
    user = createTestUser('subsys-ans');
    execFileSync('chpasswd', { input: `${user.name}:${password}\n` });
    sudoers = `/etc/sudoers.d/${user.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    // A password, so that become has to answer sudo's prompt on the terminal tlssh gives it.
    fs.writeFileSync(sudoers, `${user.name} ALL=(ALL) ALL\n`, { mode: 0o440 });
    const fx = makeServerFixture('tlssh-ansible');
    dir = fx.dir;
    const id = fx.client(user.name);
    daemon = await startTlsshd({ dir, config: { ...fx.config } });
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, '.tlssh'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(home, '.tlssh', 'tlssh.conf'), `ServerCAFile ${id.caFile}\nCertFile ${id.certFile}\nKeyFile ${id.keyFile}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'inventory'),
      `localhost-tlssh ansible_host=127.0.0.1 ansible_port=${daemon.port} ansible_ssh_executable=${TLSSH} ansible_user=${user.name} ansible_python_interpreter=/usr/bin/python3\n`);
    fs.writeFileSync(path.join(dir, 'play.yml'), PLAYBOOK);
    fs.writeFileSync(path.join(dir, 'src.txt'), 'copied by ansible over tlssh\n');
    env = {
      PATH: process.env['PATH'], HOME: home, LANG: 'C.UTF-8',
      ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: 'False',
      ANSIBLE_LOCAL_TEMP: path.join(home, '.ansible', 'tmp'),
    };
  });

  after(async () => {
    await daemon?.stop();
    if (sudoers) fs.rmSync(sudoers, { force: true });
    user?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Ansible 2.14 runs the real sftp and scp for transfers, which reach for /usr/bin/ssh unless
  // given -S: unchanged, its "smart" transfer falls back to piping through tlssh (dd); with
  // ansible_sftp_extra_args=-S tlssh, files go over tlsshd's sftp subsystem.
  for (const variant of [{ pipelining: false, sftp: false }, { pipelining: true, sftp: true }]) {
    const name = `pipelining ${variant.pipelining ? 'on' : 'off'}, ${variant.sftp ? 'sftp -S tlssh' : 'inventory unchanged'}`;
    it(`runs ping, command, copy and become (sudo) with ${name}`, async () => {
      const dest = path.join(user.home, `copied-${variant.pipelining ? 'p' : 'n'}.txt`);
      const sftpBefore = daemon.logs().split('\n').filter((l) => SFTP_LOG.test(l)).length;
      const extra = variant.sftp ? ` ansible_sftp_extra_args='-S ${TLSSH}' ansible_scp_extra_args='-S ${TLSSH}'` : '';
      const r = await playbook(['-i', 'inventory', 'play.yml', '-e', `src=${path.join(dir, 'src.txt')} dest=${dest} ansible_become_password=${password}${extra}`],
        dir, { ...env, ANSIBLE_PIPELINING: variant.pipelining ? 'True' : 'False' });
      assert.equal(r.status, 0, `ansible-playbook failed:\n${r.stdout}\n${r.stderr}\n${daemon.logs().slice(-3000)}`);
      assert.match(r.stdout, /ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/);
      assert.equal(fs.readFileSync(dest, 'utf8'), 'copied by ansible over tlssh\n');
      const st = fs.statSync(dest);
      assert.equal(st.uid, user.uid);
      assert.equal(st.mode & 0o777, 0o640);
      // The command ran as the user, become as root.
      assert.equal(fs.readFileSync(`${dest}.result`, 'utf8'), `${user.name} 0\n`);
      // Its default ssh_args (ControlMaster=auto, ControlPersist=60s) made tlssh start a master
      // on Ansible's ControlPath, which the tasks ran through.
      const cpDir = path.join(env['HOME']!, '.ansible', 'cp');
      const sockets = fs.readdirSync(cpDir).map((f) => path.join(cpDir, f)).filter((f) => fs.statSync(f).isSocket());
      assert.equal(sockets.length, 1, `one master socket in ${cpDir}`);
      const check = spawnSync(process.execPath, [TLSSH, '-F', '/dev/null', '-S', sockets[0]!, '-O', 'check', 'localhost-tlssh'], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
      assert.match(check.stderr, /^Master running \(pid=\d+\)$/m);
      // The next variant starts its own master.
      spawnSync(process.execPath, [TLSSH, '-F', '/dev/null', '-S', sockets[0]!, '-O', 'exit', 'localhost-tlssh']);
      if (variant.sftp) {
        assert.ok(daemon.logs().split('\n').filter((l) => SFTP_LOG.test(l)).length > sftpBefore, 'files went over the sftp subsystem');
        assert.doesNotMatch(r.stderr, /transfer mechanism failed/);
      }
    });
  }
});
