#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# Guest fio on a run-time namespace (made with nvme create-ns in the store)
# versus a static nvme-ns over an identical raw image, in one QEMU run:
# 4 KiB random read and random write, queue depth 16, direct I/O, the two
# devices taking turns (ABBA order).  Prints a table; a benchmark, not a test.
#
#   tests/guest/bench-fio.sh        (make bench runs it)
#   BENCH_ROUNDS=3 BENCH_SECONDS=5  rounds per device and workload, seconds each
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export GUEST_QUIET=1
ROUNDS=${BENCH_ROUNDS:-3}
SECONDS_EACH=${BENCH_SECONDS:-5}
export GUEST_TIMEOUT=$((120 + 4 * ROUNDS * (SECONDS_EACH + 3)))
scenario_begin bench-fio

STORE=$WORK/store
mkdir -p "$STORE"
truncate -s 256M "$WORK/static.img"
NVME=(-device "nvme,serial=bench0,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=1G"
	-drive "file=$WORK/static.img,if=none,id=st0,format=raw"
	-device nvme-ns,drive=st0,nsid=2)

guest_set "ROUNDS=$ROUNDS" "SECS=$SECONDS_EACH"
guest_boot bench - "${NVME[@]}" <<'GUEST'
set -e
nsdev() { for d in /sys/block/nvme0n*; do [ "$(cat "$d/nsid")" = "$1" ] && echo "/dev/${d##*/}"; done; return 0; }
nvme create-ns /dev/nvme0 --nsze=524288 --ncap=524288 --flbas=0 >/dev/null
nvme attach-ns /dev/nvme0 -n 1 -c 0 >/dev/null
guest_nvme_settle
RT=$(nsdev 1)
ST=$(nsdev 2)
for rw in randread randwrite; do
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		# ABBA: neither device always goes first
		order="runtime static"
		[ $((r % 2)) = 1 ] && order="static runtime"
		for which in $order; do
			dev=$RT; [ $which = static ] && dev=$ST
			iops=$(fio --name=b --filename="$dev" --rw=$rw --bs=4k --iodepth=16 \
				--ioengine=libaio --direct=1 --time_based --runtime="$SECS" \
				--ramp_time=1 --group_reporting --output-format=terse \
				--terse-version=3 | awk -F';' -v rw=$rw \
				'{ print (rw == "randread") ? $8 : $49 }')
			echo "FIO $rw $which $iops"
		done
		r=$((r + 1))
	done
done
GUEST
rc=$(guest_exit_code "$GUEST_LOG")
[[ $rc == 0 ]] || scenario_fail "guest exited $rc ($GUEST_LOG)"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "Guest fio, 4 KiB, queue depth 16, libaio, direct; median IOPS of $ROUNDS runs of ${SECONDS_EACH}s (TCG)"
printf '  %-10s %14s %14s %8s\n' workload run-time static ratio
for rw in randread randwrite; do
	rt=$(grep "^FIO $rw runtime " "$GUEST_LOG" | awk '{ print $4 }' | median)
	st=$(grep "^FIO $rw static " "$GUEST_LOG" | awk '{ print $4 }' | median)
	printf '  %-10s %14s %14s %8.3f\n' "$rw" "$rt" "$st" "$(awk -v a="$rt" -v b="$st" 'BEGIN { print a / b }')"
done
echo "  (goal: ratio >= 0.97)"
_SCENARIO_DONE=1
