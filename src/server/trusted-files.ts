// The files that decide who may log in (ClientCAFile, ClientCAPath, ClientCRL) or that the server
// proves itself with (CertFile, KeyFile). Checked at start and reload, and again by each worker
// before it builds TLS from them, since workers read them afresh for every connection: a CA
// slipped in later by someone who may write the file or a directory above it must refuse
// logins, not grant them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { othersMayReplace, othersMayWrite } from '../config/file-permissions';
import type { ServerConfig } from '../config/types';

export type TrustedFileKeyword = 'CertFile' | 'KeyFile' | 'ClientCAFile' | 'ClientCRL' | 'ClientCAPath';

export interface TrustedFileProblem {
  keyword: TrustedFileKeyword;
  file: string;
  why: string;
}

/** The first file of `cfg` that another user could change or replace, with why; else undefined. */
export function untrustedServerFile(cfg: Pick<ServerConfig, TrustedFileKeyword>): TrustedFileProblem | undefined {
  const files: Array<[TrustedFileKeyword, string]> = [['CertFile', cfg.CertFile], ['KeyFile', cfg.KeyFile], ['ClientCAFile', cfg.ClientCAFile], ['ClientCRL', cfg.ClientCRL], ['ClientCAPath', cfg.ClientCAPath]];
  if (cfg.ClientCAPath !== '') {
    try {
      for (const name of fs.readdirSync(cfg.ClientCAPath)) files.push(['ClientCAPath', path.join(cfg.ClientCAPath, name)]);
    } catch {
      // Its reader says why it cannot be read.
    }
  }
  const seen = new Set<string>();
  for (const [keyword, file] of files) {
    if (file === '') continue;
    const why = othersMayWrite(file) ?? othersMayReplace(file, seen);
    if (why !== undefined) return { keyword, file, why };
  }
  return undefined;
}
