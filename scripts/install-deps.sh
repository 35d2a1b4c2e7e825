#!/usr/bin/env bash
# Installs whatever this checkout needs and is missing: Debian packages, node modules, the
# build. Safe to run again; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential python3 pkg-config      # node-gyp for the TPM addon and node-pty
  libtss2-dev                             # libtss2 esys/tctildr/mu/rc, linked by the addon
  libpam0g-dev                            # libpam, linked by the PAM addon (native/pam.cc)
  swtpm swtpm-tools tpm2-tools tpm2-openssl  # the TPM emulator and interop tools for tests
  openssl openssh-client openssh-server   # certificates; OpenSSH for benchmarks
  util-linux procps passwd login          # logger, setsid, useradd, who/last
  man-db groff-base                       # man -l checks of the man pages
  tmux                                    # a real terminal for the tlsshctl top test
  dpkg-dev systemd                        # npm run deb (dpkg-shlibdeps); systemd-analyze verify
  openssh-sftp-server rsync git sshfs     # tools that run over tlssh in tests (Subsystem sftp)
  ansible-core sudo                       # Ansible over tlssh, become via sudo
)

# Node.js itself is not one of them: bookworm's nodejs is 18, and tlssh needs 20 (NodeSource's
# repository, or any other Node 20 or later). Said here rather than failing later in npm ci.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo none)
if [ "$node_major" = none ] || [ "$node_major" -lt 20 ]; then
  echo "install-deps: tlssh needs Node.js 20 or later, and this machine has ${node_major/none/no node}." >&2
  echo "install-deps: Debian bookworm's nodejs is 18: install the nodejs package of NodeSource's Node 20 repository (https://github.com/nodesource/distributions), then run this again." >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Native addons build against the installed Node's own headers: nothing is downloaded.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing node modules (npm ci)"
  npm ci --no-audit --no-fund
fi

if [ ! -f build/Release/tlssh_tpm.node ] || [ ! -f build/Release/tlssh_agent_engine.node ] || [ ! -f build/Release/tlssh_pam.node ] || [ ! -f build/Release/tlssh_pipe.node ] || [ ! -f build/Release/tlssh_fork.node ] || [ -n "$(find native binding.gyp -newer build/Release/tlssh_tpm.node 2>/dev/null | head -1)" ]; then
  echo "building the native addons (TPM, key agent engine, PAM, pipes)"
  npx node-gyp rebuild >/dev/null
fi
# The build is redone only when a source, the lock file, an addon or node itself changed since
# the last one (the stamp holds node's version: the bundles' code cache is made for it).
stamp=dist/.install-deps-built
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(node -v)" ] &&
  [ -z "$(find src bench test scripts/bundle.js tsconfig.json package.json package-lock.json build/Release -newer "$stamp" 2>/dev/null | head -1)" ]; then
  echo "the build is up to date"
else
  echo "compiling TypeScript"
  npx tsc -p tsconfig.json
  echo "bundling the programs"
  node scripts/bundle.js
  node -v >"$stamp"
fi
