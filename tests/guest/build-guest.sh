#!/usr/bin/env bash
# Build (or reuse) the Linux guest used by the end-to-end tests.
#
#   tests/guest/build-guest.sh [BUILD_DIR]      (default: <repo>/build)
#
# Produces, under BUILD_DIR/guest/:
#   kernel         the Debian kernel (never installed on the host): its
#                  uncompressed vmlinux, which QEMU boots through PVH, or
#                  the bzImage if it cannot be unpacked (kernel.format says)
#   initramfs.img  busybox, nvme-cli, fio (+ shared libraries), the NVMe
#                  modules and the /init of tests/guest/guest/
#   inputs.txt     what it was built from; the cache is reused while the
#                  inputs (package versions, host binaries, init files, this
#                  script) are unchanged
#   dl/            the downloaded kernel package
#
# Env: GUEST_FLAVOR      "fs": a second guest, in BUILD_DIR/guest-fs/, that
#                        also has btrfs-progs, f2fs-tools, blkzone, bash and
#                        the btrfs and f2fs modules (the file-system
#                        scenarios); the plain guest stays lean
#      GUEST_KERNEL_PKG  kernel package to use instead of the one
#                        linux-image-amd64 depends on
#      GUEST_COMPRESS    initramfs compression: auto (default: lz4 if the lz4
#                        tool is there, else gzip), gzip, lz4, zstd, none
#      GUEST_FORCE=1     rebuild even if the cache looks current
#
# Prints "build-guest: ..." progress lines on stderr; on failure one
# "build-guest: error: ..." line and a non-zero exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${1:-$REPO/build}
FLAVOR=${GUEST_FLAVOR:-}
G=$BUILD_DIR/guest${FLAVOR:+-$FLAVOR}
# the kernel package is downloaded once, for every flavor
DL=$BUILD_DIR/guest/dl
COMPRESS=${GUEST_COMPRESS:-auto}
if [[ $COMPRESS == auto ]]; then
	# lz4 unpacks about a second faster than gzip in a TCG guest
	COMPRESS=gzip
	command -v lz4 >/dev/null && COMPRESS=lz4
fi

# Modules to load, in order; each one's hard dependencies are added before it.
# Missing or built-in ones are skipped.
MODULES=(crct10dif_common crct10dif_generic crc-t10dif crc64
	crc64_rocksoft_generic crc64-rocksoft t10-pi nvme-core nvme qemu_fw_cfg)
# Host packages whose files go into the initramfs (their versions are inputs).
PACKAGES=(busybox-static nvme-cli fio)
BINARIES=(/usr/sbin/nvme /usr/bin/fio)
case $FLAVOR in
'') ;;
fs)
	# the checksum drivers are soft dependencies: modinfo does not name them
	MODULES+=(crc32c_generic crc32_generic libcrc32c btrfs f2fs)
	PACKAGES+=(btrfs-progs f2fs-tools util-linux bash)
	BINARIES+=(/usr/sbin/mkfs.btrfs /usr/bin/btrfs /usr/sbin/mkfs.f2fs
		/usr/sbin/fsck.f2fs /usr/sbin/blkzone /usr/bin/bash)
	;;
*)
	echo "build-guest: error: GUEST_FLAVOR must be empty or fs (not '$FLAVOR')" >&2
	exit 1
	;;
esac

log() { echo "build-guest: $*" >&2; }
die() {
	echo "build-guest: error: $*" >&2
	exit 1
}

need_tools() {
	local t
	for t in apt-get apt-cache dpkg-deb dpkg-query cpio modinfo ldd sha256sum xz od flock; do
		command -v "$t" >/dev/null || die "missing host tool '$t' (run scripts/setup-host.sh)"
	done
	[[ -x /bin/busybox ]] || die "missing /bin/busybox (install busybox-static)"
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x $b ]] || die "missing $b (install ${PACKAGES[*]})"
	done
}

compressor() {
	case $COMPRESS in
	gzip) echo "gzip -6 -n" ;;
	lz4) echo "lz4 -l -9 -q" ;;
	zstd) echo "zstd -q -10 -T0" ;;
	none) echo cat ;;
	*) die "GUEST_COMPRESS must be gzip, lz4, zstd or none (not '$COMPRESS')" ;;
	esac
}

