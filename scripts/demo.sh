#!/usr/bin/env bash
# A real login with TPM-held keys on both ends, on loopback, from a fresh machine:
# installs what is missing, makes a CA with plain openssl, makes the server's and the
# user's keys inside TPMs, starts tlsshd, and logs in with tlssh.
#
# With /dev/tpmrm0 present both keys go into that TPM (unless TLSSH_DEMO_SWTPM=1); otherwise
# each side gets its own swtpm emulator, the way two machines would each have their own chip.
# Everything lives in a temporary directory that is removed at the end (TLSSH_DEMO_KEEP=1 keeps
# it, to try the printed commands again there).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

scripts/install-deps.sh >&2

work=$(mktemp -d /tmp/tlssh-demo.XXXXXX)
chmod 700 "$work"
# Background processes, one pid a line: a file, because swtpm is started inside $(...).
pidfile=$work/pids
cleanup() {
  [ -f "$pidfile" ] && while read -r p; do kill "$p" 2>/dev/null || true; done <"$pidfile"
  wait 2>/dev/null || true
  if [ "${TLSSH_DEMO_KEEP:-0}" = 1 ]; then
    echo "kept $work (the TPM emulators and tlsshd are stopped)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# fd 3 is the narration, so that `run cmd 2>/dev/null` still shows the command.
exec 3>&2
say() { printf '\n== %s\n' "$*" >&3; }
# Each command as it could be typed again: an argument with anything but plain characters in
# single quotes, so that $(...) meant for the remote side is not run by the local shell.
shell_word() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
run() {
  local line='$' a
  for a in "$@"; do line+=" $(shell_word "$a")"; done
  printf '%s\n' "$line" >&3
  "$@"
}

free_port_pair() {
  # swtpm wants two ports in a row: commands on N, control on N+1.
  node -e '
    const net = require("net");
    (async () => {
      for (;;) {
        const a = net.createServer().listen(0, "127.0.0.1");
        await new Promise((r) => a.once("listening", r));
        const p = a.address().port;
        const b = net.createServer().listen(p + 1, "127.0.0.1");
        const ok = await new Promise((r) => { b.once("listening", () => r(true)); b.once("error", () => r(false)); });
        a.close(); b.close();
        if (ok && p < 65535) { console.log(p); return; }
      }
    })();'
}

start_swtpm() { # name -> prints the TCTI
  local name=$1 port
  port=$(free_port_pair)
  mkdir -p "$work/$name-tpm"
  swtpm socket --tpm2 --tpmstate dir="$work/$name-tpm" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear >"$work/$name-tpm.log" 2>&1 3>&- &
  echo $! >>"$pidfile"
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  echo "swtpm:host=127.0.0.1,port=$port"
}

if [ -c /dev/tpmrm0 ] && [ "${TLSSH_DEMO_SWTPM:-0}" != 1 ]; then
  say "Using the machine's TPM (/dev/tpmrm0) for both keys"
  server_tcti=device:/dev/tpmrm0
  client_tcti=device:/dev/tpmrm0
else
  say "No /dev/tpmrm0: one swtpm emulator for the server, one for the user"
  server_tcti=$(start_swtpm server)
  client_tcti=$(start_swtpm client)
  echo "server TPM: $server_tcti" >&2
  echo "client TPM: $client_tcti" >&2
fi

user=$(id -un)
cd "$work"
PATH="$top/bin:$PATH"
# tlssh saves a TPM key's context under ~/.tlssh/tpm-contexts: here, not in the real home, where
# it would outlive the emulator it belongs to.
export HOME=$work/home
mkdir -p "$HOME"

say "A certificate authority, with plain openssl"
run openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -days 2 -subj "/CN=tlssh demo CA" -addext basicConstraints=critical,CA:true -addext keyUsage=keyCertSign,cRLSign 2>/dev/null

say "The server's key, made inside its TPM, and a certificate for 127.0.0.1"
run tlssh-keygen --tpm --no-password --tcti "$server_tcti" -o server.key
run tlssh-keygen --tcti "$server_tcti" --csr server.csr --key server.key --subject /CN=localhost --san DNS:localhost,IP:127.0.0.1 --server
run openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -copy_extensions copy -out server.crt 2>/dev/null

say "The user's key, made inside the other TPM, and a certificate for user \"$user\""
run tlssh-keygen --tpm --no-password --tcti "$client_tcti" -o user.key
run tlssh-keygen --tcti "$client_tcti" --csr user.csr --key user.key --subject "/CN=$user" --client
run openssl x509 -req -in user.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -copy_extensions copy -out user.crt 2>/dev/null

say "tlsshd, with its key in the TPM, on 127.0.0.1 (a free port)"
cat >tlsshd.conf <<EOF
Listen 127.0.0.1
Port 0
CertFile $work/server.crt
KeyFile $work/server.key
PrivkeyEngine tpm
TpmTcti $server_tcti
ClientCAFile $work/ca.crt
RuntimeDir $work/run
EOF
cat tlsshd.conf >&2
tlsshd -f -c tlsshd.conf 2>tlsshd.log 3>&- &
echo $! >>"$pidfile"
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' tlsshd.log | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  cat tlsshd.log >&2
  echo "tlsshd did not start" >&2
  exit 1
fi
echo "tlsshd listens on 127.0.0.1 port $port" >&2

say "Log in with the user's TPM key and run a command"
cat >tlssh.conf <<EOF
Port $port
CertFile $work/user.crt
KeyFile $work/user.key
TpmTcti $client_tcti
ServerCAFile $work/ca.crt
EOF
cat tlssh.conf >&2
run tlssh -E tpm -c tlssh.conf "$user@127.0.0.1" 'echo "hello from $(id -un) on $(hostname), in $PWD"; echo "tty: $(tty)"'
run tlssh -E tpm -tt -c tlssh.conf "$user@127.0.0.1" 'echo "with a pseudo-terminal: $(tty)"' </dev/null

if [[ $client_tcti == swtpm:* ]]; then
  say "The key file alone is useless: against another TPM the login fails"
  other_tcti=$(start_swtpm other)
  set +e
  run tlssh -E tpm -c tlssh.conf -o TpmTcti="$other_tcti" "$user@127.0.0.1" true
  echo "exit status $? (255: tlssh itself refused)" >&2
  set -e
fi

say "Done: both private keys stayed inside their TPMs the whole time"
