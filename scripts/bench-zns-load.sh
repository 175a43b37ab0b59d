#!/usr/bin/env bash
# How long a zoned namespace takes to load its zone state file
# (zoned.zone_file) at QEMU start-up, for 65,536 zones: a sparse 4 GiB raw
# image with 64 KiB zones (512-byte blocks: 128 blocks per zone).  The
# first start creates the file; then QEMU is started BENCH_LOAD_RUNS times
# and each start's figure is the "load N us" of the nvme_zns_state_open
# trace event (open, map, check the header and all 65,536 descriptors,
# rebuild the zone array and lists).  QEMU does not run a guest: -S, and
# "quit" on the QMP monitor at once.
#
# Three files are measured, the starts taking turns (ABAB... rotated):
#   empty        the new file, every zone Empty
#   mixed        a quarter of the zones Empty, a quarter Full, half Closed
#                (descriptors rewritten in place; the header is unchanged)
#   mixed-cold   the mixed file, its page cache dropped before each start
#                (dd iflag=nocache), so the load reads it from the disk
# Prints a table; a benchmark, not a test.
#
#   scripts/bench-zns-load.sh       (make bench runs it)
#   BENCH_LOAD_RUNS=7               starts per file
# Env: BUILD_DIR, QEMU, GUEST_QEMU_ARGS (extra QEMU arguments, e.g. -L DIR)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$repo/build}
QEMU=${QEMU:-$BUILD_DIR/qemu-system-x86_64}
RUNS=${BENCH_LOAD_RUNS:-7}
WORK=$BUILD_DIR/bench/zns-load
ZONES=65536
ZONE_SIZE=65536
IMG_SIZE=$((ZONES * ZONE_SIZE))

die() { echo "bench-zns-load: $*" >&2; exit 1; }

[[ -x $QEMU ]] || die "QEMU not found at $QEMU (set QEMU=path)"
rm -rf "$WORK"
mkdir -p "$WORK"
truncate -s "$IMG_SIZE" "$WORK/ns.img"

# start ZONEFILE: start QEMU on the image with ZONEFILE, quit at once, and
# print its nvme_zns_state_open line (or fail with QEMU's output).
start() {
	local zf=$1 out rc=0
	# shellcheck disable=SC2206 # GUEST_QEMU_ARGS is split on purpose
	local extra=(${GUEST_QEMU_ARGS:-})
	out=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
		timeout -k 5 60 "$QEMU" -machine pc -accel tcg -nodefaults -no-user-config \
			-display none -S -qmp stdio "${extra[@]}" \
			-trace nvme_zns_state_open -trace nvme_zns_state_init \
			-drive "file=$WORK/ns.img,if=none,id=z0,format=raw" \
			-device nvme,serial=zns0 \
			-device "nvme-ns,drive=z0,nsid=1,zoned=on,zoned.zone_size=$ZONE_SIZE,zoned.zone_file=$zf" \
			2>&1) || rc=$?
	if [[ $rc != 0 ]] || ! grep -q '^nvme_zns_state_open ' <<<"$out"; then
		printf '%s\n' "$out" | tail -n 5 >&2
		die "QEMU exited $rc without an nvme_zns_state_open trace line"
	fi
	grep '^nvme_zns_state_open ' <<<"$out" | tail -n 1
}

# load_us LINE: the microseconds of an nvme_zns_state_open line,
# "PATH zones N active N load US us".
load_us() {
	sed -n 's/.* zones \([0-9]*\) active [-0-9]* load \([0-9]*\) us$/\1 \2/p' <<<"$1"
}

# The new file: every zone Empty.
line=$(start "$WORK/empty.zs")
read -r nz create_us <<<"$(load_us "$line")"
[[ $nz == "$ZONES" ]] || die "the namespace has $nz zones, expected $ZONES: $line"

# The mixed file: rewrite the descriptors (32 bytes each after the 4 KiB
# header: state, attrs, 6 reserved, wp, zcap, reserved; little endian).
# Zone i starts at LBA i*128; Full has wp at the zone's end, Closed half
# way.  perl is Essential in Debian (perl-base).
cp "$WORK/empty.zs" "$WORK/mixed.zs"
perl -e '
	use strict;
	my ($path, $n, $zb) = @ARGV;
	open(my $f, "+<", $path) or die "$path: $!";
	binmode $f;
	my $buf = "";
	for my $i (0 .. $n - 1) {
		my $slba = $i * $zb;
		my ($st, $wp) = (0x01, $slba);
		if ($i % 4 == 1) { ($st, $wp) = (0x0e, $slba + $zb); }
		elsif ($i % 4 >= 2) { ($st, $wp) = (0x04, $slba + $zb / 2); }
		$buf .= pack("CCx6Q<Q<x8", $st, 0, $wp, $zb);
	}
	seek($f, 4096, 0) or die;
	print $f $buf or die;
	close($f) or die;
' "$WORK/mixed.zs" "$ZONES" $((ZONE_SIZE / 512))
sync "$WORK/mixed.zs"

kinds=(empty mixed mixed-cold)
declare -A us
for ((r = 0; r < RUNS; r++)); do
	for ((k = 0; k < ${#kinds[@]}; k++)); do
		kind=${kinds[(r + k) % ${#kinds[@]}]}
		zf=$WORK/${kind%-cold}.zs
		if [[ $kind == *-cold ]]; then
			# written back already (QEMU msyncs at exit); drop its pages
			sync "$zf"
			dd if="$zf" iflag=nocache count=0 status=none
		fi
		line=$(start "$zf")
		read -r nz t <<<"$(load_us "$line")"
		us[$kind]+="$t "
	done
done

stats() {
	tr ' ' '\n' | sed '/^$/d' | sort -n | awk '
		{ v[NR] = $1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%10.2f %10.2f %10.2f", m / 1000, v[1] / 1000, v[NR] / 1000
		}'
}

echo
echo "Zone state file load, $ZONES zones ($((IMG_SIZE >> 30)) GiB image, $((ZONE_SIZE >> 10)) KiB zones," \
	"$(stat -c %s "$WORK/empty.zs") byte file); ms, $RUNS starts each (nvme_zns_state_open)"
printf '  %-12s %10s %10s %10s\n' file median min max
for kind in "${kinds[@]}"; do
	printf '  %-12s %s\n' "$kind" "$(stats <<<"${us[$kind]}")"
done
printf '  %-12s %10.2f   (first start: create and sync the file)\n' create "$(awk -v u="$create_us" 'BEGIN { print u / 1000 }')"
echo "  (goal: median < 20 ms)"
