// The files that decide who may log in (ClientCAFile, ClientCAPath, ClientCRL) or that the server
// proves itself with (CertFile, KeyFile). Checked at start and reload, and again by each worker
// before it builds TLS from them, since workers read them afresh for every connection: a CA
// slipped in later by someone who may write the file or a directory above it must refuse
// logins, not grant them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { othersMayWrite } from '../config/file-permissions';
import type { ServerConfig } from '../config/types';
import { directoryOpening } from './runtime-dir';

export type TrustedFileKeyword = 'CertFile' | 'KeyFile' | 'ClientCAFile' | 'ClientCRL' | 'ClientCAPath';

export interface TrustedFileProblem {
  keyword: TrustedFileKeyword;
  file: string;
  why: string;
}

/** The files `cfg` names for TLS, those unset left out, with ClientCAPath's entries after it in sorted order. */
export function serverTlsFiles(cfg: Pick<ServerConfig, TrustedFileKeyword>): Array<[TrustedFileKeyword, string]> {
  const files: Array<[TrustedFileKeyword, string]> = [['CertFile', cfg.CertFile], ['KeyFile', cfg.KeyFile], ['ClientCAFile', cfg.ClientCAFile], ['ClientCRL', cfg.ClientCRL], ['ClientCAPath', cfg.ClientCAPath]];
  if (cfg.ClientCAPath !== '') {
    try {
      for (const name of fs.readdirSync(cfg.ClientCAPath).sort()) files.push(['ClientCAPath', path.join(cfg.ClientCAPath, name)]);
    } catch {
      // Its reader says why it cannot be read.
    }
  }
  return files.filter(([, file]) => file !== '');
}

/** The first file of `cfg` that another user could change or replace, with why; else undefined. */
export function untrustedServerFile(cfg: Pick<ServerConfig, TrustedFileKeyword>): TrustedFileProblem | undefined {
  const seen = new Set<string>();
  for (const [keyword, file] of serverTlsFiles(cfg)) {
    const why = othersMayWrite(file) ?? othersMayReplace(file, seen);
    if (why !== undefined) return { keyword, file, why };
  }
  return undefined;
}

/**
 * Why another user could put a different file at `file`'s path: a directory on the way (as
 * written, and after symlinks) that someone else owns or may write to, as sshd's StrictModes
 * judges the directories above authorized_keys. A world-writable directory with the sticky bit
 * (/tmp) is fine: nobody but the owner of the entry below it may rename or remove that entry,
 * and that owner is checked next. Undefined when every directory is fine or one cannot be
 * looked at (the file's reader says why). `seen`: directories a caller has checked already.
 */
function othersMayReplace(file: string, seen: Set<string> = new Set()): string | undefined {
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : 0;
  const dirsOf = (p: string): string[] => {
    const out: string[] = [];
    for (let d = path.dirname(path.resolve(p)); ; d = path.dirname(d)) {
      out.push(d);
      if (d === path.dirname(d)) return out;
    }
  };
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return undefined;
  }
  for (const dir of new Set([...dirsOf(file), ...dirsOf(real)])) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      return undefined;
    }
    const open = directoryOpening(st, euid, true);
    if (open !== undefined && 'owner' in open) return `its directory ${dir} belongs to uid ${open.owner}, neither this user (${euid}) nor root`;
    if (open !== undefined) return `other users may replace it: its directory ${dir} is writable by them (mode ${open.mode}); run chmod go-w ${dir}`;
  }
  return undefined;
}
