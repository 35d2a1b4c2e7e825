// The client half of the floor relay (relay-server.ts says what it is and is not).
//
// usage: node relay-client.js PORT t|n CERT KEY CA GO_AFTER COMMAND
// GO_AFTER: after sending that many bytes of stdin, write "go" to stderr (0: never). The floor
// has no stderr channel, so row 3a's remote "go" (the receiver has taken the first eighth) is
// said by the sender instead, once it has sent that eighth; the bytes still in flight then fall
// inside the timed part, which makes the floor's upload figure a little low, never high.

import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';

const [portText, mode, certFile, keyFile, caFile, goAfterText, command] = process.argv.slice(2);
if (command === undefined) {
  process.stderr.write('usage: relay-client PORT t|n CERT KEY CA GO_AFTER COMMAND\n');
  process.exit(2);
}
const goAfter = Number(goAfterText);

const socket = tls.connect({
  host: '127.0.0.1',
  port: Number(portText),
  cert: readFileSync(certFile!),
  key: readFileSync(keyFile!),
  ca: readFileSync(caFile!),
  minVersion: 'TLSv1.3',
  // The bench's server certificate names 127.0.0.1; the chain is still checked against CA.
  checkServerIdentity: () => undefined,
}, () => {
  socket.setNoDelay(true);
  socket.write(`${mode}\t${command}\n`);
  if (mode === 't' && process.stdin.isTTY) process.stdin.setRawMode(true);
  let sent = 0;
  let said = goAfter <= 0;
  process.stdin.on('data', (d: Buffer) => {
    sent += d.length;
    if (!said && sent >= goAfter) {
      said = true;
      process.stderr.write('go\n');
    }
    if (!socket.write(d)) {
      process.stdin.pause();
      socket.once('drain', () => process.stdin.resume());
    }
  });
  // A terminal session ends with the remote command, not with local input (as row 4 needs).
  if (mode !== 't') process.stdin.on('end', () => socket.end());
  socket.on('data', (d: Buffer) => {
    if (!process.stdout.write(d)) {
      socket.pause();
      process.stdout.once('drain', () => socket.resume());
    }
  });
  socket.on('end', () => process.exit(0));
});
socket.on('error', (e) => {
  process.stderr.write(`relay-client: ${e.message}\n`);
  process.exit(1);
});
