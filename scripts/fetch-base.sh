#!/bin/bash
# Fetch and unpack the pinned QEMU base with apt-get source.
# Usage: fetch-base.sh BUILD_DIR
# Leaves the unpacked, Debian-patched tree in BUILD_DIR/base/qemu and the
# version it holds in BUILD_DIR/base/VERSION.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/base.conf"
build=${1:?usage: fetch-base.sh BUILD_DIR}
dl="$build/dl"
base="$build/base"

die() { echo "fetch-base: $*" >&2; exit 1; }

[ -f "$base/VERSION" ] && [ -d "$base/qemu" ] && exit 0

command -v apt-get >/dev/null || die "apt-get not found: a Debian machine is required"
command -v dpkg-source >/dev/null || die "dpkg-source not found: run scripts/setup-host.sh"

available=$(apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -u)
[ -n "$available" ] ||
    die "no qemu source package visible to apt: run scripts/setup-host.sh (deb-src for trixie) and apt-get update"

version=$QEMU_DEB_VERSION
pinned=1
if ! grep -qxF "$QEMU_DEB_VERSION" <<< "$available"; then
    pinned=
    version=$(grep -E "^1:${QEMU_SERIES//./\\.}\.[0-9]+" <<< "$available" |
              sort -V | tail -n 1 || true)
    [ -n "$version" ] ||
        die "QEMU $QEMU_DEB_VERSION has left the registry and no other ${QEMU_SERIES}.x is offered (have: $(echo $available)); update scripts/base.conf"
    echo "fetch-base: WARNING: pinned QEMU $QEMU_DEB_VERSION is no longer in the registry;" >&2
    echo "fetch-base: WARNING: falling back to $version (update scripts/base.conf)" >&2
fi

rm -rf "$dl" && mkdir -p "$dl"
# apt drops privileges to _apt for downloads when it can reach the folder.
chown _apt "$dl" 2>/dev/null || true
echo "fetch-base: downloading qemu $version source"
(cd "$dl" && apt-get source --download-only -qq "qemu=$version" >/dev/null) ||
    die "apt-get source qemu=$version failed: is the registry reachable?"

orig=$(ls "$dl"/qemu_*.orig.tar.xz 2>/dev/null | head -n 1)
dsc=$(ls "$dl"/qemu_*.dsc 2>/dev/null | head -n 1)
[ -n "$orig" ] && [ -n "$dsc" ] || die "apt-get source left no .dsc/.orig.tar.xz in $dl"
if [ -n "$pinned" ]; then
    echo "$QEMU_ORIG_SHA256  $orig" | sha256sum -c --quiet - ||
        die "checksum mismatch for $(basename "$orig"): expected $QEMU_ORIG_SHA256"
    echo "$QEMU_DSC_SHA256  $dsc" | sha256sum -c --quiet - ||
        die "checksum mismatch for $(basename "$dsc"): expected $QEMU_DSC_SHA256"
fi

rm -rf "$base" && mkdir -p "$base"
echo "fetch-base: unpacking (dpkg-source applies Debian's patches)"
dpkg-source --no-check -x "$dsc" "$base/qemu" >/dev/null ||
    die "dpkg-source -x $(basename "$dsc") failed"
echo "$version" > "$base/VERSION"
rm -rf "$dl"
