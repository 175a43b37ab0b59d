#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# Guest fio on a run-time namespace (made with nvme create-ns in the store)
# versus a static nvme-ns over an identical raw image, in one QEMU run:
# 4 KiB random read and random write, queue depth 16, direct I/O.
# Prints a table; a benchmark, not a test.
#
# Two ways of measuring, because single TCG runs on a busy 2-core host
# scatter by tens of percent:
#   one at a time  the devices take turns (ABC CBA order, an even number
#                  of rounds); the ratio is the median of the rounds' ratios
#   all at once    one fio job per device, concurrently, so that host noise
#                  hits them alike; the median of the rounds' ratios
# A second static namespace is the control: static B / static A shows the
# noise floor next to the result.  Both static namespaces are private
# (shared=off), like a create-ns without --nmic.
#
#   tests/guest/bench-fio.sh        (make bench runs it)
#   BENCH_ROUNDS=4 BENCH_SECONDS=5  rounds per mode and workload, seconds each
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export GUEST_QUIET=1
ROUNDS=${BENCH_ROUNDS:-4}
ROUNDS=$(((ROUNDS + 1) / 2 * 2))
SECONDS_EACH=${BENCH_SECONDS:-5}
export GUEST_TIMEOUT=$((120 + 2 * 6 * ROUNDS * (SECONDS_EACH + 3)))
scenario_begin bench-fio

STORE=$WORK/store
mkdir -p "$STORE"
truncate -s 256M "$WORK/static-a.img" "$WORK/static-b.img"
NVME=(-device "nvme,serial=bench0,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=1G"
	-drive "file=$WORK/static-a.img,if=none,id=sta,format=raw"
	-device nvme-ns,drive=sta,nsid=2,shared=off
	-drive "file=$WORK/static-b.img,if=none,id=stb,format=raw"
	-device nvme-ns,drive=stb,nsid=3,shared=off)

guest_set "ROUNDS=$ROUNDS" "SECS=$SECONDS_EACH"
guest_boot bench - "${NVME[@]}" <<'GUEST'
set -e
nsdev() { for d in /sys/block/nvme0n*; do [ "$(cat "$d/nsid")" = "$1" ] && echo "/dev/${d##*/}"; done; return 0; }
nvme create-ns /dev/nvme0 --nsze=524288 --ncap=524288 --flbas=0 >/dev/null
nvme attach-ns /dev/nvme0 -n 1 -c 0 >/dev/null
guest_nvme_settle
RT=$(nsdev 1)
STA=$(nsdev 2)
STB=$(nsdev 3)
FIO="fio --bs=4k --iodepth=16 --ioengine=libaio --direct=1 --time_based
	--runtime=$SECS --ramp_time=1 --output-format=terse --terse-version=3"
# terse v3: field 3 job name, 8 read IOPS, 49 write IOPS
iops() { awk -F';' -v rw=$1 '{ print $3, (rw == "randread") ? $8 : $49 }'; }
for rw in randread randwrite; do
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		order="runtime static control"
		[ $((r % 2)) = 1 ] && order="control static runtime"
		for which in $order; do
			case $which in
			runtime) dev=$RT ;;
			static) dev=$STA ;;
			control) dev=$STB ;;
			esac
			echo "ONE $rw $r $($FIO --rw=$rw --name=$which --filename=$dev | iops $rw)"
		done
		r=$((r + 1))
	done
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		$FIO --rw=$rw --name=runtime --filename=$RT --name=static \
			--filename=$STA --name=control --filename=$STB |
			iops $rw | sed "s/^/ALL $rw $r /"
		r=$((r + 1))
	done
done
GUEST
rc=$(guest_exit_code "$GUEST_LOG")
[[ $rc == 0 ]] || scenario_fail "guest exited $rc ($GUEST_LOG)"

# MODE RW JOB: the IOPS of JOB in each round, one per line, in round order
rounds() { awk -v m="$1" -v rw="$2" -v j="$3" '$1 == m && $2 == rw && $4 == j { print $3, $5 }' "$GUEST_LOG" | sort -n | awk '{ print $2 }'; }
# per-round ratio of two columns of IOPS
ratios() { paste <(rounds "$1" "$2" "$3") <(rounds "$1" "$2" "$4") | awk '{ print $1 / $2 }'; }

echo
echo "Guest fio, 4 KiB, queue depth 16, libaio, direct, TCG; $ROUNDS rounds of ${SECONDS_EACH}s;"
echo "ratio = median of the rounds' run-time/static ratios; control = static B / static A"
printf '  %-10s %-12s %12s %12s %8s %8s\n' workload mode run-time static ratio control
for rw in randread randwrite; do
	rt=$(rounds ONE $rw runtime | median)
	st=$(rounds ONE $rw static | median)
	printf '  %-10s %-12s %12.0f %12.0f %8.3f %8.3f\n' $rw "one at a time" "$rt" "$st" \
		"$(ratios ONE $rw runtime static | median)" \
		"$(ratios ONE $rw control static | median)"
	rt=$(rounds ALL $rw runtime | median)
	st=$(rounds ALL $rw static | median)
	printf '  %-10s %-12s %12.0f %12.0f %8.3f %8.3f\n' $rw "all at once" "$rt" "$st" \
		"$(ratios ALL $rw runtime static | median)" \
		"$(ratios ALL $rw control static | median)"
done
echo "  (goal: ratio >= 0.97)"
_SCENARIO_DONE=1
