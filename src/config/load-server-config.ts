// tlsshd's configuration: /etc/tlssh/tlsshd.conf (or -c FILE), then -o overrides, checked, typed
// and frozen.
import * as os from 'node:os';
import { ConfigFold } from './apply-statements';
import { parseOverrides } from './command-line-overrides';
import { DEFAULT_CONFIG_PATHS, type ConfigPaths } from './config-paths';
import { configError } from './config-error';
import { deepFreeze } from './deep-freeze';
import { assertOnlyOwnerWrites, assertPrivateFile, recordSecretFiles } from './file-permissions';
import { formatListen, type ListenSpec } from './listen-address';
import type { ConfigStatement } from './parse-config-text';
import { readConfigFile } from './read-config-files';
import { serverSchema } from './schema';
import { isTss2KeyFile } from './tss2-key-file';
import type { LoadOptions, ServerConfig } from './types';

export function loadServerConfig(opts: LoadOptions = {}, paths: ConfigPaths = DEFAULT_CONFIG_PATHS): ServerConfig {
  const home = os.homedir();
  const statements: ConfigStatement[] =
    opts.file !== undefined
      ? readConfigFile(opts.file, serverSchema, { home, missingOk: false }) ?? []
      : readConfigFile(paths.serverFile, serverSchema, { home, missingOk: true }) ?? [];

  const fold = new ConfigFold();
  for (const st of statements) if (st.kind === 'set') fold.apply(st.spec, st.value, st.where);
  for (const o of parseOverrides(opts.overrides ?? [], serverSchema, home)) fold.apply(o.spec, o.value, o.where);

  const secrets = secretFilesIn(statements);
  // The daemon never prompts, so a password in its config is the only way in; it must not be
  // readable by anyone else. Checked before anything uses the config.
  for (const f of secrets) assertPrivateFile(f);
  // It decides who logs in, as whom: nobody but its owner (root) may change it, includes alike.
  for (const f of new Set(statements.map((st) => st.where.file))) assertOnlyOwnerWrites(f);

  const cfg = buildServerConfig(fold);
  recordSecretFiles(cfg, secrets);
  return deepFreeze(cfg);
}

export function secretFilesIn(statements: readonly ConfigStatement[]): string[] {
  const files: string[] = [];
  for (const st of statements) {
    if (st.kind === 'set' && st.spec.secret && !files.includes(st.where.file)) files.push(st.where.file);
  }
  return files;
}

function buildServerConfig(fold: ConfigFold): ServerConfig {
  const defaults = serverSchema.defaults({ home: '' });
  const values: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const field of Object.keys(defaults)) {
    values[field] = fold.values.has(field) ? fold.values.get(field) : defaults[field];
    origin[field] = fold.originOf(field);
  }
  const port = values['Port'] as number;
  const listen = (fold.values.get('Listen') as ListenSpec[] | undefined) ?? (defaults['Listen'] as string[]).map((host) => ({ host, port: undefined }));
  values['Listen'] = [...new Set(listen.map((l) => formatListen(l.host, l.port ?? port)))];

  if (values['ClientCAFile'] === '' && values['ClientCAPath'] === '') {
    throw configError(
      'TLSSH_ERR_CONFIG_BAD_VALUE',
      fold.where.get('ClientCAFile') ?? fold.where.get('ClientCAPath') ?? { commandLine: '-o ClientCAFile=' },
      'ClientCAFile',
      'ClientCAFile and ClientCAPath are both empty: no client certificate could be verified',
    );
  }
  // A TSS2 key file is a TPM key whatever PrivkeyEngine says (empty), as in tlssh: the file
  // itself says so, and a PEM reader could do nothing with it.
  if (values['PrivkeyEngine'] === '' && isTss2KeyFile(values['KeyFile'] as string)) {
    values['PrivkeyEngine'] = 'tpm';
    origin['PrivkeyEngine'] = `${values['KeyFile'] as string} is a TSS2 key file`;
  }
  return { origin, ...values } as unknown as ServerConfig;
}
