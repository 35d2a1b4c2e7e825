import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  clientSchema, loadClientConfig, loadServerConfig, parseConfigText, serverSchema, type ConfigPaths, type ConfigSchema,
} from '../../src/config';

const ROOT = path.resolve(__dirname, '../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlssh-config-etc-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const HOME = '/home/u';
const NO_FILES: ConfigPaths = { serverFile: path.join(tmp, 'none-d.conf'), systemClientFile: path.join(tmp, 'none-s.conf'), userClientFile: path.join(tmp, 'none-u.conf') };

const programs: Array<{ schema: ConfigSchema; etc: string; man: string }> = [
  { schema: serverSchema, etc: path.join(ROOT, 'etc', 'tlsshd.conf'), man: path.join(ROOT, 'man', 'tlsshd.conf.5') },
  { schema: clientSchema, etc: path.join(ROOT, 'etc', 'tlssh.conf'), man: path.join(ROOT, 'man', 'tlssh.conf.5') },
];

function load(schema: ConfigSchema, file: string | undefined): Record<string, unknown> {
  const cfg = schema === serverSchema ? loadServerConfig({ file }, NO_FILES) : loadClientConfig({ host: 'h.example.com', file, home: HOME }, NO_FILES);
  return JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>;
}

/** Keywords with their own field (not aliases such as L3Protocol). */
function canonicalKeywords(schema: ConfigSchema): string[] {
  return [...schema.keywords.values()].filter((k) => k.field === k.name && k.ignored === undefined).map((k) => k.name);
}

// Settings whose default cannot be written as a line: absence itself (an empty list too), or
// "the host as typed".
const NOT_WRITABLE = new Set(['TpmSrkPassword', 'PrivkeyPassword', 'HostName', 'AllowUsers', 'DenyUsers', 'AllowGroups', 'DenyGroups']);

for (const { schema, etc, man } of programs) {
  describe(`etc/${schema.fileName}`, () => {
    it('parses and, all commented out, gives exactly the defaults', () => {
      assert.deepStrictEqual(load(schema, etc), load(schema, undefined));
    });

    it('shows each default truly: uncommenting every setting changes no value', () => {
      const text = fs.readFileSync(etc, 'utf8');
      const live = text
        .split('\n')
        .map((l) => {
          const m = /^#([A-Za-z]+)\b/.exec(l);
          return m !== null && !NOT_WRITABLE.has(m[1] ?? '') ? l.slice(1) : l;
        })
        .join('\n');
      const f = path.join(tmp, schema.fileName);
      fs.writeFileSync(f, live);
      const got = load(schema, f);
      const want = load(schema, undefined);
      delete got['origin'];
      delete want['origin'];
      assert.deepStrictEqual(got, want);
      // And the uncommenting did set things, so this test can fail.
      const origins = Object.values((JSON.parse(JSON.stringify(schema === serverSchema ? loadServerConfig({ file: f }, NO_FILES) : loadClientConfig({ host: 'h', file: f, home: HOME }, NO_FILES))) as { origin: Record<string, string> }).origin);
      assert.ok(origins.filter((o) => o.startsWith(f)).length >= canonicalKeywords(schema).length - NOT_WRITABLE.size);
    });

    it('mentions every keyword', () => {
      const text = fs.readFileSync(etc, 'utf8');
      for (const k of canonicalKeywords(schema)) assert.match(text, new RegExp(`^# ?${k} ?`, 'm'), k);
    });
  });

  describe(`man/${schema.fileName}.5`, () => {
    const text = fs.readFileSync(man, 'utf8');

    it('documents every keyword with its default', () => {
      for (const k of canonicalKeywords(schema)) {
        const at = text.indexOf(`.It Cm ${k} `);
        assert.ok(at >= 0, `${k} has no .It entry`);
        const entry = text.slice(at, text.indexOf('\n.It ', at + 1));
        assert.match(entry, /Default/, `${k} has no default`);
      }
    });

    it('lists every OpenSSH keyword it accepts and ignores', () => {
      for (const k of [...schema.keywords.values()].filter((s) => s.ignored !== undefined)) assert.ok(text.includes(k.name), k.name);
    });

    it('gives EXAMPLES that parse', () => {
      const examples = text.slice(text.indexOf('.Sh EXAMPLES'), text.indexOf('.Sh SEE ALSO'));
      const blocks = [...examples.matchAll(/^\.Bd -literal[^\n]*\n([\s\S]*?)^\.Ed$/gm)].map((m) => (m[1] ?? '').replace(/\\e/g, '\\'));
      assert.ok(blocks.length > 0);
      for (const b of blocks) assert.ok(parseConfigText(b, '/etc/tlssh/example.conf', schema, { home: HOME }).length > 3);
    });

    it('renders with man -l without warnings', (t) => {
      const probe = spawnSync('man', ['--version'], { encoding: 'utf8' });
      if (probe.status !== 0) {
        t.skip('man(1) is not installed (Debian: man-db groff)');
        return;
      }
      const r = spawnSync('man', ['-l', '--warnings', man], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /SEE ALSO/);
    });
  });
}
