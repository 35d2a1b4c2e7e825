// The TPM key agent run by tlsshd's listener: it alone holds the TPM connection and the loaded
// keys, and signs for per-connection workers over a root-only Unix socket. Requests are served
// one at a time, so a burst of handshakes queues here instead of filling the thread pool with
// threads that wait for the TPM.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { TlsshError, isTlsshError } from '../errors';
import { AGENT_OP, AgentProtocolError, RequestDecoder, encodeFailure, encodeOk, type AgentRequest } from './agent-protocol';
import { checkTpmKey, configureTpmKey, tpmEcdsaSign, tpmRsaPrivate, unconfigureTpmKey } from './keys';

export interface KeyAgentKey {
  keyFile: string;
  tcti: string;
  parentPassword?: string;
  keyPassword?: string;
}

export interface KeyAgentOptions {
  socketPath: string;
  keys: KeyAgentKey[];
  /** One line per event; never receives a password. */
  log?: (line: string) => void;
  /** Sign once with each key at start so a bad password fails the start (default true). */
  check?: boolean;
}

export interface KeyAgent {
  readonly socketPath: string;
  /** Requests served so far (for tests and status output). */
  readonly served: number;
  close(): Promise<void>;
}

/** A worker that connects but never sends a full request is dropped after this. */
const REQUEST_TIMEOUT_MS = 30_000;

function removeStaleSocket(p: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new TlsshError('TLSSH_ERR_TPM_AGENT', `cannot create the TPM key agent socket: ${p} exists and is not a socket`);
  }
  fs.unlinkSync(p);
}

export async function startKeyAgent(opts: KeyAgentOptions): Promise<KeyAgent> {
  const log = opts.log ?? (() => undefined);
  const served = new Set<string>();
  try {
    for (const k of opts.keys) {
      configureTpmKey(k.keyFile, { tcti: k.tcti, parentPassword: k.parentPassword, keyPassword: k.keyPassword });
      served.add(k.keyFile);
    }
    if (opts.check !== false) for (const k of served) await checkTpmKey(k);
  } catch (e) {
    for (const k of served) unconfigureTpmKey(k);
    throw e;
  }

  let queue: Promise<unknown> = Promise.resolve();
  let count = 0;
  const run = (req: AgentRequest): Promise<Buffer> => {
    const job = queue.then(() =>
      req.op === AGENT_OP.ecdsaSign ? tpmEcdsaSign(req.keyId, req.input) : tpmRsaPrivate(req.keyId, req.input),
    );
    queue = job.catch(() => undefined);
    return job;
  };

  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => sock.destroy());
    const decoder = new RequestDecoder();
    let busy = false;
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      if (busy) {
        sock.destroy();
        return;
      }
      let req: AgentRequest | undefined;
      try {
        req = decoder.push(chunk);
      } catch (e) {
        log(`tpm-agent: dropped a malformed request: ${e instanceof AgentProtocolError ? e.message : String(e)}`);
        sock.end(encodeFailure('TLSSH_ERR_TPM_AGENT', 'malformed request'));
        return;
      }
      if (!req) return;
      busy = true;
      const { keyId } = req;
      if (!served.has(keyId)) {
        log(`tpm-agent: refused a request for a key it does not serve: ${JSON.stringify(keyId)}`);
        sock.end(encodeFailure('TLSSH_ERR_TPM_AGENT', `the key agent does not serve ${keyId}`));
        return;
      }
      run(req).then(
        (out) => {
          count++;
          sock.end(encodeOk(out));
        },
        (e: unknown) => {
          const err = isTlsshError(e) ? e : new TlsshError('TLSSH_ERR_TPM', String(e), { cause: e });
          log(`tpm-agent: ${keyId}: ${err.code}: ${err.message}`);
          sock.end(encodeFailure(err.code, err.message));
        },
      );
    });
  });

  removeStaleSocket(opts.socketPath);
  // The socket must never be reachable by anyone but root, not even for a moment.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    for (const k of served) unconfigureTpmKey(k);
    throw new TlsshError('TLSSH_ERR_TPM_AGENT', `cannot listen on the TPM key agent socket ${opts.socketPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(opts.socketPath, 0o600);
  log(`tpm-agent: listening on ${opts.socketPath} for ${served.size} key(s)`);

  let closed = false;
  return {
    socketPath: opts.socketPath,
    get served() {
      return count;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        fs.unlinkSync(opts.socketPath);
      } catch {
        // already gone
      }
      await queue;
      for (const k of served) unconfigureTpmKey(k);
    },
  };
}
