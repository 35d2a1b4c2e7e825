// The key agent protocol: how a tlsshd worker, which never opens the TPM, asks the listener's
// agent for one private-key operation during its TLS handshake. One request per connection on a
// Unix socket that only root can open (mode 0600). All integers are big-endian.
//
//   request  = u32 length   -- of everything after this field, at most MAX_REQUEST
//              u8  op       -- 1: ECDSA-sign the input digest; 2: raw RSA private operation
//              u16 idLength
//              id           -- the key file path, UTF-8, as configured in both processes
//              input        -- the rest: a digest (op 1) or a modulus-sized block (op 2)
//   response = u8  status   -- 0: ok, 1: error
//              u32 length   -- at most MAX_RESPONSE
//              payload      -- ok: DER ECDSA-Sig-Value (op 1) or the RSA result (op 2);
//                              error: "TLSSH_ERR_<CODE>\n<message>", UTF-8
//
// The C++ client side is native/agent-client.cc; keep the two in step.

import { TlsshError } from '../errors';

export const AGENT_OP = { ecdsaSign: 1, rsaPrivate: 2 } as const;
export type AgentOp = (typeof AGENT_OP)[keyof typeof AGENT_OP];

export const MAX_REQUEST = 16 * 1024;
export const MAX_RESPONSE = 64 * 1024;

export interface AgentRequest {
  readonly op: AgentOp;
  readonly keyId: string;
  readonly input: Buffer;
}

export class AgentProtocolError extends Error {}

export function encodeRequest(req: AgentRequest): Buffer {
  const id = Buffer.from(req.keyId, 'utf8');
  if (id.length > 0xffff) throw new AgentProtocolError('key id too long');
  const head = Buffer.alloc(7);
  head.writeUInt32BE(1 + 2 + id.length + req.input.length, 0);
  head.writeUInt8(req.op, 4);
  head.writeUInt16BE(id.length, 5);
  return Buffer.concat([head, id, req.input]);
}

/**
 * Accumulates bytes from a connection until one whole request is there. Throws on anything
 * malformed or oversized before buffering it.
 */
export class RequestDecoder {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): AgentRequest | undefined {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < 4) return undefined;
    const buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    this.chunks = [buf];
    const len = buf.readUInt32BE(0);
    if (len > MAX_REQUEST) throw new AgentProtocolError(`request of ${len} bytes exceeds ${MAX_REQUEST}`);
    if (len < 3) throw new AgentProtocolError('request too short');
    if (buf.length < 4 + len) return undefined;
    if (buf.length > 4 + len) throw new AgentProtocolError('bytes after the request');
    const op = buf.readUInt8(4);
    if (op !== AGENT_OP.ecdsaSign && op !== AGENT_OP.rsaPrivate) throw new AgentProtocolError(`unknown op ${op}`);
    const idLen = buf.readUInt16BE(5);
    if (7 + idLen > 4 + len) throw new AgentProtocolError('key id runs past the request');
    const keyId = buf.subarray(7, 7 + idLen).toString('utf8');
    const input = Buffer.from(buf.subarray(7 + idLen, 4 + len));
    return { op, keyId, input };
  }
}

function response(status: 0 | 1, payload: Buffer): Buffer {
  if (payload.length > MAX_RESPONSE) throw new AgentProtocolError('response too large');
  const head = Buffer.alloc(5);
  head.writeUInt8(status, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export function encodeOk(output: Buffer): Buffer {
  return response(0, output);
}

export function encodeFailure(code: string, message: string): Buffer {
  // Keep the code on its own line; newlines in the message would not hurt, but keep it one line.
  return response(1, Buffer.from(`${code}\n${message.replace(/[\r\n]+/g, ' ').slice(0, 4000)}`, 'utf8'));
}

export type AgentResponse = { ok: true; output: Buffer } | { ok: false; code: string; message: string };

/** Parses one whole response (the TypeScript side uses it in tests and tools). */
export function decodeResponse(buf: Buffer): AgentResponse {
  if (buf.length < 5) throw new AgentProtocolError('response truncated');
  const status = buf.readUInt8(0);
  const len = buf.readUInt32BE(1);
  if (len > MAX_RESPONSE || buf.length !== 5 + len) throw new AgentProtocolError('response length mismatch');
  const payload = buf.subarray(5);
  if (status === 0) return { ok: true, output: Buffer.from(payload) };
  if (status !== 1) throw new AgentProtocolError(`unknown status ${status}`);
  const text = payload.toString('utf8');
  const nl = text.indexOf('\n');
  return nl < 0 ? { ok: false, code: 'TLSSH_ERR_TPM_AGENT', message: text } : { ok: false, code: text.slice(0, nl), message: text.slice(nl + 1) };
}

/** A path the worker side can connect to (sun_path holds 107 bytes and a NUL); throws TLSSH_ERR_USAGE. */
export function checkAgentSocketPath(socketPath: string): void {
  if (socketPath === '' || socketPath.includes('\0') || Buffer.byteLength(socketPath) > 107) {
    throw new TlsshError('TLSSH_ERR_USAGE', `bad key agent socket path ${JSON.stringify(socketPath)}`);
  }
}
