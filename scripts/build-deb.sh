#!/usr/bin/env bash
# Builds the Debian package of this checkout with dpkg-deb: `npm run deb`, or
#   scripts/build-deb.sh [-o DIR] [--prebuilt]
# and prints the path of the .deb (by default deb/tlssh_VERSION_ARCH.deb).
#
# Layout, as sshd's package has it:
#   /usr/bin/tlssh, tlsshd, tlssh-keygen, tlsshctl  symlinks into /usr/lib/tlssh/bin
#   /usr/lib/tlssh                            bundled code, addon, production node_modules
#   /usr/share/man/man{1,5,8}                 the man pages
#   /etc/tlssh/*.conf, /etc/pam.d/tlsshd      conffiles: dpkg -r keeps them, dpkg --purge not
#   /lib/systemd/system/tlsshd.service        installed, not enabled: there are no keys yet
#   /lib/systemd/system/tlsshd@.service       a second daemon per /etc/tlssh/tlsshd-NAME.conf
# Depends are computed from the native addons (dpkg-shlibdeps), so they name the libtss2
# packages of the release it is built on.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
me=build-deb.sh

usage() { echo "usage: scripts/build-deb.sh [-o output_dir] [--prebuilt]"; }
outdir=$top/deb
# --prebuilt: package build/Release as it is, never rebuild it (the tests run while other
# tests load the addon from there).
prebuilt=0
while (($#)); do
  case $1 in
    -o) [ $# -ge 2 ] || { echo "$me: -o needs a directory" >&2; usage >&2; exit 2; }; outdir=$2; shift 2 ;;
    --prebuilt) prebuilt=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$me: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

for tool in dpkg-deb dpkg-shlibdeps gzip node npm; do
  command -v "$tool" >/dev/null || { echo "$me: $tool is missing: run scripts/install-deps.sh first" >&2; exit 1; }
done
[ -d node_modules ] || { echo "$me: node_modules is missing: run scripts/install-deps.sh first" >&2; exit 1; }
pty_node=node_modules/node-pty/build/Release/pty.node
[ -f "$pty_node" ] || { echo "$me: $pty_node is missing: run scripts/install-deps.sh first" >&2; exit 1; }

# The addon only when its sources changed, as install-deps.sh does: node-gyp takes a while.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
if [ "$prebuilt" = 1 ]; then
  [ -f build/Release/tlssh_tpm.node ] || { echo "$me: build/Release/tlssh_tpm.node is missing: run scripts/install-deps.sh first" >&2; exit 1; }
elif [ ! -f build/Release/tlssh_tpm.node ] || [ -n "$(find native binding.gyp -newer build/Release/tlssh_tpm.node 2>/dev/null | head -1)" ]; then
  echo "$me: building the native addon" >&2
  npx node-gyp rebuild --loglevel=error >/dev/null
fi

version=$(node -p 'require("./package.json").version')
# Debian sorts "~" before anything: 1.0.0-rc.1 becomes 1.0.0~rc.1, older than 1.0.0.
debversion=${version//-/\~}
arch=$(dpkg --print-architecture)

stage=$(mktemp -d /tmp/tlssh-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
lib=$root/usr/lib/tlssh
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
unitdir=${unitdir:-/lib/systemd/system}

# The code, compiled afresh so that no stale file in dist/ is shipped; tests, benchmarks and
# source maps (whose .ts sources are not shipped) stay out.
npx tsc -p tsconfig.json --outDir "$stage/tsc" --sourceMap false
install -d "$lib/dist" "$lib/bin" "$lib/build/Release"
# One bundle per program with its V8 code cache (scripts/bundle.js), made by the node the package
# runs, /usr/bin/node: a cache made by another node would only be ignored.
bundle_node=/usr/bin/node
[ -x "$bundle_node" ] || bundle_node=node
"$bundle_node" scripts/bundle.js "$stage/tsc/src" "$lib/dist/bundle"
cp package.json package-lock.json "$lib/"
install -m 755 bin/tlssh bin/tlsshd bin/tlssh-keygen bin/tlsshctl "$lib/bin/"
# The packaged programs run the node of the nodejs package they depend on, not whichever node
# comes first in the PATH of whoever starts them (root starts tlsshd).
# bin/tlssh starts through sh (its second line execs node; see the file), the others through env.
sed -i -E -e '1s#^(\#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS) node( |$)#\1 /usr/bin/node\2#' \
  -e '2s#^(":" //;.*; exec) node( |$)#\1 /usr/bin/node\2#' "$lib"/bin/*
for f in "$lib"/bin/*; do
  head -2 "$f" | grep -qE ' /usr/bin/node( |$)' || { echo "build-deb: cannot point $f at /usr/bin/node: it starts with $(head -2 "$f")" >&2; exit 1; }
done
# Every addon the build made (the TPM one, and any other native glue).
install -m 644 build/Release/*.node "$lib/build/Release/"

# Production node_modules: a copy of the installed ones without the devDependencies, so node-pty
# keeps the native module built here. Its sources and other platforms' prebuilt binaries go.
cp -a node_modules "$lib/node_modules"
(cd "$lib" && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund >/dev/null)
pty=$lib/node_modules/node-pty
rm -rf "$pty/prebuilds" "$pty/deps" "$pty/third_party" "$pty/src" "$pty/scripts" "$pty/binding.gyp"
find "$pty/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
find "$pty/build/Release" -mindepth 1 ! -name pty.node -exec rm -rf {} +
find "$pty/lib" \( -name '*.map' -o -name '*.test.js' \) -delete
rm -f "$lib/package-lock.json"
find "$lib/node_modules" -type d -empty -delete

install -d "$root/usr/bin"
for p in tlssh tlsshd tlssh-keygen tlsshctl; do ln -s ../lib/tlssh/bin/$p "$root/usr/bin/$p"; done

for page in man/*.[1-8]; do
  name=$(basename "$page")
  install -d "$root/usr/share/man/man${name##*.}"
  gzip -9n <"$page" >"$root/usr/share/man/man${name##*.}/$name.gz"
done

install -d "$root/etc/tlssh" "$root/etc/pam.d" "$root$unitdir" "$root/usr/share/doc/tlssh"
install -m 644 etc/tlssh.conf etc/tlsshd.conf "$root/etc/tlssh/"
install -m 644 etc/pam.d/tlsshd "$root/etc/pam.d/tlsshd"
install -m 644 etc/systemd/tlsshd.service "$root$unitdir/tlsshd.service"
install -m 644 etc/systemd/tlsshd@.service "$root$unitdir/tlsshd@.service"
gzip -9n <README.md >"$root/usr/share/doc/tlssh/README.md.gz"
cat >"$root/usr/share/doc/tlssh/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tlssh

Files: *
License: GPL-2.0-or-later
 On Debian systems, the full text of the GNU General Public License version 2 can be found in
 /usr/share/common-licenses/GPL-2.
EOF

# Files get 644 and directories 755 whatever the umask; executables keep their x bits.
chmod -R u=rwX,go=rX "$root"

install -d "$root/DEBIAN"
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"

# Depends from the ELF files themselves: the libtss2 runtime libraries, libstdc++, libc.
mkdir -p "$stage/shlibs/debian"
printf 'Source: tlssh\n\nPackage: tlssh\nArchitecture: any\n' >"$stage/shlibs/debian/control"
shlibs=$(cd "$stage/shlibs" && find "$lib" -name '*.node' -printf '-e%p\n' | xargs dpkg-shlibdeps --warnings=0 -O |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "$me: dpkg-shlibdeps found no libraries" >&2; exit 1; }

cat >"$root/DEBIAN/control" <<EOF
Package: tlssh
Version: $debversion
Architecture: $arch
Maintainer: tlssh developers <dev@tlssh.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: nodejs (>= 20), $shlibs, libpam0g, libpam-modules, libpam-runtime
Recommends: tpm2-tools, openssh-sftp-server
Section: net
Priority: optional
Description: remote login shell over mutually authenticated TLS 1.3
 tlssh logs into a remote machine, or runs a command there, as ssh does, but both ends
 prove who they are with X.509 certificates over TLS 1.3, and their private keys can
 be held inside a TPM 2.0 chip.
 .
 This package has the client tlssh, the daemon tlsshd (with a systemd unit, not
 enabled), tlssh-keygen and tlsshctl.
EOF

# The unit is installed, not enabled: with no keys yet it would only fail. On an upgrade a
# running daemon is restarted, which keeps logged-in sessions (KillMode=process).
cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  systemctl try-restart tlsshd.service || true
fi
EOF
cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop tlsshd.service || true
fi
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = purge ] && [ -d /run/systemd/system ]; then
  systemctl disable tlsshd.service >/dev/null 2>&1 || true
fi
EOF
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

mkdir -p "$outdir"
deb=$outdir/tlssh_${debversion}_$arch.deb
dpkg-deb --root-owner-group -Zxz -z6 --build "$root" "$deb" >/dev/null
echo "$deb"
