// A file holding a TPM or key password must be as private as a key file: readable by its owner
// only, and owned by that user or root (as ssh demands of private keys).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { TlsshError } from '../errors';

/**
 * Files of a loaded config that set TpmSrkPassword or PrivkeyPassword. On the process, not in the
 * module: the client's two bundles each carry a copy of this module, and a config loaded by the
 * light one is used by the full one (scripts/bundle.js).
 */
const SECRET_FILES_KEY = Symbol.for('tlssh.config.secret-files');
const secretFilesOf: WeakMap<object, readonly string[]> = ((globalThis as Record<symbol, WeakMap<object, readonly string[]> | undefined>)[SECRET_FILES_KEY] ??= new WeakMap());

export function recordSecretFiles(cfg: object, files: readonly string[]): void {
  secretFilesOf.set(cfg, Object.freeze([...files]));
}

/** The files of `cfg` that set a password keyword, in the order read. */
export function secretFiles(cfg: object): readonly string[] {
  return secretFilesOf.get(cfg) ?? [];
}

function problem(file: string): string | undefined {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    return `contains a password but has mode ${mode}; other users could read it (run chmod 600 ${file})`;
  }
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  if (st.uid !== euid && st.uid !== 0) {
    return `contains a password but belongs to uid ${st.uid}, neither you (${euid}) nor root`;
  }
  return undefined;
}

/** Throws TLSSH_ERR_CONFIG_INSECURE_MODE unless only its owner (us or root) can read the file. */
export function assertPrivateFile(file: string): void {
  let why: string | undefined;
  try {
    why = problem(file);
  } catch (e) {
    throw new TlsshError('TLSSH_ERR_CONFIG_READ', `${file}: cannot check permissions: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  if (why !== undefined) throw new TlsshError('TLSSH_ERR_CONFIG_INSECURE_MODE', `${file}: ${why}`);
}

/**
 * The client's softer check: the password files of `cfg` that others could read, for a warning.
 * A file that vanished since loading is skipped.
 */
export function insecureSecretFiles(cfg: object): string[] {
  return secretFiles(cfg).filter((f) => {
    try {
      return problem(f) !== undefined;
    } catch {
      return false;
    }
  });
}

/**
 * Why a file that decides who may log in (the daemon's configuration, a CA, a CRL, the server's
 * certificate and key) or where the client connects (its per-user configuration) cannot be
 * trusted: another user could write to it, so could add a CA and log in as root, or send the
 * client elsewhere. Its owner must be us or root and nobody else may write it, as ssh demands of
 * ~/.ssh/config. Undefined when it is fine or cannot be looked at (its reader says why).
 */
export function othersMayWrite(file: string, opts: { privateGroupOk?: boolean } = {}): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return undefined;
  }
  const groupOnly = (st.mode & 0o022) === 0o020;
  if ((st.mode & 0o022) !== 0 && !(groupOnly && opts.privateGroupOk === true && isPrivateGroupOf(st.gid, st.uid))) {
    return `other users may write to it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): run chmod go-w ${file}`;
  }
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  if (st.uid !== euid && st.uid !== 0) return `it belongs to uid ${st.uid}, neither this user (${euid}) nor root`;
  return undefined;
}

/**
 * Whether `gid` is `uid`'s own group and nobody else's, as Debian's ssh accepts a group-writable
 * ~/.ssh/config under the user-private-group scheme (umask 002): among the users NSS lists, only
 * `uid` has it as primary group, and its member list is empty or that user alone. A group with
 * no member at all does not count. Asked only for a group-writable file, so costs nothing else.
 */
function isPrivateGroupOf(gid: number, uid: number): boolean {
  const getent = (...args: string[]): string[][] | undefined => {
    const r = spawnSync('getent', args, { encoding: 'utf8', timeout: 10_000, env: { PATH: '/usr/bin:/bin' } });
    return r.status === 0 && typeof r.stdout === 'string' ? r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split(':')) : undefined;
  };
  const users = getent('passwd');
  // `getent group GID` gives the first group with it only; the whole list shows any other.
  const groups = [...(getent('group', String(gid)) ?? []), ...(getent('group') ?? [])];
  return users !== undefined && privateGroupVerdict(gid, uid, users, groups);
}

/**
 * isPrivateGroupOf's rule over NSS's passwd and group entries (split at ':'). Every group entry
 * with `gid` counts, since a second group with the same gid (groupadd -o) gives its members the
 * same access while `getent group GID` shows only the first.
 */
export function privateGroupVerdict(gid: number, uid: number, users: readonly string[][], groups: readonly string[][]): boolean {
  const owner = users.find((f) => Number(f[2]) === uid);
  const mine = groups.filter((g) => g.length >= 4 && Number(g[2]) === gid);
  if (owner === undefined || mine.length === 0) return false;
  let members = 0;
  for (const f of users) {
    if (Number(f[3]) !== gid) continue;
    if (Number(f[2]) !== uid) return false;
    members++;
  }
  const listed = new Set(mine.flatMap((g) => (g[3] ?? '').split(',').filter((m) => m !== '')));
  if (listed.size > 0) {
    if (listed.size !== 1 || !listed.has(owner[0] ?? '')) return false;
    members++;
  }
  return members > 0;
}

/**
 * Throws TLSSH_ERR_CONFIG_INSECURE_MODE for a configuration file other users may change.
 * `privateGroupOk`: group-writable is fine when the group is the owner's private group (the
 * client's per-user files, as Debian's ssh judges ~/.ssh/config).
 */
export function assertOnlyOwnerWrites(file: string, opts: { privateGroupOk?: boolean } = {}): void {
  const why = othersMayWrite(file, opts);
  if (why !== undefined) throw new TlsshError('TLSSH_ERR_CONFIG_INSECURE_MODE', `bad owner or permissions on ${file}: ${why}`);
}
