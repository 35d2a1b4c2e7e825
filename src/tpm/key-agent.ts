// The TPM key agent run by tlsshd's listener: it alone holds the TPM connection and the loaded
// keys, and signs for per-connection workers over a root-only Unix socket. Requests are served
// one at a time, so a burst of handshakes queues here instead of filling the thread pool with
// threads that wait for the TPM.
//
// A TPM that stops answering must not hang every login. Each operation has a deadline; when one
// passes, the agent logs one line naming the TCTI and fails the waiting requests, and every new
// one, at once with TLSSH_ERR_TPM_TIMEOUT. The stuck call cannot be cancelled: it keeps its
// thread-pool thread and the addon's TPM lock until the TPM answers. So nothing else is sent to
// the TPM meanwhile (it would only queue behind the lock, taking more threads), and the stuck
// call's late answer, whatever it is, is discarded and ends the stall: the next request runs
// normally, and the addon reconnects and reloads the key by itself if that answer was a transport
// error.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { TlsshError, isTlsshError } from '../errors';
import { LatencyWindow, type AgentStats } from './agent-stats';
import { AGENT_OP, AgentProtocolError, RequestDecoder, encodeFailure, encodeOk, type AgentRequest } from './agent-protocol';
import { loadedTpmBinding } from './binding';
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
  /** Milliseconds one TPM operation may take before the TPM counts as stalled (TpmTimeout); 0: no deadline. */
  timeoutMs?: number;
  /**
   * A key from a PEM file that the listener holds (src/server/file-key.ts), served under its id
   * alongside any TPM keys; its operations take microseconds, so they neither queue nor time out.
   */
  fileKey?: { readonly id: string; privateOp(op: number, input: Buffer): Buffer };
}

export interface KeyAgent {
  readonly socketPath: string;
  /** Requests served so far (for tests and status output). */
  readonly served: number;
  /** True while an operation has passed its deadline and the TPM has not answered it yet. */
  readonly stalled: boolean;
  /** For tlsshctl status and top. */
  stats(): AgentStats;
  close(): Promise<void>;
}

/** A worker that connects but never sends a full request is dropped after this. */
const REQUEST_TIMEOUT_MS = 30_000;

/** TpmTimeout's default: a real chip signs in 20-200 ms, and in seconds even when busy. */
export const DEFAULT_TPM_TIMEOUT_MS = 5_000;

