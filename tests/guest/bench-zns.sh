#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# Persistent zone state (zoned.zone_file): what it costs on the I/O path.
# Prints two tables; a benchmark, not a test.
#
# 1. Guest fio, sequential zoned writes (zonemode=zbd, direct, psync, queue
#    depth 1), 4 KiB and 128 KiB blocks, on a zoned namespace with a zone
#    state file versus an identical one without (same controller, same
#    256 MiB raw image size, 16 MiB zones), in one QEMU run, all zones reset
#    before each run; medians.  First one at a time, the two taking turns
#    (ABBA order); then both at once, one fio job on each, which exposes
#    both to the same host noise (the one-at-a-time figures vary by tens of
#    per cent on a busy host).
# 2. QEMU under strace (msync, fsync, fdatasync, write, pwrite*, openat on
#    every thread; -y names each fd's file): the guest flushes, writes a few
#    MiB into zones with O_DIRECT, flushes, writes again and finishes and
#    resets zones, flushes.  The Flush commands are found in strace's output
#    by QEMU's pci_nvme_flush_ns trace line (QEMU writes it on stderr);
#    between two of them, the system calls on the zone file and the msync
#    calls are counted, and the pwritev calls on the image as a check that
#    the writes did happen there.
#
#   tests/guest/bench-zns.sh        (make bench runs it)
#   BENCH_ROUNDS=6                  runs per namespace and block size (ABBA)
#   BENCH_ZNS_PAIRS=3               runs of both at once per block size
#   BENCH_ZNS_MB_4K=16 BENCH_ZNS_MB_128K=128
#                                   MiB written per run and namespace
#                                   (multiples of 16)
#   BENCH_ZNS_STRACE_MB=8           MiB written between flushes under strace
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export GUEST_QUIET=1
ROUNDS=${BENCH_ROUNDS:-6}
PAIRS=${BENCH_ZNS_PAIRS:-3}
MB_4K=${BENCH_ZNS_MB_4K:-16}
MB_128K=${BENCH_ZNS_MB_128K:-128}
STRACE_MB=${BENCH_ZNS_STRACE_MB:-8}
for v in "$ROUNDS" "$PAIRS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench-zns: not a number of runs: $v" >&2; exit 1; }
done
for v in "$MB_4K" "$MB_128K"; do
	[[ $v =~ ^[0-9]+$ && $((v % 16)) == 0 && $v -gt 0 && $v -le 256 ]] ||
		{ echo "bench-zns: MiB per run must be a multiple of 16 up to 256: $v" >&2; exit 1; }
done
[[ $STRACE_MB =~ ^[0-9]+$ && $((STRACE_MB % 4)) == 0 && $STRACE_MB -gt 0 && $STRACE_MB -le 24 ]] ||
	{ echo "bench-zns: BENCH_ZNS_STRACE_MB must be a multiple of 4 up to 24: $STRACE_MB" >&2; exit 1; }
STRACE=$(command -v strace) ||
	{ echo "bench-zns: strace is not installed (scripts/setup-host.sh installs it)" >&2; exit 1; }

scenario_begin bench-zns


# --- 1. fio, with and without a zone file ---------------------------------

truncate -s 256M "$WORK/file.img" "$WORK/nofile.img"
ZONED=zoned=on,zoned.zone_size=16M
NVME=(-device nvme,serial=zns0,id=nvme0
	-drive "file=$WORK/file.img,if=none,id=zf,format=raw"
	-device "nvme-ns,drive=zf,nsid=1,$ZONED,zoned.zone_file=$WORK/file.zs"
	-drive "file=$WORK/nofile.img,if=none,id=zn,format=raw"
	-device "nvme-ns,drive=zn,nsid=2,$ZONED")

