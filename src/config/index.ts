// The configuration system of tlssh and tlsshd. See man/tlssh.conf.5 and man/tlsshd.conf.5.
export type { ClientConfig, ClientLoadOptions, CommonConfig, LoadOptions, MaxStartups, ServerConfig } from './types';
export { loadServerConfig } from './load-server-config';
export { loadClientConfig } from './load-client-config';
export { parseConfigText, type ConfigStatement, type FileWhere, type HostSection, type ParseOptions } from './parse-config-text';
export { clientSchema, serverSchema, DEFAULT_SERVER_CONFIG, defaultClientConfig, type ConfigSchema, type KeywordSpec } from './schema';
export { assertPrivateFile, insecureSecretFiles, secretFiles } from './file-permissions';
export { listenAddresses, splitListen, type ListenAddress } from './listen-address';
export { hostMatches } from './host-patterns';
export { findSubsystem, parseSubsystem, type Subsystem } from './subsystem';
export { parseForceCommand } from './force-command';
export {
  DEFAULT_CONFIG_PATHS, SERVER_CONFIG_FILE, SYSTEM_CLIENT_CONFIG_FILE, userClientConfigFile, type ConfigPaths,
} from './config-paths';
