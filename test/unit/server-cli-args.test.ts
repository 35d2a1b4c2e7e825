import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonArgs } from '../../src/server/cli-args';

test('flags parse; -o repeats; -v counts', () => {
  const r = parseDaemonArgs(['-f', '-v', '-v', '-c', '/x.conf', '-o', 'Port=1', '-o', 'LogLevel=DEBUG']);
  assert.deepEqual(r, { kind: 'run', args: { foreground: true, verbose: 2, configFile: '/x.conf', overrides: ['Port=1', 'LogLevel=DEBUG'] } });
});

test('--help and -V exit 0; unknown flags and stray arguments exit 255', () => {
  const help = parseDaemonArgs(['--help']);
  assert.equal(help.kind === 'exit' && help.status, 0);
  assert.match(help.kind === 'exit' ? help.output : '', /-o, --option/);
  const v = parseDaemonArgs(['-V']);
  assert.equal(v.kind === 'exit' && v.status, 0);
  assert.equal((parseDaemonArgs(['-x']) as { status?: number }).status, 255);
  assert.equal((parseDaemonArgs(['stray']) as { status?: number }).status, 255);
});
