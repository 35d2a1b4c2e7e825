// What the tlssh client integration tests share: a CA, a real tlsshd on 127.0.0.1, a client
// config pointing at it, and a way to run the real bin/tlssh and collect what it did.

import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { issueCert, makeCa, makeTempDir, type Ca, type Issued } from '../helpers/ca';
import { ensureBundles } from '../helpers/bundles';
import { startTlsshd, type TlsshdHandle } from '../helpers/server-harness';

// bin/tlssh runs dist/bundle: never one older than the compiled code.
ensureBundles();

export const TLSSH = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlssh');

export interface ClientFixture {
  dir: string;
  ca: Ca;
  client: Issued;
  server: TlsshdHandle;
  /** The user the client certificate maps to (whoever runs the tests). */
  user: string;
  /** A client config with Port, the CA and the client key. */
  configFile: string;
  stop(): Promise<void>;
}

export interface FixtureOptions {
  /** subjectAltName of the server certificate; default localhost and 127.0.0.1. */
  serverSan?: string[];
  serverCn?: string;
  /** Extra client config lines. */
  clientConfig?: Record<string, string>;
  /** Extra tlsshd config lines. */
  serverConfig?: Record<string, string>;
  /** Extra tlsshd arguments (e.g. `-o Subsystem=...`, which a config Record cannot repeat). */
  serverArgs?: string[];
}

export async function startFixture(opts: FixtureOptions = {}): Promise<ClientFixture> {
  const dir = makeTempDir('tlssh-client-test');
  const ca = makeCa(dir);
  const server = issueCert(ca, {
    cn: opts.serverCn ?? 'localhost',
    san: opts.serverSan ?? ['DNS:localhost', 'IP:127.0.0.1'],
    eku: 'serverAuth',
    fileStem: 'server',
  });
  const user = os.userInfo().username;
  const client = issueCert(ca, { cn: user, eku: 'clientAuth', fileStem: 'client' });
  const daemon = await startTlsshd({
    dir,
    // As on many corporate machines: tlsshd must keep it from its workers (each would parse it).
    env: { ...process.env, NODE_EXTRA_CA_CERTS: ca.certFile },
    config: {
      CertFile: server.certFile,
      KeyFile: server.keyFile,
      ClientCAFile: ca.certFile,
      // The tests run as whoever runs them; as root that is a root login.
      PermitRootLogin: 'yes',
      ...opts.serverConfig,
    },
    ...(opts.serverArgs ? { extraArgs: opts.serverArgs } : {}),
  });
  const configFile = path.join(dir, 'tlssh.conf');
  const lines = {
    Port: String(daemon.port),
    ServerCAFile: ca.certFile,
    CertFile: client.certFile,
    KeyFile: client.keyFile,
    ConnectTimeout: '20',
    ...opts.clientConfig,
  };
  fs.writeFileSync(configFile, Object.entries(lines).map(([k, v]) => `${k} ${v}\n`).join(''), { mode: 0o600 });
  return {
    dir,
    ca,
    client,
    server: daemon,
    user,
    configFile,
    stop: async () => {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TlsshRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  /** Bytes for stdin, then end of file; default: an empty stdin that ends at once. */
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  /** Own session (setsid), so there is no controlling terminal at all. */
  detached?: boolean;
  /** Working directory; default the test's. */
  cwd?: string;
  /** Replace stdio wholesale (e.g. a file for stdout); stdout/stderr are then not collected. */
  stdio?: SpawnOptions['stdio'];
  /**
   * Most stdout bytes to collect before killing tlssh, so that a transfer that goes wrong (data
   * repeated without end) fails the test instead of filling the machine's memory.
   */
  maxStdout?: number;
  /** Kill tlssh if it has not ended by then: a bound against hangs, never a timing assertion. */
  killAfterMs?: number;
}

const DEFAULT_MAX_STDOUT = 128 * 1024 * 1024;

/** Runs bin/tlssh to completion. */
export function runTlssh(args: readonly string[], opts: RunOptions = {}): Promise<TlsshRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TLSSH, ...args], {
      stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? { ...process.env, LANG: 'C' },
      detached: opts.detached ?? false,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const out: Buffer[] = [];
    let collected = 0;
    const max = opts.maxStdout ?? DEFAULT_MAX_STDOUT;
    let err = '';
    child.stdout?.on('data', (b: Buffer) => {
      collected += b.length;
      if (collected > max) {
        err += `[test: more than ${max} bytes on stdout; tlssh killed]\n`;
        child.kill('SIGKILL');
        return;
      }
      out.push(b);
    });
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString('utf8');
    });
    child.once('error', reject);
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    }
    const killer = setTimeout(() => {
      err += '[test: tlssh did not finish; killed]\n';
      child.kill('SIGKILL');
    }, opts.killAfterMs ?? 120_000);
    child.once('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** The TlsshError code at the end of a `-v` failure line, e.g. "TLSSH_ERR_CONNECT". */
export function errorCodeOf(stderr: string): string | undefined {
  const last = stderr.trimEnd().split('\n').pop() ?? '';
  return /^tlssh: .*\((TLSSH_ERR_[A-Z0-9_]+)\)$/.exec(last)?.[1];
}

/** tlssh's own lines (not debug output) on stderr. */
export function failureLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('tlssh: '));
}

/** The serial of the certificate the daemon presents now, from a plain TLS client. */
export function serverSerial(fx: ClientFixture): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1', port: fx.server.port, servername: 'localhost', ALPNProtocols: ['tlssh/2'], minVersion: 'TLSv1.3',
      ca: fs.readFileSync(fx.ca.certFile), cert: fs.readFileSync(fx.client.certFile), key: fs.readFileSync(fx.client.keyFile),
    }, () => {
      resolve(s.getPeerCertificate().serialNumber.toUpperCase());
      s.destroy();
    });
    s.on('error', reject);
  });
}

/**
 * Writes a new certificate for the same key over the daemon's CertFile, as a renewal in place
 * would, without a reload; returns its serial as the daemon would present it.
 */
export function renewServerCertInPlace(fx: ClientFixture): string {
  const cfgText = fs.readFileSync(fx.server.configFile, 'utf8');
  const certFile = /^CertFile (.*)$/m.exec(cfgText)?.[1] ?? '';
  const keyFile = /^KeyFile (.*)$/m.exec(cfgText)?.[1] ?? '';
  const renewed = issueCert(fx.ca, { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'], eku: 'serverAuth', fileStem: 'server-inplace', keyFile });
  fs.copyFileSync(renewed.certFile, certFile);
  return renewed.serial.toUpperCase();
}
