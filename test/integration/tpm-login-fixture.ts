// What the TPM login tests share: a software TPM for each side, keys made inside them by the real
// bin/tlssh-keygen, certificate requests signed inside the TPM and certificates issued from them
// by the test CA, a real bin/tlsshd signing with its TPM key, and client configs for bin/tlssh.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { issueFromCsr, makeCa, makeTempDir, type Ca } from '../helpers/ca';
import { startTlsshd, type TlsshdHandle } from '../helpers/server-harness';
import { startSwtpm, type Swtpm } from '../helpers/swtpm';
import { testHome } from '../helpers/test-home';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const TLSSH = path.join(ROOT, 'bin', 'tlssh');
export const TLSSHD = path.join(ROOT, 'bin', 'tlsshd');
export const KEYGEN = path.join(ROOT, 'bin', 'tlssh-keygen');

export interface TpmKeySpec {
  /** Default: ECC P-256. */
  rsa?: boolean;
  password?: string;
  /** The owner hierarchy's password, which the key's parent then needs. */
  parentPassword?: string;
}

export interface TpmIdentity {
  keyFile: string;
  certFile: string;
}

/** Runs bin/tlssh-keygen; a password travels in the environment, never in argv. */
export function keygen(args: string[], password?: string, parentPassword?: string): void {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['TLSSH_KEY_PASSWORD'];
  delete env['TLSSH_SRK_PASSWORD'];
  if (password !== undefined) env['TLSSH_KEY_PASSWORD'] = password;
  if (parentPassword !== undefined) {
    env['TLSSH_SRK_PASSWORD'] = parentPassword;
    args = ['--srk-password', ...args];
  }
  const r = spawnSync(process.execPath, [KEYGEN, '-q', ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  if (r.status !== 0) throw new Error(`tlssh-keygen ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/**
 * A key made inside `tpm` by tlssh-keygen --tpm, its request signed inside the same TPM by
 * tlssh-keygen --csr, and a certificate for it from the CA.
 */
export function tpmIdentity(ca: Ca, tpm: Swtpm, dir: string, stem: string, role: { cn: string; server?: boolean }, spec: TpmKeySpec = {}): TpmIdentity {
  const keyFile = path.join(dir, `${stem}.tss2`);
  const csrFile = path.join(dir, `${stem}.csr`);
  const certFile = path.join(dir, `${stem}.crt`);
  const pw = spec.password !== undefined ? ['--password'] : ['--no-password'];
  keygen(['--tpm', '--tcti', tpm.tcti, ...(spec.rsa ? ['--rsa', '2048'] : ['--ecc', 'P-256']), ...pw, '-o', keyFile], spec.password, spec.parentPassword);
  const san = role.server ? ['--san', 'DNS:localhost,IP:127.0.0.1', '--server'] : ['--client'];
  keygen(['--csr', csrFile, '--key', keyFile, '--tcti', tpm.tcti, '--subject', `/CN=${role.cn}`, ...san], spec.password, spec.parentPassword);
  issueFromCsr(ca, csrFile, certFile, role.server ? { san: ['DNS:localhost', 'IP:127.0.0.1'], eku: 'serverAuth' } : { eku: 'clientAuth' });
  return { keyFile, certFile };
}

export interface TpmLoginFixture {
  dir: string;
  ca: Ca;
  user: string;
  serverTpm: Swtpm;
  clientTpm: Swtpm;
  server: TlsshdHandle;
  serverKey: TpmIdentity;
  clientKey: TpmIdentity;
  /** A 0600 client config for `id` (default: the client's TPM key) with extra keyword lines. */
  clientConfig(extra?: Record<string, string>, id?: TpmIdentity): string;
  stop(): Promise<void>;
}

let configCount = 0;

/** Two software TPMs, a tlsshd signing with a key in the first, a client key in the second. */
export async function startTpmLogin(): Promise<TpmLoginFixture> {
  const dir = makeTempDir('tlssh-tpm-login');
  const ca = makeCa(path.join(dir, 'ca'));
  const user = os.userInfo().username;
  const serverTpm = await startSwtpm();
  const clientTpm = await startSwtpm();
  let server: TlsshdHandle | undefined;
  try {
    const serverKey = tpmIdentity(ca, serverTpm, dir, 'server', { cn: 'localhost', server: true });
    const clientKey = tpmIdentity(ca, clientTpm, dir, 'client', { cn: user });
    server = await startTlsshd({
      dir,
      config: {
        CertFile: serverKey.certFile,
        KeyFile: serverKey.keyFile,
        PrivkeyEngine: 'tpm',
        TpmTcti: serverTpm.tcti,
        ClientCAFile: ca.certFile,
        PermitRootLogin: 'yes',
        // Bursts of logins are part of the tests; random early drop would muddle their result.
        MaxStartups: '100:30:200',
      },
    });
    const daemon = server;
    return {
      dir,
      ca,
      user,
      serverTpm,
      clientTpm,
      server: daemon,
      serverKey,
      clientKey,
      clientConfig(extra = {}, id = clientKey) {
        const file = path.join(dir, `tlssh-${++configCount}.conf`);
        const lines: Record<string, string> = {
          Port: String(daemon.port),
          ServerCAFile: ca.certFile,
          CertFile: id.certFile,
          KeyFile: id.keyFile,
          PrivkeyEngine: 'tpm',
          TpmTcti: clientTpm.tcti,
          ConnectTimeout: '30',
          ...extra,
        };
        const text = Object.entries(lines)
          .filter(([, v]) => v !== '')
          .map(([k, v]) => `${k} ${v}\n`)
          .join('');
        fs.writeFileSync(file, text, { mode: 0o600 });
        return file;
      },
      async stop() {
        await daemon.stop();
        await serverTpm.stop();
        await clientTpm.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await server?.stop();
    await serverTpm.stop();
    await clientTpm.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs bin/tlssh in a session of its own (no controlling terminal, so a password prompt fails
 * instead of waiting), with TPM2TOOLS_TCTI only if given.
 */
export function runTlssh(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = { ...process.env, LANG: 'C', HOME: testHome() };
  delete base['TPM2TOOLS_TCTI'];
  const child = spawn(process.execPath, [TLSSH, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.once('close', (status) => {
      clearTimeout(killer);
      resolve({ status, stdout, stderr });
    }),
  );
}

/** tlssh's own lines on stderr (debug lines excluded). */
export function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('tlssh: '));
}

/** The code that tlssh -v puts at the end of its failure line. */
export function codeOf(stderr: string): string | undefined {
  const lines = ownLines(stderr);
  return /\((TLSSH_ERR_[A-Z0-9_]+)\)$/.exec(lines[lines.length - 1] ?? '')?.[1];
}
