// A HOME for the client programs a test runs, so that what tlssh keeps in ~/.tlssh (saved TPM
// contexts, for one) lands in a directory the test owns and not in the HOME of whoever runs the
// suite. One per test process, removed when it exits.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerTemp } from './temp-registry';

let home: string | undefined;

export function testHome(): string {
  if (home === undefined) {
    const dir = registerTemp(fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-test-home-')));
    home = dir;
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return home;
}
