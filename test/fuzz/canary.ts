// The canary: a real bin/tlssh login running `cat`, fed a numbered line now and then, whose echo
// must come back. It stays logged in for the whole fuzz run; if it dies, or stops echoing, the
// fuzzer hurt a session it had no business touching.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

const TLSSH = path.resolve(__dirname, '..', '..', '..', 'bin', 'tlssh');

export class Canary {
  private out = '';
  private sent = 0;
  private exitCode: number | null | undefined;
  private stderr = '';
  failures: string[] = [];
  echoes = 0;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (b: Buffer) => (this.out += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    child.stdin.on('error', () => undefined);
    child.once('exit', (code, signal) => {
      this.exitCode = code ?? (signal ? 128 : null);
    });
  }

  static async start(configFile: string): Promise<Canary> {
    const env = { ...process.env };
    delete env['TPM2TOOLS_TCTI'];
    const c = new Canary(spawn(process.execPath, [TLSSH, '-c', configFile, 'localhost', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'], env }));
    if (!(await c.check(30_000))) throw new Error(`the canary login did not start: ${c.failures.join('; ')}`);
    return c;
  }

  get alive(): boolean {
    return this.exitCode === undefined && this.failures.length === 0;
  }

  /** Sends one line and waits for its echo. */
  async check(timeoutMs = 20_000): Promise<boolean> {
    if (this.exitCode !== undefined) {
      if (this.failures.length > 0) return false;
      this.failures.push(`tlssh exited with ${String(this.exitCode)}: ${this.stderr.trim().split('\n').pop() ?? ''}`);
      return false;
    }
    const line = `canary ${++this.sent}\n`;
    this.child.stdin.write(line);
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.out.includes(line)) {
        this.echoes++;
        return true;
      }
      if (this.exitCode !== undefined) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.failures.push(`no echo of ${JSON.stringify(line.trim())} within ${timeoutMs} ms${this.exitCode !== undefined ? ` (tlssh exited with ${String(this.exitCode)})` : ''}`);
    return false;
  }

  /** A last echo, then end of input: `cat` must end and tlssh exit 0. */
  async finish(): Promise<boolean> {
    const ok = await this.check();
    this.child.stdin.end();
    const code = await new Promise<number | null>((resolve) => {
      if (this.exitCode !== undefined) return resolve(this.exitCode);
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      this.child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (code !== 0 && this.failures.length === 0) this.failures.push(`tlssh did not exit 0 at the end (${String(code)}): ${this.stderr.trim().split('\n').pop() ?? ''}`);
    return ok && code === 0 && this.failures.length === 0;
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill('SIGKILL');
  }
}
