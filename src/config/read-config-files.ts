// Reads a config file and everything it includes, in order, into one list of statements.
// `include` of a missing file is an error, `-include` of one is not; a wildcard that matches
// nothing is not an error either (as sshd's Include). Includes are followed depth first, each file
// at most once per chain, so a loop is reported instead of recursing forever.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isTlsshError } from '../errors';
import { configError, type Where } from './config-error';
import { globToRegExp, hasWildcard } from './glob-pattern';
import { parseConfigText, type ConfigStatement, type HostSection } from './parse-config-text';
import type { ConfigSchema } from './schema';

/** Deep enough for any sane layout, shallow enough to stop a runaway chain of distinct files. */
const MAX_INCLUDE_DEPTH = 16;
/** A config file is text typed by a person; anything bigger is a mistake (or /dev/zero). */
const MAX_FILE_BYTES = 1 << 20;

export interface ReadOptions {
  readonly home: string;
  /** Return null instead of failing when the top file does not exist (the default files). */
  readonly missingOk: boolean;
}

export function readConfigFile(file: string, schema: ConfigSchema, options: ReadOptions): ConfigStatement[] | null {
  const text = readText(file, { file, line: 0 }, options.missingOk);
  if (text === null) return null;
  const out: ConfigStatement[] = [];
  expand(text, file, schema, options.home, null, [realPath(file)], out, []);
  return out;
}

function expand(
  text: string,
  file: string,
  schema: ConfigSchema,
  home: string,
  section: HostSection | null,
  chain: readonly string[],
  out: ConfigStatement[],
  ignoreUnknown: string[],
): void {
  for (const st of parseConfigText(text, file, schema, { home, section, ignoreUnknown })) {
    if (st.kind === 'set') {
      out.push(st);
      continue;
    }
    const keyword = st.optional ? '-include' : 'include';
    for (const target of matchInclude(st.path, st.where, keyword)) {
      const real = realPath(target);
      if (chain.includes(real)) {
        const loop = [...chain.slice(chain.indexOf(real)), real].join(' -> ');
        throw configError('TLSSH_ERR_CONFIG_SYNTAX', st.where, keyword, `include loop: ${loop}`);
      }
      if (chain.length >= MAX_INCLUDE_DEPTH) {
        throw configError('TLSSH_ERR_CONFIG_SYNTAX', st.where, keyword, `includes nested more than ${MAX_INCLUDE_DEPTH} deep`);
      }
      const inner = readText(target, st.where, st.optional, keyword);
      if (inner !== null) expand(inner, target, schema, home, st.section, [...chain, real], out, ignoreUnknown);
    }
  }
}

/** A plain name as is (its absence is dealt with when reading); a wildcard name as its sorted matches. */
function matchInclude(pattern: string, where: Where, keyword: string): string[] {
  if (!hasWildcard(pattern)) return [pattern];
  const parts = pattern.split('/').filter((p) => p !== '');
  let found = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    for (const dir of found) {
      if (!hasWildcard(part)) {
        next.push(path.join(dir, part));
        continue;
      }
      const re = globToRegExp(part, { ignoreCase: false, pathSegment: true });
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch (e) {
        if (isMissing(e)) continue;
        throw configError('TLSSH_ERR_CONFIG_READ', where, keyword, `cannot list ${dir}: ${errnoText(e)}`, e);
      }
      // Like a shell glob: hidden files (editor backups, .swp) only when the pattern asks for them.
      for (const n of names.sort()) if (re.test(n) && (!n.startsWith('.') || part.startsWith('.'))) next.push(path.join(dir, n));
    }
    found = next;
  }
  return found.filter((f) => fs.existsSync(f));
}

function readText(file: string, where: Where, missingOk: boolean, keyword?: string): string | null {
  const about = keyword === undefined ? 'cannot read config file' : `cannot read ${file}`;
  let fd: number;
  try {
    // O_NONBLOCK so that a FIFO named by mistake fails the regular-file check instead of hanging.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    if (missingOk && isMissing(e)) return null;
    throw configError('TLSSH_ERR_CONFIG_READ', where, keyword, `${about}: ${errnoText(e)}`, e);
  }
  try {
    const st = fs.fstatSync(fd);
    // `-c /dev/null` is the usual way to run without any config, as with ssh -F /dev/null.
    if (st.isCharacterDevice() && realPath(file) === '/dev/null') return '';
    if (!st.isFile()) throw configError('TLSSH_ERR_CONFIG_READ', where, keyword, `${about}: not a regular file`);
    if (st.size > MAX_FILE_BYTES) throw configError('TLSSH_ERR_CONFIG_READ', where, keyword, `${about}: larger than ${MAX_FILE_BYTES} bytes`);
    return fs.readFileSync(fd, 'utf8');
  } catch (e) {
    if (isTlsshError(e)) throw e;
    throw configError('TLSSH_ERR_CONFIG_READ', where, keyword, `${about}: ${errnoText(e)}`, e);
  } finally {
    fs.closeSync(fd);
  }
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException | null;
  if (err?.code === 'ENOENT') return 'no such file (ENOENT)';
  if (err?.code === 'EACCES') return 'permission denied (EACCES)';
  if (err?.code === 'EISDIR') return 'is a directory (EISDIR)';
  return err?.code ?? String(e);
}
