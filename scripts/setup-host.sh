#!/bin/bash
# Install what building and testing needs, from Debian's registries only.
# The apt entries for the sources of the QEMU bases (scripts/base.conf:
# trixie, unstable) and bookworm-backports on bookworm are derived from the
# machine's own Debian entry; no host name is written in this repository.
set -euo pipefail

die() { echo "setup-host: $*" >&2; exit 1; }

. "$(dirname "$0")/base.conf"
SRC_SUITES=$(for b in $BASES; do base_var "$b" SUITE; done | awk '!seen[$0]++' |
             tr '\n' ' ' | sed 's/ $//')

PKGS_BUILD="ninja-build libglib2.0-dev libpixman-1-dev libslirp-dev libaio-dev
 python3-venv flex bison libfdt-dev pkg-config dpkg-dev ccache git
 zlib1g-dev"
PKGS_BACKPORTS="meson python3-pycotap"
PKGS_FIRMWARE="seabios ipxe-qemu qemu-system-data"
PKGS_GUEST="busybox-static nvme-cli fio cpio kmod lz4 xz-utils btrfs-progs f2fs-tools"
PKGS_BENCH="strace"
STAMP=${SETUP_STAMP:-}

need_root() {
    [ "$(id -u)" = 0 ] || die "installing packages needs root (run: sudo $0)"
}

# Print "URIS|SIGNED_BY" of the stanza in debian.sources (deb822) that
# carries the main Debian archive (a Suites line without -security).
debian_entry() {
    local f=/etc/apt/sources.list.d/debian.sources
    if [ -f "$f" ]; then
        awk '
            function flush() {
                if (types ~ /deb/ && suites != "" && suites !~ /security/ && uris != "")
                    { print uris "|" signed; found = 1; exit }
                types = suites = uris = signed = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types) }
            /^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
            /^URIs:/ { uris = $0; sub(/^URIs:[ \t]*/, "", uris) }
            /^Signed-By:/ { signed = $0; sub(/^Signed-By:[ \t]*/, "", signed) }
            END { if (!found) flush() }
        ' "$f"
        return
    fi
    # One-line format fallback: first "deb URI SUITE" that is not security.
    grep -hE '^deb[[:space:]]' /etc/apt/sources.list 2>/dev/null |
        grep -v security | awk 'NR == 1 { print $2 "|" }'
}

write_apt_entries() {
    local entry uris signed codename out=/etc/apt/sources.list.d/qemu-nvme-ns.sources
    entry=$(debian_entry)
    [ -n "$entry" ] || die "no Debian apt entry found in /etc/apt to derive the source entries from"
    uris=${entry%%|*}
    signed=${entry#*|}
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    {
        echo "# Written by qemu-nvme-ns scripts/setup-host.sh, derived from debian.sources"
        echo "Types: deb-src"
        echo "URIs: $uris"
        echo "Suites: $SRC_SUITES"
        echo "Components: main"
        [ -n "$signed" ] && echo "Signed-By: $signed"
        if [ "$codename" = bookworm ]; then
            echo
            echo "Types: deb"
            echo "URIs: $uris"
            echo "Suites: bookworm-backports"
            echo "Components: main"
            [ -n "$signed" ] && echo "Signed-By: $signed"
        fi
    } > "$out.new"
    if ! cmp -s "$out.new" "$out" 2>/dev/null; then
        mv "$out.new" "$out"
        APT_UPDATED=
    else
        rm -f "$out.new"
    fi
}

APT_UPDATED=
apt_update() {
    [ -n "$APT_UPDATED" ] && return
    apt-get update -qq || die "apt-get update failed: check the machine's Debian apt entry and network"
    APT_UPDATED=1
}

missing_pkgs() {
    local p out=
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            out="$out $p"
    done
    echo "$out"
}

meson_ok() {
    local v
    v=$(/usr/bin/meson --version 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge 1.5
}

main() {
    local miss codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    miss=$(missing_pkgs $PKGS_BUILD $PKGS_FIRMWARE $PKGS_GUEST $PKGS_BENCH)
    if [ -z "$miss" ] && meson_ok && dpkg -s python3-pycotap >/dev/null 2>&1 &&
       grep -qsxF "Suites: $SRC_SUITES" /etc/apt/sources.list.d/qemu-nvme-ns.sources; then
        return 0
    fi
    need_root
    write_apt_entries
    apt_update
    export DEBIAN_FRONTEND=noninteractive
    if [ -n "$miss" ]; then
        echo "setup-host: installing$miss"
        apt-get install -y -qq --no-install-recommends $miss >/dev/null ||
            die "apt-get install failed for:$miss"
    fi
    if ! meson_ok || ! dpkg -s python3-pycotap >/dev/null 2>&1; then
        echo "setup-host: installing $PKGS_BACKPORTS"
        if [ "$codename" = bookworm ]; then
            apt-get install -y -qq --no-install-recommends -t bookworm-backports \
                $PKGS_BACKPORTS >/dev/null ||
                die "could not install meson >= 1.5 from bookworm-backports"
        else
            apt-get install -y -qq --no-install-recommends $PKGS_BACKPORTS >/dev/null ||
                die "could not install $PKGS_BACKPORTS"
        fi
        meson_ok || die "meson >= 1.5 is required; /usr/bin/meson is $(/usr/bin/meson --version 2>/dev/null || echo missing)"
    fi
}

main "$@"
