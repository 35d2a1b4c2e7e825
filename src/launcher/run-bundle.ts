// Runs one of the bundled programs (dist/bundle/NAME.js) with the V8 code cache made for it at
// build time (NAME.js.cache), so start-up skips most of V8's parsing and compiling.
//
// The cache is used only when it was made for exactly this bundle by exactly this node: its
// header holds node's version, V8's version and the architecture, and then comes a copy of the
// bundle's bytes as they were when the cache was made. V8 checks its own version and flags, but of
// the source only its length, so without that copy a rebuilt bundle of the same length could run
// stale code. Comparing bytes (memcmp) is exact and costs microseconds; the SHA-256 this key once
// held needed node:crypto, whose loading and hashing cost 3-4 ms of every start (a multiplexed
// `tlssh host true` is ~40 ms in all). A cache that does not match, or that V8 rejects anyway
// (script.cachedDataRejected), is ignored: the bundle then compiles from its text as usual.
// Nothing is written at run time: the install directory belongs to root.

import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

const MAGIC = 'tlssh-code-cache-2';

/** What a cache must have been made for to be used by this node, with a bundle of `length` bytes. */
export function cacheKey(length: number): string {
  return `${MAGIC} ${process.version} ${process.versions.v8} ${process.arch} ${length}`;
}

/** Node's own CommonJS wrapper, so the bundle sees exports, require, module, __filename, __dirname. */
export function wrapSource(source: string): string {
  return Module.wrap(source);
}

/** The cache file's bytes: the key, a newline, the bundle's bytes, then V8's cached data. */
export function encodeCache(bundle: Buffer, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${cacheKey(bundle.length)}\n`, 'utf8'), bundle, data]);
}

/** V8's cached data from a cache file, or undefined when it is missing or made for something else. */
export function decodeCache(file: string, bundle: Buffer): Buffer | undefined {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const nl = raw.indexOf(0x0a);
  if (nl < 0 || raw.toString('utf8', 0, nl) !== cacheKey(bundle.length)) return undefined;
  const copy = raw.subarray(nl + 1, nl + 1 + bundle.length);
  if (copy.length !== bundle.length || !copy.equals(bundle)) return undefined;
  return raw.subarray(nl + 1 + bundle.length);
}

export interface BundleRun {
  /** True when a cache was found for this bundle and V8 took it. */
  cacheUsed: boolean;
}

/** Loads and runs `file` as the CommonJS module it is, with its cache when that is valid. */
export function runBundle(file: string): BundleRun {
  return loadBundle(file).run;
}

/** As runBundle, and gives the module's exports (the client's light bundle loads its full one so). */
export function loadBundle(file: string): { run: BundleRun; exports: unknown } {
  const bytes = fs.readFileSync(file);
  const source = bytes.toString('utf8');
  const cachedData = decodeCache(`${file}.cache`, bytes);
  const script = new vm.Script(wrapSource(source), { filename: file, cachedData });
  const cacheUsed = cachedData !== undefined && script.cachedDataRejected !== true;
  if (process.env['TLSSH_DEBUG_CODE_CACHE'] === '1') {
    process.stderr.write(`code cache for ${file}: ${cachedData === undefined ? 'none' : cacheUsed ? 'used' : 'rejected'}\n`);
  }
  const fn = script.runInThisContext() as (
    exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string,
  ) => void;
  const mod = new Module(file, module);
  mod.filename = file;
  const req = Module.createRequire(file);
  fn.call(mod.exports, mod.exports, req, mod, file, path.dirname(file));
  return { run: { cacheUsed }, exports: mod.exports };
}
