// The tlssh/2 message set, as plain data. Byte layouts live in doc/PROTOCOL.md and codec.ts;
// everything above the codec speaks only these types.

export const ALPN_TLSSH2 = 'tlssh/2';
/** tlssh/2 with the terminal's modes in session-request (doc/PROTOCOL.md section 2). */
export const ALPN_TLSSH3 = 'tlssh/3';

/** Stream numbers carried by data, eof and window-adjust messages. */
export const STREAM = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type StreamId = (typeof STREAM)[keyof typeof STREAM];

export const MSG = {
  sessionRequest: 0x01,
  sessionStarted: 0x02,
  data: 0x10,
  eof: 0x11,
  windowAdjust: 0x12,
  windowChange: 0x13,
  signal: 0x14,
  exitStatus: 0x15,
  ping: 0x20,
  pong: 0x21,
  error: 0x30,
} as const;
export type MessageTypeNumber = (typeof MSG)[keyof typeof MSG];

/** Client -> server, first message after the handshake, exactly once. */
export interface SessionRequest {
  type: 'session-request';
  /** Local user asked for ("user@host"); empty: whatever the certificate maps to. */
  user: string;
  /** Empty: the user's login shell. Otherwise run through the user's shell with -c. */
  command: string;
  /**
   * `command` is a subsystem name (ssh -s): the server runs the command its Subsystem line gives
   * for that name instead. Absent means false.
   */
  subsystem?: boolean;
  pty: boolean;
  term: string;
  cols: number;
  rows: number;
  /** Environment the client offers (SendEnv); the server keeps only what AcceptEnv allows. */
  env: Array<[string, string]>;
  /**
   * The client terminal's modes for the remote one, as ssh's pty-req carries them: [opcode,
   * value] with RFC 4254 section 8's opcodes (src/protocol/tty-modes.ts). tlssh/3 only; absent
   * means none were sent.
   */
  modes?: Array<[number, number]>;
}

/** Server -> client once the user is authenticated and the process runs. */
export interface SessionStarted {
  type: 'session-started';
  /** The local user the session runs as. */
  user: string;
  /** Initial flow-control window the server grants per stream it receives (stdin). */
  window: number;
}

export interface Data {
  type: 'data';
  stream: StreamId;
  data: Buffer;
}

export interface Eof {
  type: 'eof';
  stream: StreamId;
}

/** Receiver -> sender: `bytes` more of `stream` may be sent. */
export interface WindowAdjust {
  type: 'window-adjust';
  stream: StreamId;
  bytes: number;
}

export interface WindowChange {
  type: 'window-change';
  cols: number;
  rows: number;
}

/** Client -> server: deliver a signal (name without SIG, e.g. "INT") to the remote process. */
export interface Signal {
  type: 'signal';
  name: string;
}

/** Server -> client: the remote process ended. Exactly one of code / signal is set. */
export interface ExitStatus {
  type: 'exit-status';
  code: number | null;
  /** Signal name without SIG, e.g. "TERM", when the process died of a signal. */
  signal: string | null;
  coreDumped: boolean;
}

export interface Ping {
  type: 'ping';
  cookie: number;
}

export interface Pong {
  type: 'pong';
  cookie: number;
}

/** Either side: a fatal error; the sender closes the connection after it. */
export interface ErrorMessage {
  type: 'error';
  /** A TlsshError code (src/errors.ts), e.g. TLSSH_ERR_USER_MISMATCH. */
  code: string;
  message: string;
}

export type Message =
  | SessionRequest
  | SessionStarted
  | Data
  | Eof
  | WindowAdjust
  | WindowChange
  | Signal
  | ExitStatus
  | Ping
  | Pong
  | ErrorMessage;

export type MessageOf<T extends Message['type']> = Extract<Message, { type: T }>;

/** Limits every implementation enforces on what it receives. */
export const LIMITS = {
  /** Largest frame body (type byte + payload) accepted. */
  maxFrameBody: 64 * 1024 + 16,
  /** Largest data payload a sender puts in one frame. */
  maxDataChunk: 32 * 1024,
  maxStringField: 8 * 1024,
  maxCommand: 32 * 1024,
  maxEnvEntries: 256,
  /** Terminal modes in one session-request (RFC 4254 defines about 60 opcodes). */
  maxTtyModes: 128,
  /** RFC 4254 section 8: opcodes 1..159 take a uint32; 0 ends ssh's list and 160.. are undefined. */
  maxTtyOpcode: 159,
  /** Default per-stream flow-control window. */
  defaultWindow: 2 * 1024 * 1024,
  /** Largest window a peer may grant in total; more is a protocol error. */
  maxWindow: 64 * 1024 * 1024,
  /** Local user name in session-request and session-started (Linux LOGIN_NAME_MAX). */
  maxUser: 256,
  /** TERM value in session-request; a terminfo name, never a path. */
  maxTerm: 64,
  /** Signal names in signal and exit-status, without "SIG". */
  maxSignalName: 16,
  /** Error message: the code and the human-readable text. */
  maxErrorCode: 64,
  maxErrorMessage: 1024,
} as const;
