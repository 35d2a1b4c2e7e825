// tlssh's configuration for one host. Files are read in order (/etc/tlssh/tlssh.conf, then
// ~/.tlssh/tlssh.conf; or only -c FILE), each laid over the one before. Within one file (with what
// it includes) the global lines apply first and then the [sections] matching the host, in file
// order, so a section overrides a global line wherever it sits. -o overrides everything.
import * as os from 'node:os';
import { TlsshError } from '../errors';
import { ConfigFold } from './apply-statements';
import { parseOverrides } from './command-line-overrides';
import { DEFAULT_CONFIG_PATHS, userClientConfigFile, type ConfigPaths } from './config-paths';
import { configError } from './config-error';
import { deepFreeze } from './deep-freeze';
import { assertOnlyOwnerWrites, recordSecretFiles } from './file-permissions';
import { hostMatches } from './host-patterns';
import { resolveIdentity, type Identity } from './identity-file';
import { expandPathTokens, tokenContext, type TokenContext } from './percent-tokens';
import { secretFilesIn } from './load-server-config';
import type { ConfigStatement, HostSection } from './parse-config-text';
import { readConfigFile } from './read-config-files';
import { clientSchema } from './schema';
import type { ClientConfig, ClientLoadOptions } from './types';

export function loadClientConfig(opts: ClientLoadOptions, paths: ConfigPaths = DEFAULT_CONFIG_PATHS): ClientConfig {
  const home = opts.home ?? os.homedir();
  if (opts.host === '' || /[\s\u0000-\u001f\u007f]/.test(opts.host)) {
    throw new TlsshError('TLSSH_ERR_USAGE', `${JSON.stringify(opts.host)} is not a host name`);
  }
  const files =
    opts.file !== undefined
      ? [{ file: opts.file, missingOk: false }]
      : [
          { file: paths.systemClientFile, missingOk: true },
          { file: paths.userClientFile ?? userClientConfigFile(home), missingOk: true },
        ];

  const fold = new ConfigFold();
  const warnings: string[] = [];
  const all: ConfigStatement[] = [];
  const trace: string[] = [];
  for (const { file, missingOk } of files) {
    const found = readConfigFile(file, clientSchema, { home, missingOk });
    // ssh's rule for ~/.ssh/config: the user's own file (and what it includes) nobody else may change.
    if (found !== null && opts.file === undefined && file !== paths.systemClientFile) {
      for (const f of new Set([file, ...found.map((st) => st.where.file)])) assertOnlyOwnerWrites(f, { privateGroupOk: true });
    }
    trace.push(found === null ? `Reading configuration data ${file}: not found` : `Reading configuration data ${file}`);
    const statements = found ?? [];
    all.push(...statements);
    const included = new Set(statements.map((st) => st.where.file).filter((f) => f !== file));
    for (const f of included) trace.push(`Reading configuration data ${f} (included)`);
    for (const st of statements) if (st.kind === 'set' && st.section === null) fold.apply(st.spec, st.value, st.where);
    const applied = new Set<string>();
    const bySection = new Map<string, { value: string; st: ConfigStatement & { kind: 'set' } }>();
    for (const st of statements) {
      if (st.kind === 'set' && st.section !== null && sectionApplies(opts.host, st.section)) {
        const earlier = st.spec.list ? undefined : bySection.get(st.spec.field);
        const value = JSON.stringify(st.value);
        if (earlier && earlier.value !== value && looksLikeSshLayout(st, earlier.st)) warnings.push(sshStyleOverride(st, earlier.st, opts.host));
        if (!st.spec.list) bySection.set(st.spec.field, { value, st });
        const at = `${st.section.where.file}:${st.section.where.line}`;
        if (!applied.has(at)) {
          applied.add(at);
          trace.push(`${at}: Applying options for [${st.section.patterns.join(' ')}]`);
        }
        fold.apply(st.spec, st.value, st.where);
      }
    }
  }
  // As in ssh, the first -o, -p or -l that sets a keyword wins, so a wrapper's options in front of
  // the user's (scp's -oRequestTTY=no) hold. List keywords (SendEnv) add up.
  const setByCommandLine = new Set<string>();
  for (const o of parseOverrides(opts.overrides ?? [], clientSchema, home)) {
    if (!o.spec.list && setByCommandLine.has(o.spec.field)) continue;
    setByCommandLine.add(o.spec.field);
    fold.apply(o.spec, o.value, o.where);
  }
  // ssh's flags (-4/-6, -b, -e, -q, -M, -S) set their keyword whenever they come, where -o only
  // fills what is still unset: a flag beats any -o, and the last flag wins.
  for (const o of parseOverrides(opts.flagOverrides ?? [], clientSchema, home)) fold.apply(o.spec, o.value, o.where);

  const cfg = buildClientConfig(fold, opts.host, home, [...trace, ...fold.notes], warnings, opts.dumpOnly === true);
  recordSecretFiles(cfg, secretFilesIn(all));
  return deepFreeze(cfg);
}

