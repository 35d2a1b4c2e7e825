// The server half of the floor relay (bench/floor.ts): the least a Node.js program can do to be a
// remote shell over mutual TLS 1.3, so that a row can be split into what any Node relay costs
// and what tlssh adds. One process serves every connection; no framing, no flow control, no
// stderr channel, no exit status, no privilege separation: a measuring instrument, never a server.
//
// The first line a client sends is "t<TAB>command" (a pseudo-terminal) or "n<TAB>command"
// (pipes); every byte after it is the command's input, and its output is every byte back.
//
// usage: node relay-server.js CERT KEY CA UID GID    (prints "listening on 127.0.0.1:PORT")

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { spawn as ptySpawn } from 'node-pty';

const [certFile, keyFile, caFile, uidText, gidText] = process.argv.slice(2);
if (gidText === undefined) {
  process.stderr.write('usage: relay-server CERT KEY CA UID GID\n');
  process.exit(2);
}
const uid = Number(uidText);
const gid = Number(gidText);
const MAX_HEADER = 64 * 1024;

function serve(socket: tls.TLSSocket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  let head = Buffer.alloc(0);
  const onHead = (d: Buffer): void => {
    head = Buffer.concat([head, d]);
    const nl = head.indexOf(10);
    if (nl < 0) {
      if (head.length > MAX_HEADER) socket.destroy();
      return;
    }
    socket.off('data', onHead);
    const line = head.subarray(0, nl).toString();
    const rest = head.subarray(nl + 1);
    const command = line.slice(2);
    if (line[0] === 't') runInPty(socket, command, rest);
    else runWithPipes(socket, command, rest);
  };
  socket.on('data', onHead);
}

function runInPty(socket: tls.TLSSocket, command: string, first: Buffer): void {
  // encoding null: Buffers both ways, as a relay of bytes should be.
  const pty = ptySpawn('/bin/sh', ['-c', command], { name: 'xterm', cols: 80, rows: 24, uid, gid, encoding: null });
  pty.onData((d: Buffer | string) => socket.write(d));
  socket.on('data', (d: Buffer) => pty.write(d));
  if (first.length > 0) pty.write(first);
  pty.onExit(() => socket.end());
  socket.on('close', () => {
    try {
      pty.kill();
    } catch {
      // already gone
    }
  });
}

function runWithPipes(socket: tls.TLSSocket, command: string, first: Buffer): void {
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'ignore'], uid, gid });
  child.stdin.on('error', () => undefined);
  if (first.length > 0) child.stdin.write(first);
  socket.pipe(child.stdin);
  child.stdout.pipe(socket);
  socket.on('close', () => child.kill());
}

const server = tls.createServer({
  cert: readFileSync(certFile!),
  key: readFileSync(keyFile!),
  ca: readFileSync(caFile!),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
  // The client half-closes after its input; the command's output must still come back.
  allowHalfOpen: true,
}, serve);
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`listening on 127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
});
