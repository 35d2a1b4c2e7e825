// The per-source keywords of sshd 9.8 in tlsshd.conf: defaults, sshd's syntax, and errors that
// name file, line and keyword.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadServerConfig } from '../../src/config';
import { fails } from '../helpers/expect-failure';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-config-per-source-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const NO_FILES = { serverFile: path.join(tmp, 'absent.conf'), systemClientFile: '/nonexistent' };

let n = 0;
function load(text: string): ReturnType<typeof loadServerConfig> {
  const f = path.join(tmp, `t${++n}.conf`);
  fs.writeFileSync(f, text);
  return loadServerConfig({ file: f }, NO_FILES);
}
function bad(text: string, keyword: string): void {
  const f = path.join(tmp, `t${++n}.conf`);
  fs.writeFileSync(f, `Port 1\n${text}\n`);
  fails(() => loadServerConfig({ file: f }, NO_FILES), 'TLSSH_ERR_CONFIG_BAD_VALUE', `${f}:2: ${keyword}: `);
}

describe('per-source keywords', () => {
  it('default as in sshd 9.8, but PerSourceMaxStartups 10 (MaxStartups\' start) instead of none', () => {
    const c = loadServerConfig({}, NO_FILES);
    assert.equal(c.PerSourceMaxStartups, 10);
    assert.deepEqual(c.PerSourceNetBlockSize, { ipv4: 32, ipv6: 128 });
    assert.deepEqual(c.PerSourcePenaltyExemptList, []);
    const p = c.PerSourcePenalties;
    assert.deepEqual(
      [p.enabled, p.crash, p.authfail, p.noauth, p['grace-exceeded'], p.max, p.min, p.maxSources4, p.maxSources6, p.overflow, p.overflow6],
      [true, 90, 5, 1, 10, 600, 15, 65536, 65536, 'permissive', 'permissive'],
    );
  });

  it('read sshd syntax', () => {
    const c = load([
      'PerSourceMaxStartups 5',
      'PerSourceNetBlockSize 24:56',
      'PerSourcePenalties authfail:1m grace-exceeded:30s min:0 max:1h max-sources4:100 overflow:deny-all',
      'PerSourcePenaltyExemptList 10.0.0.0/8, 2001:db8::/32,127.0.0.1',
    ].join('\n'));
    assert.equal(c.PerSourceMaxStartups, 5);
    assert.deepEqual(c.PerSourceNetBlockSize, { ipv4: 24, ipv6: 56 });
    const p = c.PerSourcePenalties;
    assert.equal(p.authfail, 60);
    assert.equal(p['grace-exceeded'], 30);
    assert.equal(p.min, 0);
    assert.equal(p.max, 3600);
    assert.equal(p.crash, 90, 'unnamed settings keep their default');
    assert.equal(p.maxSources4, 100);
    assert.equal(p.overflow6, 'deny-all', 'overflow6 follows overflow');
    assert.deepEqual(c.PerSourcePenaltyExemptList, ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1']);
    assert.equal(load('PerSourceNetBlockSize 16').PerSourceNetBlockSize.ipv6, 128);
    assert.equal(load('PerSourcePenalties no').PerSourcePenalties.enabled, false);
    assert.equal(load('PerSourcePenalties yes').PerSourcePenalties.enabled, true);
    assert.equal(load('PerSourcePenalties overflow:deny-all overflow6:permissive').PerSourcePenalties.overflow6, 'permissive');
  });

  it('refuse bad values naming file, line and keyword', () => {
    bad('PerSourceMaxStartups 0', 'PerSourceMaxStartups');
    bad('PerSourceMaxStartups lots', 'PerSourceMaxStartups');
    bad('PerSourceNetBlockSize 33', 'PerSourceNetBlockSize');
    bad('PerSourceNetBlockSize 24:129', 'PerSourceNetBlockSize');
    bad('PerSourceNetBlockSize /24', 'PerSourceNetBlockSize');
    bad('PerSourcePenalties authfail', 'PerSourcePenalties');
    bad('PerSourcePenalties authfail:soon', 'PerSourcePenalties');
    bad('PerSourcePenalties refused:5s', 'PerSourcePenalties');
    bad('PerSourcePenalties overflow:maybe', 'PerSourcePenalties');
    bad('PerSourcePenalties max-sources6:0', 'PerSourcePenalties');
    bad('PerSourcePenalties min:10m max:1m', 'PerSourcePenalties');
    bad('PerSourcePenaltyExemptList 10.0.0.0/33', 'PerSourcePenaltyExemptList');
    bad('PerSourcePenaltyExemptList example.com', 'PerSourcePenaltyExemptList');
    bad('PerSourcePenaltyExemptList 10.0.0.1,,10.0.0.2', 'PerSourcePenaltyExemptList');
  });
});
