// Test vectors as doc/PROTOCOL.md writes them: fenced blocks of `field: value` lines. Both codec
// vector tests read the document itself through this one reader, so the specification, the
// tlssh/2 codec and the tlssh/2+mux codec are held to the same bytes the same way.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

const doc = readFileSync(path.join(repoRoot(), 'doc', 'PROTOCOL.md'), 'utf8');

/** The fields of every ```kind block of PROTOCOL.md, in document order. */
export function protocolDocBlocks(kind: string): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  const re = new RegExp('```' + kind + '\\n([\\s\\S]*?)```', 'g');
  for (const match of doc.matchAll(re)) {
    const fields = new Map<string, string>();
    for (const line of (match[1] ?? '').split('\n')) {
      const at = line.indexOf(':');
      if (at > 0) fields.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
    }
    out.push(fields);
  }
  return out;
}

/** A block's `hex` field as bytes; white space in it is only layout. */
export function hexField(fields: Map<string, string>): Buffer {
  const text = (fields.get('hex') ?? '').replace(/\s+/g, '');
  assert.match(text, /^([0-9a-f]{2})+$/, `bad hex in PROTOCOL.md: ${fields.get('hex')}`);
  return Buffer.from(text, 'hex');
}

/** JSON.parse, with each `{"hex": "..."}` object read as the Buffer it stands for (data payloads). */
export function parseWithHexBuffers(json: string): unknown {
  return JSON.parse(json, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const hex = (value as { hex?: unknown }).hex;
      if (Object.keys(value).length === 1 && typeof hex === 'string') return Buffer.from(hex, 'hex');
    }
    return value;
  });
}
