import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDaemonArgs } from '../../src/server/cli-args';

test('flags parse; -o repeats; -v counts', () => {
  const r = parseDaemonArgs(['-f', '-v', '-v', '-c', '/x.conf', '-o', 'Port=1', '-o', 'LogLevel=DEBUG']);
  assert.deepEqual(r, { kind: 'run', args: { mode: 'serve', foreground: true, verbose: 2, configFile: '/x.conf', overrides: ['Port=1', 'LogLevel=DEBUG'] } });
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

test('-t checks, -T prints the config; -T wins when both are given', () => {
  const mode = (argv: string[]): string | undefined => { const r = parseDaemonArgs(argv); return r.kind === 'run' ? r.args.mode : undefined; };
  assert.equal(mode(['-t']), 'test');
  assert.equal(mode(['-T']), 'print-config');
  assert.equal(mode(['-t', '-T']), 'print-config');
  assert.equal(mode([]), 'serve');
});

test('a usage error names tlsshd and prints the usage, not commander\'s "error:"', () => {
  const r = parseDaemonArgs(['-x']);
  assert.equal(r.kind === 'exit' && r.output, "tlsshd: unknown option '-x'\nusage: tlsshd [-fTtvV] [-c config_file] [-o Keyword=value]...\n");
});

test('sshd\'s habit, -f FILE, is told that the file goes after -c', () => {
  const out = (argv: string[]): string => { const r = parseDaemonArgs(argv); return r.kind === 'exit' ? r.output : ''; };
  const hint = 'tlsshd: -f is --foreground here; the configuration file is -c /etc/tlssh/tlsshd.conf\n';
  assert.ok(out(['-t', '-f', '/etc/tlssh/tlsshd.conf']).endsWith(`usage: tlsshd [-fTtvV] [-c config_file] [-o Keyword=value]...\n${hint}`));
  assert.ok(out(['-tf', '/etc/tlssh/tlsshd.conf']).endsWith(hint));
  // A stray word without -f before it gets the usage alone.
  assert.ok(!out(['stray']).includes('-f is'));
});
