// scripts/install-deps.sh says, before anything else, when the machine's Node.js is too old or
// missing: bookworm's own nodejs is 18, and npm ci would otherwise fail later and less clearly.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-install-deps-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function withNode(version: string | undefined): ReturnType<typeof spawnSync> {
  const bin = fs.mkdtempSync(path.join(tmp, 'bin-'));
  // A node that answers the script's one question; none at all when no version is given.
  if (version !== undefined) fs.writeFileSync(path.join(bin, 'node'), `#!/bin/sh\necho ${version}\n`, { mode: 0o755 });
  for (const tool of ['dirname', 'bash']) fs.symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, tool));
  return spawnSync('bash', [path.join(ROOT, 'scripts', 'install-deps.sh')], { encoding: 'utf8', env: { PATH: bin }, timeout: 30_000 });
}

test('Node 18, or no node at all, stops install-deps at once with what to install', () => {
  for (const [version, found] of [['18', '18'], [undefined, 'no node']] as const) {
    const r = withNode(version);
    assert.equal(r.status, 1, String(r.stderr));
    assert.match(String(r.stderr), new RegExp(`needs Node.js 20 or later, and this machine has ${found}\\.`));
    assert.match(String(r.stderr), /NodeSource's Node 20 repository/);
    assert.equal(String(r.stdout), '', 'nothing installed or built');
  }
});
