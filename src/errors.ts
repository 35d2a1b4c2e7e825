// One table of every failure tlssh can report. Tests assert on `code`, never on message text;
// the CLIs map `category` to an exit status. Codes are stable: never renumber or reuse one.

export const CATEGORIES = ['usage', 'config', 'net', 'tls', 'auth', 'protocol', 'pty', 'tpm', 'internal'] as const;
export type ErrorCategory = (typeof CATEGORIES)[number];

const table = {
  // usage: bad command line
  TLSSH_ERR_USAGE: 'usage',

  // config: files and keywords
  TLSSH_ERR_CONFIG_READ: 'config',
  TLSSH_ERR_CONFIG_SYNTAX: 'config',
  TLSSH_ERR_CONFIG_UNKNOWN_KEYWORD: 'config',
  TLSSH_ERR_CONFIG_BAD_VALUE: 'config',
  TLSSH_ERR_CONFIG_INSECURE_MODE: 'config',
  TLSSH_ERR_PAM_UNAVAILABLE: 'config',
  TLSSH_ERR_RUNTIME_DIR: 'config',

  // net: sockets and liveness
  TLSSH_ERR_CONNECT: 'net',
  TLSSH_ERR_CONNECT_TIMEOUT: 'net',
  TLSSH_ERR_RESOLVE: 'net',
  TLSSH_ERR_CONNECTION_LOST: 'net',
  TLSSH_ERR_KEEPALIVE_TIMEOUT: 'net',
  TLSSH_ERR_LISTEN: 'net',
  // Connection sharing: the ControlPath socket (unsafe directory, no master there, master gone).
  TLSSH_ERR_CONTROL_SOCKET: 'net',
  TLSSH_ERR_MASTER_LOST: 'net',

  // tls: handshake, chains, names
  TLSSH_ERR_TLS_HANDSHAKE: 'tls',
  TLSSH_ERR_TLS_KEY: 'tls',
  TLSSH_ERR_TLS_CERT_FILE: 'tls',
  TLSSH_ERR_TLS_CA: 'tls',
  TLSSH_ERR_TLS_CRL: 'tls',
  TLSSH_ERR_SERVER_CERT_UNTRUSTED: 'tls',
  TLSSH_ERR_SERVER_NAME_MISMATCH: 'tls',
  TLSSH_ERR_SERVER_EKU: 'tls',
  TLSSH_ERR_SERVER_KEY_USAGE: 'tls',
  TLSSH_ERR_SERVER_CERT_REVOKED: 'tls',
  TLSSH_ERR_ALPN: 'tls',
  TLSSH_ERR_SERVER_CERT_EXPIRED: 'tls',
  TLSSH_ERR_SPEAKS_SSH: 'tls',
  TLSSH_ERR_KEY_INSECURE_MODE: 'tls',

  // auth: who may log in
  TLSSH_ERR_CLIENT_CERT_MISSING: 'auth',
  TLSSH_ERR_CLIENT_CERT_UNTRUSTED: 'auth',
  TLSSH_ERR_CLIENT_CERT_REVOKED: 'auth',
  TLSSH_ERR_CLIENT_CRL: 'auth',
  TLSSH_ERR_CLIENT_EKU: 'auth',
  TLSSH_ERR_CLIENT_KEY_USAGE: 'auth',
  TLSSH_ERR_CLIENT_CERT_CA: 'auth',
  TLSSH_ERR_CERT_USER: 'auth',
  TLSSH_ERR_NO_SUCH_USER: 'auth',
  TLSSH_ERR_USER_MISMATCH: 'auth',
  TLSSH_ERR_ROOT_LOGIN_REFUSED: 'auth',
  TLSSH_ERR_LOGIN_NOT_ALLOWED: 'auth',
  TLSSH_ERR_NOT_DAEMON_USER: 'auth',
  TLSSH_ERR_LOGIN_GRACE_TIME: 'auth',
  TLSSH_ERR_MAX_STARTUPS: 'auth',
  TLSSH_ERR_PAM_ACCOUNT: 'auth',
  // A logged-in session's certificate stopped being good (CertificateExpiry; a reload's
  // ClientCRL/ClientCAFile/ClientCAPath): the daemon ended the session.
  TLSSH_ERR_CERT_EXPIRED_IN_SESSION: 'auth',
  TLSSH_ERR_CERT_REVOKED_IN_SESSION: 'auth',
  TLSSH_ERR_CERT_UNTRUSTED_IN_SESSION: 'auth',
  // A process of another uid at the master's ControlPath socket, or a shared session not confirmed.
  TLSSH_ERR_CONTROL_PEER: 'auth',
  // tlssh/2+mux: the connection already has MaxSessions sessions; only this one is refused.
  TLSSH_ERR_MAX_SESSIONS: 'auth',

  // protocol: frames and message order
  TLSSH_ERR_FRAME_TRUNCATED: 'protocol',
  TLSSH_ERR_FRAME_TOO_LARGE: 'protocol',
  TLSSH_ERR_FRAME_UNKNOWN_TYPE: 'protocol',
  TLSSH_ERR_FRAME_MALFORMED: 'protocol',
  TLSSH_ERR_PROTOCOL_STATE: 'protocol',
  TLSSH_ERR_FLOW_CONTROL: 'protocol',
  TLSSH_ERR_REMOTE: 'protocol',
  // Bad bytes on the local ControlPath socket between a shared-session client and its master.
  TLSSH_ERR_CONTROL_PROTOCOL: 'protocol',
  // tlssh/2+mux: a message for a session id that is not open, or a request for one that is.
  TLSSH_ERR_SESSION_ID: 'protocol',

  // pty: the session on the server
  TLSSH_ERR_PTY: 'pty',
  TLSSH_ERR_SPAWN: 'pty',
  // ssh -s NAME for a NAME the server has no Subsystem line for.
  TLSSH_ERR_UNKNOWN_SUBSYSTEM: 'pty',
  TLSSH_ERR_PRIVILEGE_DROP: 'pty',
  TLSSH_ERR_TTY: 'pty',
  TLSSH_ERR_PAM_SESSION: 'pty',
  // An administrator ended the session (tlsshctl kill); the message is theirs.
  TLSSH_ERR_SESSION_KILLED: 'pty',

  // tpm: the chip, its keys and the key agent
  TLSSH_ERR_TPM_UNAVAILABLE: 'tpm',
  TLSSH_ERR_TPM_PERMISSION: 'tpm',
  TLSSH_ERR_TPM_AUTH: 'tpm',
  TLSSH_ERR_TPM_LOCKOUT: 'tpm',
  TLSSH_ERR_TPM_KEY_FILE: 'tpm',
  TLSSH_ERR_TPM_KEY_ATTRIBUTES: 'tpm',
  TLSSH_ERR_TPM_WRONG_TPM: 'tpm',
  TLSSH_ERR_TPM_NATIVE_MISSING: 'tpm',
  TLSSH_ERR_TPM_AGENT: 'tpm',
  TLSSH_ERR_TPM_TIMEOUT: 'tpm',
  TLSSH_ERR_TPM: 'tpm',

  TLSSH_ERR_INTERNAL: 'internal',
} as const satisfies Record<string, ErrorCategory>;

export type ErrorCode = keyof typeof table;

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(table, s);
}

export function categoryOf(code: ErrorCode): ErrorCategory {
  return table[code];
}

export class TlsshError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TlsshError';
    this.code = code;
    this.category = table[code];
  }
}

export function isTlsshError(e: unknown): e is TlsshError {
  return e instanceof TlsshError;
}

/** ssh's convention: 255 for the tool's own failures, so scripts can tell them from the remote command's. */
export const EXIT_TLSSH_FAILURE = 255;

/** A one-line description of any thrown value, for stderr and logs; never a stack trace. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] ?? String(e);
  return String(e);
}
