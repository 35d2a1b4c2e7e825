// What a worker is told about the configuration. Workers parse network bytes and then become the
// user, so they get no secret (DESIGN §1): the server key, in a TPM or in a PEM file, and its
// passwords stay with the listener, whose key agent signs for the workers (file-key.ts).
//
// WorkerConfig is built by naming the fields a worker needs, never by deleting the secret ones
// from a copy: a keyword added to ServerConfig later stays in the listener until someone adds it
// here on purpose. Its secret fields are typed `never`, so handing a whole ServerConfig where a
// WorkerConfig is expected does not compile.

import type { ServerConfig } from '../config/types';
import type { ConnectionMessage, WarmMessage } from './ipc-messages';
import type { LogSink } from './log';

/** Config fields holding secrets: never sent to a worker. */
export const SECRET_FIELDS = ['PrivkeyPassword', 'TpmSrkPassword'] as const;
type SecretField = (typeof SECRET_FIELDS)[number];

/** The fields a worker reads: TLS set-up, login policy, session and logging. */
export const WORKER_FIELDS = [
  'CertFile', 'KeyFile', 'PrivkeyEngine', 'TpmTcti', 'Keepalive',
  'ClientCAFile', 'ClientCAPath', 'ClientCRL', 'ClientDomain',
  'LoginGraceTime', 'PermitRootLogin', 'AllowUsers', 'DenyUsers', 'AllowGroups', 'DenyGroups', 'AcceptEnv', 'SyslogFacility', 'LogLevel',
  'UsePAM', 'PAMServiceName', 'PrintLastLog', 'Subsystem', 'ForceCommand', 'CertificateExpiry', 'CertificateExpiryWarning', 'MaxSessions',
] as const satisfies ReadonlyArray<Exclude<keyof ServerConfig, SecretField>>;
type WorkerField = (typeof WORKER_FIELDS)[number];

export type WorkerConfig = Pick<ServerConfig, WorkerField> & { readonly [K in SecretField]?: never };

export function workerConfig(cfg: ServerConfig): WorkerConfig {
  const out: Partial<Record<WorkerField, unknown>> = {};
  for (const k of WORKER_FIELDS) {
    const v = cfg[k];
    // Arrays are copied so that the message never aliases the listener's frozen config.
    out[k] = Array.isArray(v) ? [...v] : v;
  }
  return out as WorkerConfig;
}

export interface ConnectionMessageInput {
  id: number;
  config: ServerConfig;
  logSink: LogSink;
  agentSocket?: string | undefined;
  /** What the listener read while it held the connection (the ClientHello), replayed by the worker. */
  prefix?: Buffer | undefined;
  /** The configuration's generation, for a warm worker to know whether what it prepared still holds. */
  generation?: number | undefined;
}

/** The one message a worker gets: its connection number, its config, and where its key is. */
export function connectionMessage(i: ConnectionMessageInput): ConnectionMessage {
  return {
    t: 'connection', id: i.id, config: workerConfig(i.config), logSink: i.logSink,
    ...(i.agentSocket ? { agentSocket: i.agentSocket } : {}),
    ...(i.prefix ? { prefix: i.prefix.toString('base64') } : {}),
    ...(i.generation !== undefined ? { generation: i.generation } : {}),
  };
}

/** What a warm worker prepares from: the connection message's fields, without a connection. */
export function warmMessage(i: Omit<ConnectionMessageInput, 'id' | 'prefix'> & { generation: number }): WarmMessage {
  return {
    t: 'warm', generation: i.generation, config: workerConfig(i.config), logSink: i.logSink,
    ...(i.agentSocket ? { agentSocket: i.agentSocket } : {}),
  };
}