/**
 * Whether `later` overriding `earlier` is ssh's layout, general blocks last, which ssh's first-wins
 * rule wants: a `Host` block with `*` among its patterns, or with wildcards after a section of
 * exact names. tlssh's own layout, general first and specific after, never matches, so a file
 * written for tlssh gets no warning.
 */
function looksLikeSshLayout(later: ConfigStatement & { kind: 'set' }, earlier: ConfigStatement & { kind: 'set' }): boolean {
  const wild = (s: ConfigStatement): boolean => s.section?.patterns.some((p) => /[*?]/.test(p)) === true;
  if (later.section === null || !later.section.sshStyle) return false;
  return later.section.patterns.includes('*') || (wild(later) && !wild(earlier));
}

/**
 * A `Host` block overriding what an earlier matching block set. In tlssh the last matching section
 * wins; in ssh the first value found does, which is why ssh configs put `Host *` last. Pasted
 * here, such a config would quietly connect with the catch-all's Port or User: say so.
 */
function sshStyleOverride(st: ConfigStatement & { kind: 'set' }, earlier: ConfigStatement & { kind: 'set' }, host: string): string {
  const name = (s: ConfigStatement): string => (s.section === null ? '' : `${s.section.sshStyle ? 'Host ' : '['}${s.section.patterns.join(' ')}${s.section.sshStyle ? '' : ']'}`);
  const at = (s: ConfigStatement): string => `${s.where.file}:${s.where.line}`;
  return `tlssh: ${at(st)}: ${st.spec.name} in "${name(st)}" overrides ${st.spec.name} in "${name(earlier)}" (${at(earlier)}) for ${host}: ` +
    'in tlssh the last matching section wins, in ssh the first; put general blocks such as "Host *" before specific ones';
}

function buildClientConfig(fold: ConfigFold, host: string, home: string, notes: readonly string[], warnings: readonly string[], dumpOnly: boolean): ClientConfig {
  const said = [...warnings];
  const defaults: Record<string, unknown> = { HostName: host, ...clientSchema.defaults({ home }) };
  const values: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const field of Object.keys(defaults)) {
    values[field] = fold.values.has(field) ? fold.values.get(field) : defaults[field];
    origin[field] = fold.originOf(field);
  }
  if (values['ServerCAFile'] === '' && values['ServerCAPath'] === '') {
    throw configError(
      'TLSSH_ERR_CONFIG_BAD_VALUE',
      fold.where.get('ServerCAFile') ?? fold.where.get('ServerCAPath') ?? { commandLine: '-o ServerCAFile=' },
      'ServerCAFile',
      'ServerCAFile and ServerCAPath are both empty: no server certificate could be verified',
    );
  }
  const hostName = values['HostName'];
  if (typeof hostName === 'string' && hostName.includes('%')) {
    // `HostName %h.internal.example.com` under `Host web*`, as ssh expands it.
    values['HostName'] = hostName.replace(/%([h%])/g, (_m, t: string) => (t === 'h' ? host : '%'));
  }
  // `IdentityFile ~/.tlssh/keys/%h.key`: ssh's tokens, once the destination is known. Defaults
  // are never expanded (a % in a home directory is a character).
  // The context (the user database, the host name) only when a token asks for it: this runs at
  // every start.
  let tokens: TokenContext | undefined;
  for (const field of ['IdentityFile', 'CertFile', 'KeyFile']) {
    const v = values[field];
    if (!fold.values.has(field) || typeof v !== 'string' || !v.includes('%')) continue;
    tokens ??= tokenContext({ host, HostName: String(values['HostName']), Port: Number(values['Port']), User: String(values['User']) }, home);
    values[field] = expandPathTokens(v, tokens);
  }
  const identity = values['IdentityFile'];
  if (typeof identity === 'string' && identity !== '') {
    // -i names the key; the certificate beside it comes along (identity-file.ts).
    let id: Identity | undefined;
    try {
      id = resolveIdentity(identity);
    } catch (e) {
      // ssh -G warns of a missing identity and prints the configuration all the same.
      if (!dumpOnly || !(e instanceof Error)) throw e;
      said.push(`tlssh: warning: ${e.message}`);
    }
    values['KeyFile'] = id?.keyFile ?? identity;
    if (id) values['CertFile'] = id.certFile;
    origin['KeyFile'] = origin['IdentityFile']!;
    if (id) origin['CertFile'] = origin['IdentityFile']!;
  }
  const cfg = { origin, host, ...values };
  // Not a setting: kept out of enumeration so dumps and comparisons see only settings.
  Object.defineProperty(cfg, 'notes', { value: Object.freeze([...notes]), enumerable: false });
  Object.defineProperty(cfg, 'warnings', { value: Object.freeze(said), enumerable: false });
  return cfg as unknown as ClientConfig;
}

/** A section applies when its patterns match, and those of every section it was included from. */
function sectionApplies(host: string, section: HostSection): boolean {
  return hostMatches(host, section.patterns) && (section.within === null || sectionApplies(host, section.within));
}