export GUEST_TIMEOUT=$((300 + 30 * (ROUNDS + 2 * PAIRS)))
guest_set "ROUNDS=$ROUNDS" "PAIRS=$PAIRS" "MB_4K=$MB_4K" "MB_128K=$MB_128K"
guest_boot fio - "${NVME[@]}" <<'GUEST'
set -e
nsdev() { for d in /sys/block/nvme0n*; do [ "$(cat "$d/nsid")" = "$1" ] && echo "/dev/${d##*/}"; done; return 0; }
FILE=$(nsdev 1)
NOFILE=$(nsdev 2)
for d in $FILE $NOFILE; do
	q=/sys/block/${d#/dev/}/queue
	echo "ZONED ${d#/dev/} $(cat $q/zoned) $(cat $q/chunk_sectors) $(cat $q/scheduler)"
done
FIO="fio --zonemode=zbd --direct=1 --ioengine=psync --rw=write --output-format=terse --terse-version=3"
for bs in 4k 128k; do
	mb=$MB_4K
	[ $bs = 128k ] && mb=$MB_128K
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		# ABBA: neither namespace always goes first
		order="file nofile"
		[ $((r % 2)) = 1 ] && order="nofile file"
		for which in $order; do
			dev=$FILE
			[ $which = nofile ] && dev=$NOFILE
			nvme zns reset-zone "$dev" -a >/dev/null
			res=$($FIO --name=$which --filename="$dev" --bs=$bs --size=${mb}M |
				awk -F';' '{ print $48, $49 }')
			echo "FIO $bs $which $res"
		done
		r=$((r + 1))
	done
	# both at once, one fio job each: the same host noise for both
	r=0
	while [ $r -lt "$PAIRS" ]; do
		nvme zns reset-zone "$FILE" -a >/dev/null
		nvme zns reset-zone "$NOFILE" -a >/dev/null
		a="--name=file --filename=$FILE"
		b="--name=nofile --filename=$NOFILE"
		[ $((r % 2)) = 1 ] && { t=$a; a=$b; b=$t; }
		$FIO --bs=$bs --size=${mb}M $a $b |
			awk -F';' -v bs=$bs '{ print "PAIR", bs, $3, $48, $49 }'
		r=$((r + 1))
	done
done
GUEST
rc=$(guest_exit_code "$GUEST_LOG")
[[ $rc == 0 ]] || scenario_fail "guest exited $rc ($GUEST_LOG)"
fio_seconds=$GUEST_SECONDS
FIO_LOG=$GUEST_LOG

# --- 2. system calls on the zone file, under strace ------------------------

truncate -s 64M "$WORK/trace.img"
ZF=$WORK/trace.zs
SLOG=$WORK/strace.txt
cat >"$WORK/qemu-strace" <<EOF
#!/bin/sh
exec $(printf '%q' "$STRACE") -f --seccomp-bpf -qq -y -s 48 -o $(printf '%q' "$SLOG") \\
	-e trace=openat,msync,fdatasync,fsync,write,pwrite64,pwritev,pwritev2 \\
	$(printf '%q' "$QEMU") -trace pci_nvme_flush_ns -trace nvme_zns_state_sync "\$@"
EOF
chmod +x "$WORK/qemu-strace"
REAL_QEMU=$QEMU
QEMU=$WORK/qemu-strace
guest_set "MB=$STRACE_MB"
guest_boot strace - -device nvme,serial=zns1,id=nvme0 \
	-drive "file=$WORK/trace.img,if=none,id=zt,format=raw" \
	-device "nvme-ns,drive=zt,nsid=1,zoned=on,zoned.zone_size=4M,zoned.zone_file=$ZF" <<'GUEST'
set -e
dev=/dev/nvme0n1
w() { fio --name=w --filename=$dev --zonemode=zbd --direct=1 --ioengine=psync \
	--rw=write --bs=128k --offset=$1 --size=$2 --output-format=terse \
	--terse-version=3 | awk -F';' '{ print "WROTE " $47 " KiB" }'; }
nvme flush $dev -n 1
echo "MARK flush 1 done: $MB MiB of writes, no flush"
w 0 "${MB}M"
nvme flush $dev -n 1
echo "MARK flush 2 done: $MB MiB of writes, a zone finish and reset, no flush"
w "$((MB + 4))M" "${MB}M"
nvme zns finish-zone $dev -s $(((MB + 4 + MB) * 2048)) >/dev/null
nvme zns reset-zone $dev -s 0 >/dev/null
nvme flush $dev -n 1
echo "MARK flush 3 done"
GUEST
QEMU=$REAL_QEMU
rc=$(guest_exit_code "$GUEST_LOG")
[[ $rc == 0 ]] || scenario_fail "guest under strace exited $rc ($GUEST_LOG)"
strace_seconds=$GUEST_SECONDS
[[ -s $SLOG ]] || scenario_fail "no strace output in $SLOG"

# Per interval between two flushes: F = the flush's pci_nvme_flush_ns
# trace line; its part up to and including the first msync after F is the
# flush, the rest the writes.  Prints for intervals 1 and 2:
#   I msync_in_interval zonefile_syscalls_in_writes msync_in_writes image_pwrites
#     image_fdatasync_in_interval
summarize() {
	awk -v zf="<$ZF>" -v img="<$WORK/trace.img>" '
		function isimgwrite(l) { return l ~ /(pwrite64|pwritev2?)\(/ && index(l, img) && l !~ /resumed>/ }
		/write\(2<[^>]*>, "pci_nvme_flush_ns / { n++; inflush = 1; next }
		n == 0 { next }
		{
			ms = ($0 ~ / msync\(/ && $0 !~ /resumed>/)
			if (ms) msync[n]++
			if (!inflush) {
				if (ms) wmsync[n]++
				if (index($0, zf) && $0 !~ /resumed>/) wzf[n]++
				if (isimgwrite($0)) wimg[n]++
			}
			if (inflush && $0 ~ /fdatasync\(/ && index($0, img) && $0 !~ /resumed>/) fds[n]++
			if (ms) inflush = 0
		}
		END {
			for (i = 1; i < n; i++)
				print i, msync[i] + 0, wzf[i] + 0, wmsync[i] + 0, wimg[i] + 0, fds[i] + 0
			print "flushes", n
		}' "$SLOG"
}
sum=$(summarize)
nflush=$(sed -n 's/^flushes //p' <<<"$sum")
[[ $nflush == 3 ]] || scenario_fail "expected 3 flushes in $SLOG, found $nflush"
# opens that succeeded (a failed probe for the file is not an open), and
# the traced calls on its descriptor other than the opens
zf_open=$(grep "openat(.*\"$ZF\"" "$SLOG" | grep -vc ') = -1 ' || true)
msync_total=$(grep ' msync(' "$SLOG" | grep -vc 'resumed>' || true)
zf_other=$(grep -F "<$ZF>" "$SLOG" | grep -v 'resumed>' | grep -vc 'openat(' || true)

# --- the tables --------------------------------------------------------

echo
echo "Guest fio, sequential zoned writes (zonemode=zbd), psync, queue depth 1, direct;"
echo "16 MiB zones; MiB/s, median of the runs (TCG); ratio: with a zone file / without,"
echo "median of the ratios of each round (the two runs of a round are next to each other)"
printf '  %-6s %-22s %7s %10s %10s %8s\n' bs runs MiB/run 'with file' 'without' ratio
# row KIND BS RUNS MB: one line of the table from the KIND (FIO, PAIR)
# lines; each round logs one line per namespace, in either order.
row() {
	local fb nb ra
	fb=$(grep "^$1 $2 file " "$FIO_LOG" | awk '{ print $4 }' | median)
	nb=$(grep "^$1 $2 nofile " "$FIO_LOG" | awk '{ print $4 }' | median)
	ra=$(grep "^$1 $2 " "$FIO_LOG" | awk '{ v[$3] = $4 } NR % 2 == 0 { print v["file"] / v["nofile"] }' | median)
	printf '  %-6s %-22s %7s %10.1f %10.1f %8.3f\n' "$2" "$3" "$4" \
		"$(awk -v b="$fb" 'BEGIN { print b / 1024 }')" \
		"$(awk -v b="$nb" 'BEGIN { print b / 1024 }')" "$ra"
}
for bs in 4k 128k; do
	mb=$MB_4K
	[[ $bs == 128k ]] && mb=$MB_128K
	row FIO "$bs" "$ROUNDS each, ABBA" "$mb"
	row PAIR "$bs" "$PAIRS, both at once" "$mb"
done
echo "  (goal: ratio >= 0.98; guest run ${fio_seconds} s)"

echo
echo "System calls on the zone file, QEMU under strace -f (guest run ${strace_seconds} s)"
per_ms=''
per_fds=''
while read -r i ms wzf wms wimg fds; do
	[[ $i == flushes ]] && continue
	what="$STRACE_MB MiB of writes"
	[[ $i == 2 ]] && what="$STRACE_MB MiB of writes, a zone finish and a reset"
	printf '  zone-file syscalls during %s without a flush: %s\n' "$what" "$wzf"
	printf '    (flush %s to %s: msync %s, image pwrite calls %s)\n' "$i" $((i + 1)) "$wms" "$wimg"
	per_ms+="${per_ms:+, }$ms"
	per_fds+="${per_fds:+, }$fds"
done <<<"$sum"
echo "  msync per flush: $per_ms (flushes 1, 2); image fdatasync per flush: $per_fds"
echo "    (QEMU skips the image fdatasync when nothing was written since the last flush)"
echo "  whole run: zone file opened $zf_open time(s), $zf_other other traced syscalls on its fd;" \
	"msync $msync_total (file creation, 3 flushes, controller shutdown, exit)"
echo "  (goal: 0 zone-file syscalls between flushes; 1 msync per flush)"
_SCENARIO_DONE=1