# Sets KPKG and KVER: the kernel package and the version to use.
resolve_kernel() {
	KPKG=${GUEST_KERNEL_PKG:-}
	if [[ -z $KPKG ]]; then
		KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	fi
	KVER=
	if [[ -n $KPKG ]]; then
		KVER=$(apt-cache policy "$KPKG" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
		[[ $KVER == "(none)" ]] && KVER=
	fi
	if [[ -z $KVER ]]; then
		# Offline or no package lists: fall back on a package downloaded before.
		local deb
		# shellcheck disable=SC2012 # Debian package file names are plain
		deb=$(ls -t "$DL"/linux-image-*.deb 2>/dev/null | head -n 1 || true)
		[[ -n $deb ]] || die "cannot resolve the kernel package (apt-cache depends linux-image-amd64 found none; run 'apt-get update')"
		KPKG=$(dpkg-deb -f "$deb" Package)
		KVER=$(dpkg-deb -f "$deb" Version)
		log "apt cannot resolve the kernel; using the downloaded $KPKG $KVER"
	fi
}

kernel_deb() {
	echo "$DL/${KPKG}_${KVER//:/%3a}_amd64.deb"
}

fetch_kernel() {
	local deb
	deb=$(kernel_deb)
	[[ -s $deb ]] && return 0
	mkdir -p "$DL"
	# apt-get download runs as _apt: let it write there (avoids a warning).
	chown _apt "$DL" 2>/dev/null || true
	log "downloading $KPKG $KVER"
	(cd "$DL" && apt-get download -q "$KPKG=$KVER" >"$DL/download.log" 2>&1) ||
		die "apt-get download $KPKG=$KVER failed (see $DL/download.log)"
	[[ -s $deb ]] || die "apt-get download did not produce $deb"
	local old
	for old in "$DL"/linux-image-*.deb; do
		[[ $old == "$deb" ]] || rm -f "$old"
	done
}

# The libraries (and the dynamic loader) the binaries need, one path a line.
shared_libs() {
	local b
	for b in "${BINARIES[@]}"; do
		ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u
}

# Everything the initramfs depends on, one line each; its hash keys the cache.
describe_inputs() {
	echo "kernel $KPKG $KVER"
	echo "compress $COMPRESS"
	echo "modules ${MODULES[*]}"
	local p
	for p in "${PACKAGES[@]}"; do
		echo "package $p $(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo missing)"
	done
	local f
	for f in /bin/busybox "${BINARIES[@]}" $(shared_libs); do
		echo "file $(stat -L -c '%n %s %Y' "$f")"
	done
	for f in "$HERE/build-guest.sh" "$HERE"/guest/*; do
		echo "source ${f#"$REPO"/} $(sha256sum <"$f" | cut -c1-16)"
	done
}

# modfile MODROOT NAME: path of module NAME (- and _ are the same), or nothing.
modfile() {
	local alt=${2//-/_}
	find "$1/kernel" \( -name "$2.ko*" -o -name "$alt.ko*" -o -name "${alt//_/-}.ko*" \) 2>/dev/null |
		head -n 1
}

# add_module MODROOT NAME: append NAME's dependencies, then NAME, to ORDER.
add_module() {
	local root=$1 name=${2//-/_} f d
	local seen
	for seen in "${ORDER[@]:+${ORDER[@]}}"; do
		[[ ${seen//-/_} == "$name" ]] && return 0
	done
	if grep -qE "/(${name}|${name//_/-})\.ko\$" "$root/modules.builtin" 2>/dev/null; then
		return 0 # built into the kernel
	fi
	f=$(modfile "$root" "$2")
	if [[ -z $f ]]; then
		log "module $2 not found, skipped"
		return 0
	fi
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do
		add_module "$root" "$d"
	done
	ORDER+=("$(basename "${f%%.ko*}")")
	case $f in
	*.ko) cp "$f" "$STAGE/lib/modules/guest/" ;;
	*.ko.xz) xz -dc "$f" >"$STAGE/lib/modules/guest/$(basename "${f%.xz}")" ;;
	*.ko.zst) zstd -qdc "$f" >"$STAGE/lib/modules/guest/$(basename "${f%.zst}")" ;;
	*.ko.gz) gzip -dc "$f" >"$STAGE/lib/modules/guest/$(basename "${f%.gz}")" ;;
	*) die "unknown module format: $f" ;;
	esac
}

# copy_file SRC: copy SRC into the stage at the same path (following links).
copy_file() {
	mkdir -p "$STAGE$(dirname "$1")"
	cp -L "$1" "$STAGE$1"
}

stage_root() {
	mkdir -p "$STAGE"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,root,etc,lib/modules/guest}
	# Debian's merged /usr layout, so the paths ldd prints resolve.
	ln -s usr/bin "$STAGE/bin"
	ln -s usr/sbin "$STAGE/sbin"
	ln -s usr/lib "$STAGE/lib"
	ln -s usr/lib64 "$STAGE/lib64"
	mknod -m 600 "$STAGE/dev/console" c 5 1
	mknod -m 666 "$STAGE/dev/null" c 1 3
	echo "root:x:0:0:root:/root:/bin/sh" >"$STAGE/etc/passwd"
	echo "root:x:0:" >"$STAGE/etc/group"

	cp /bin/busybox "$STAGE/usr/bin/busybox"
	local a
	for a in $(/bin/busybox --list-full); do
		[[ -e $STAGE/$a || -L $STAGE/$a ]] && continue
		mkdir -p "$STAGE/$(dirname "$a")"
		ln -s /usr/bin/busybox "$STAGE/$a"
	done
	local f
	for f in "${BINARIES[@]}" $(shared_libs); do
		rm -f "$STAGE$f"
		copy_file "$f"
	done
	install -m 755 "$HERE/guest/init" "$STAGE/init"
	install -m 644 "$HERE/guest/guest.sh" "$STAGE/lib/guest.sh"
}

# unpack_kernel BZIMAGE OUT: OUT is the uncompressed vmlinux (an ELF that
# QEMU boots through PVH, which saves the seconds the bzImage takes to
# decompress itself under TCG), or the bzImage itself when that fails.
unpack_kernel() {
	local off
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
	if [[ -n $off ]] &&
		# (tail is killed by SIGPIPE once xz has the whole stream)
		{ tail -c "+$((off + 1))" "$1" || true; } | xz -dc --single-stream >"$2" 2>/dev/null &&
		[[ $(head -c 4 "$2" | od -An -c | tr -d ' ') == '177ELF' ]] &&
		LC_ALL=C grep -qaF 'Xen' "$2"; then
		log "kernel: uncompressed vmlinux (PVH boot)"
		echo "pvh-elf" >"$TMP/kernel.format"
	else
		log "kernel: cannot unpack the bzImage, booting it as it is"
		cp "$1" "$2"
		echo "bzimage" >"$TMP/kernel.format"
	fi
}

stage_kernel() {
	local kroot=$1
	local mods
	mods=$(find "$kroot/lib/modules" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -n 1)
	[[ -n $mods ]] || die "no lib/modules in $(kernel_deb)"
	local vmlinuz
	vmlinuz=$(find "$kroot/boot" -name 'vmlinuz-*' 2>/dev/null | head -n 1)
	[[ -n $vmlinuz ]] || die "no boot/vmlinuz-* in $(kernel_deb)"
	unpack_kernel "$vmlinuz" "$TMP/kernel.img"
	ORDER=()
	local m
	for m in "${MODULES[@]}"; do
		add_module "$mods" "$m"
	done
	printf '%s\n' "${ORDER[@]}" >"$STAGE/lib/modules/guest/load-order"
	log "modules: ${ORDER[*]}"
}

# build INPUTS: build kernel and initramfs.img into $G, recording INPUTS.
build() {
	local comp
	comp=$(compressor)
	TMP=$G/.build.$$
	rm -rf "$TMP"
	mkdir -p "$TMP"
	trap 'rm -rf "$TMP"' EXIT
	printf '%s\n' "$1" >"$TMP/inputs.txt"
	STAGE=$TMP/root
	log "extracting $(basename "$(kernel_deb)")"
	dpkg-deb -x "$(kernel_deb)" "$TMP/kernel" || die "cannot extract $(kernel_deb)"
	stage_root
	stage_kernel "$TMP/kernel"
	log "packing the initramfs ($COMPRESS)"
	(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
		$comp >"$TMP/initramfs.img" || die "cannot pack the initramfs"
	rm -f "$G/vmlinuz" # older layout
	mv -f "$TMP/kernel.img" "$G/kernel"
	mv -f "$TMP/kernel.format" "$G/kernel.format"
	mv -f "$TMP/initramfs.img" "$G/initramfs.img"
	mv -f "$TMP/inputs.txt" "$G/inputs.txt"
	rm -rf "$TMP"
	trap - EXIT
}

main() {
	need_tools
	compressor >/dev/null
	mkdir -p "$G"
	exec 9>"$G/.lock"
	flock 9
	resolve_kernel
	local inputs
	inputs=$(describe_inputs)
	if [[ ${GUEST_FORCE:-0} != 1 && -s $G/kernel && -s $G/initramfs.img && -s $G/inputs.txt ]] &&
		[[ $inputs == "$(cat "$G/inputs.txt")" ]]; then
		log "up to date ($KPKG $KVER)"
	else
		fetch_kernel
		local start=$SECONDS
		build "$inputs"
		log "built in $((SECONDS - start)) s: $(du -h "$G/initramfs.img" | cut -f1) initramfs"
	fi
	echo "$G/kernel $G/initramfs.img"
}

main "$@"
