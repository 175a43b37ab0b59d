#!/bin/bash
# Fetch and unpack a QEMU base (scripts/base.conf) with apt-get source.
# Usage: fetch-base.sh BUILD_DIR [BASE]
# Leaves the unpacked, Debian-patched tree in BUILD_DIR/base[-BASE]/qemu and
# the version it holds in BUILD_DIR/base[-BASE]/VERSION.  Exits with 3 (and
# a warning) when a base without fallback has left the registry: its build
# and tests are skipped, never failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/base.conf"
build=${1:?usage: fetch-base.sh BUILD_DIR [BASE]}
name=${2:-$BASE_DEFAULT}
base_known "$name" || { echo "fetch-base: unknown base '$name' (have: $BASES)" >&2; exit 1; }
suffix=$(base_suffix "$name")
dl="$build/dl$suffix"
base="$build/base$suffix"
pin=$(base_var "$name" VERSION)
fallback=$(base_var "$name" FALLBACK)
suite=$(base_var "$name" SUITE)

die() { echo "fetch-base: $*" >&2; exit 1; }

[ -f "$base/VERSION" ] && [ -d "$base/qemu" ] && exit 0

command -v apt-get >/dev/null || die "apt-get not found: a Debian machine is required"
command -v dpkg-source >/dev/null || die "dpkg-source not found: run scripts/setup-host.sh"

available=$(apt-cache showsrc qemu 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -u)
[ -n "$available" ] ||
    die "no qemu source package visible to apt: run scripts/setup-host.sh (deb-src for $suite) and apt-get update"

version=$pin
pinned=1
if ! grep -qxF "$pin" <<< "$available"; then
    pinned=
    if [ -z "$fallback" ]; then
        echo "fetch-base: WARNING: QEMU $pin (base $name, Debian $suite) is no longer in the registry:" >&2
        echo "fetch-base: WARNING: the base $name is skipped (update scripts/base.conf)" >&2
        exit 3
    fi
    version=$(grep -E "^1:${fallback//./\\.}\.[0-9]+" <<< "$available" |
              sort -V | tail -n 1 || true)
    [ -n "$version" ] ||
        die "QEMU $pin has left the registry and no other ${fallback}.x is offered (have: $(echo $available)); update scripts/base.conf"
    echo "fetch-base: WARNING: pinned QEMU $pin is no longer in the registry;" >&2
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
    sum=$(base_var "$name" ORIG_SHA256)
    echo "$sum  $orig" | sha256sum -c --quiet - ||
        die "checksum mismatch for $(basename "$orig"): expected $sum"
    sum=$(base_var "$name" DSC_SHA256)
    echo "$sum  $dsc" | sha256sum -c --quiet - ||
        die "checksum mismatch for $(basename "$dsc"): expected $sum"
fi

rm -rf "$base" && mkdir -p "$base"
echo "fetch-base: unpacking (dpkg-source applies Debian's patches)"
dpkg-source --no-check -x "$dsc" "$base/qemu" >/dev/null ||
    die "dpkg-source -x $(basename "$dsc") failed"
echo "$version" > "$base/VERSION"
rm -rf "$dl"
