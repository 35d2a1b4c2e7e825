// Where the programs look for their config when no -c is given (DESIGN.md §4).
import * as path from 'node:path';

export const SERVER_CONFIG_FILE = '/etc/tlssh/tlsshd.conf';
export const SYSTEM_CLIENT_CONFIG_FILE = '/etc/tlssh/tlssh.conf';

export function userClientConfigFile(home: string): string {
  return path.join(home, '.tlssh', 'tlssh.conf');
}

/** The default file names; tests point them elsewhere. */
export interface ConfigPaths {
  readonly serverFile: string;
  readonly systemClientFile: string;
  /** Defaults to ~/.tlssh/tlssh.conf under the load's home. */
  readonly userClientFile?: string;
}

export const DEFAULT_CONFIG_PATHS: ConfigPaths = {
  serverFile: SERVER_CONFIG_FILE,
  systemClientFile: SYSTEM_CLIENT_CONFIG_FILE,
};
