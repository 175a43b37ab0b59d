#!/bin/bash
# Make Debian's firmware packages visible to the uninstalled build: QEMU
# looks in BUILD/qemu-bundle/PREFIX/share/qemu next to its executable.
set -euo pipefail
qbuild=${1:?usage: link-firmware.sh QEMU_BUILD_DIR}
dest="$qbuild/qemu-bundle/usr/local/share/qemu"
mkdir -p "$dest"
for f in /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom /usr/share/qemu/*.bin; do
    [ -e "$f" ] || continue
    [ -e "$dest/$(basename "$f")" ] || ln -s "$f" "$dest/$(basename "$f")"
done
for f in bios-256k.bin efi-e1000.rom linuxboot_dma.bin kvmvapic.bin; do
    [ -e "$dest/$f" ] || { echo "link-firmware: $f not found: run scripts/setup-host.sh (packages seabios ipxe-qemu qemu-system-data)" >&2; exit 1; }
done