interface Stall {
  readonly tcti: string;
  readonly since: number;
}

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
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TPM_TIMEOUT_MS;
  const served = new Map<string, KeyAgentKey>();
  let stall: Stall | undefined;
  // The native call now running, if any; after a stall it may outlive its request.
  let inflight: Promise<unknown> | undefined;

  const stalledError = (s: Stall): TlsshError =>
    new TlsshError('TLSSH_ERR_TPM_TIMEOUT', `the TPM at ${s.tcti} has not answered for ${Math.round((Date.now() - s.since) / 1000)} s (TpmTimeout ${timeoutMs / 1000} s)`);

  /** Runs one native TPM call under the deadline; a late answer only ends the stall. */
  const withDeadline = <T>(tcti: string, call: () => Promise<T>): Promise<T> => {
    if (stall) return Promise.reject(stalledError(stall));
    const op = call();
    inflight = op;
    const settled = (): void => {
      if (inflight === op) inflight = undefined;
    };
    op.then(settled, settled);
    if (timeoutMs <= 0) return op;
    return new Promise<T>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        const s: Stall = { tcti, since: Date.now() - timeoutMs };
        stall = s;
        log(`tpm-agent: the TPM at ${tcti} did not answer within ${timeoutMs / 1000} s: failing TLS handshakes with TLSSH_ERR_TPM_TIMEOUT until it answers`);
        reject(stalledError(s));
        const recovered = (outcome: string): void => {
          if (stall === s) stall = undefined;
          log(`tpm-agent: the TPM at ${tcti} answered again after ${Math.round((Date.now() - s.since) / 1000)} s (${outcome}, discarded)`);
        };
        op.then(
          () => recovered('a late result'),
          (e: unknown) => recovered(`a late failure: ${isTlsshError(e) ? e.code : 'error'}`),
        );
      }, timeoutMs);
      op.then(
        (v) => {
          if (late) return;
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          if (late) return;
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  };

  /** A stuck native call holds the addon's TPM lock: wait for it (boundedly) before touching the addon. */
  const unconfigureAll = async (): Promise<void> => {
    if (inflight) {
      const current = inflight;
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = await Promise.race([
        current.then(() => false, () => false),
        new Promise<boolean>((r) => { timer = setTimeout(() => r(true), Math.max(timeoutMs, 1000)); }),
      ]);
      clearTimeout(timer);
      if (gaveUp) {
        log('tpm-agent: the TPM is still not answering; leaving its key loaded');
        // Node's exit would wait for the stuck thread for ever: once the exit handlers ran, leave.
        const b = loadedTpmBinding();
        process.once('exit', (code) => b?.exitNow?.(code));
        return;
      }
    }
    for (const k of served.keys()) unconfigureTpmKey(k);
  };

  try {
    for (const k of opts.keys) {
      configureTpmKey(k.keyFile, { tcti: k.tcti, parentPassword: k.parentPassword, keyPassword: k.keyPassword });
      served.set(k.keyFile, k);
    }
    if (opts.check !== false) for (const k of served.values()) await withDeadline(k.tcti, () => checkTpmKey(k.keyFile));
  } catch (e) {
    await unconfigureAll();
    throw e;
  }

  let queue: Promise<unknown> = Promise.resolve();
  let count = 0;
  let errors = 0;
  let waiting = 0;
  const latency = new LatencyWindow();
  const run = (req: AgentRequest, tcti: string): Promise<Buffer> => {
    waiting++;
    // Requests queued behind a stalled one fail as soon as it passes its deadline.
    const job = queue.then(() => {
      const started = process.hrtime.bigint();
      const op = withDeadline(tcti, () => (req.op === AGENT_OP.ecdsaSign ? tpmEcdsaSign(req.keyId, req.input) : tpmRsaPrivate(req.keyId, req.input)));
      // The TPM's own time, not the wait in the queue: what a slow chip looks like.
      return op.then((out) => {
        latency.add(Number(process.hrtime.bigint() - started) / 1e6);
        return out;
      });
    });
    const done = (): void => {
      waiting--;
    };
    job.then(done, done);
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
        errors++;
        log(`tpm-agent: dropped a malformed request: ${e instanceof AgentProtocolError ? e.message : String(e)}`);
        sock.end(encodeFailure('TLSSH_ERR_TPM_AGENT', 'malformed request'));
        return;
      }
      if (!req) return;
      busy = true;
      const { keyId } = req;
      if (opts.fileKey && keyId === opts.fileKey.id) {
        const started = process.hrtime.bigint();
        try {
          const out = opts.fileKey.privateOp(req.op, req.input);
          latency.add(Number(process.hrtime.bigint() - started) / 1e6);
          count++;
          sock.end(encodeOk(out));
        } catch (e) {
          errors++;
          const message = e instanceof Error ? e.message : String(e);
          log(`tpm-agent: ${keyId}: TLSSH_ERR_TLS_KEY: ${message}`);
          sock.end(encodeFailure('TLSSH_ERR_TLS_KEY', message));
        }
        return;
      }
      const key = served.get(keyId);
      if (!key) {
        errors++;
        log(`tpm-agent: refused a request for a key it does not serve: ${JSON.stringify(keyId)}`);
        sock.end(encodeFailure('TLSSH_ERR_TPM_AGENT', `the key agent does not serve ${keyId}`));
        return;
      }
      run(req, key.tcti).then(
        (out) => {
          count++;
          sock.end(encodeOk(out));
        },
        (e: unknown) => {
          errors++;
          const err = isTlsshError(e) ? e : new TlsshError('TLSSH_ERR_TPM', String(e), { cause: e });
          // A stall was logged once, with its TCTI; one more line per handshake would flood the log.
          if (err.code !== 'TLSSH_ERR_TPM_TIMEOUT') log(`tpm-agent: ${keyId}: ${err.code}: ${err.message}`);
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
    await unconfigureAll();
    throw new TlsshError('TLSSH_ERR_TPM_AGENT', `cannot listen on the TPM key agent socket ${opts.socketPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    process.umask(oldMask);
  }
  fs.chmodSync(opts.socketPath, 0o600);
  log(`tpm-agent: listening on ${opts.socketPath} for ${served.size + (opts.fileKey ? 1 : 0)} key(s)`);

  let closed = false;
  return {
    socketPath: opts.socketPath,
    get served() {
      return count;
    },
    get stalled() {
      return stall !== undefined;
    },
    stats: () => ({
      signs: count, errors, p50Ms: latency.percentile(50), p99Ms: latency.percentile(99), queue: waiting, stalled: stall !== undefined,
    }),
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
      await unconfigureAll();
    },
  };
}
