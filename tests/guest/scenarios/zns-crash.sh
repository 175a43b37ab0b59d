#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# Zone state survives QEMU being killed (SIGKILL) in the middle of writes.
#
# A static zoned namespace (zoned.zone_file, 16 zones of 4 MiB) takes
# sequential O_DIRECT writes into zones 0 to 3, at different rates (256,
# 128, 64 and 32 KiB a step), of a pattern where each 4 KiB block holds the
# LBA of its first 512 B block, 256 times.  After each write the guest
# prints "W STEP ZONE WP END", every 4 steps it sends an NVMe Flush and
# prints "FLUSHED N WP0 WP1 WP2 WP3 END" (write pointers in blocks from the
# zone start).  The host kills QEMU when a given line appears, three times
# at different points (just after a flush, between two flushes, after more
# flushes), each boot going on from the write pointers the previous kill
# left; a last boot only checks.
#
# After each kill the next boot, before writing, must find: no zone open
# (Closed, Empty or Full only, as the write pointer says), each write
# pointer at least the one of the last flush and of the last completed
# write (the mapping of the zone file loses nothing on SIGKILL), at most one
# write beyond it, and the pattern below every write pointer, read by the
# guest and in the image file; zones 4 to 15 Empty.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin zns-crash

IMG=$WORK/zns.img
ZFILE=$WORK/zns.zones
ZS=$((0x2000)) # zone size in 512 B blocks (4 MiB)
NZONES=16
NW=4 # zones written
CHUNK=(512 256 128 64) # blocks a step, per zone
truncate -s 64M "$IMG"
NVME=(-drive "file=$IMG,if=none,id=z0,format=raw"
	-device nvme,serial=zcrash0,id=nvme0
	-device "nvme-ns,drive=z0,nsid=1,zoned=on,zoned.zone_size=4M,zoned.max_open=$NW,zoned.max_active=$NW,zoned.zone_file=$ZFILE")

# every 4 KiB block of zones 0-3: its LBA, 256 times "%015d\n"
PATTERN_AWK='BEGIN { for (l = 0; l < n; l += 8) { s = sprintf("%015d\n", l); s = s s; s = s s; s = s s; s = s s; s = s s; s = s s; s = s s; s = s s; printf "%s", s } }'
awk -v n=$((NW * ZS)) "$PATTERN_AWK" >"$WORK/pattern"

guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS" "PATTERN_AWK=$PATTERN_AWK" "ZS=$ZS" "NW=$NW" \
	"CHUNK=${CHUNK[*]}"

GUEST_SCRIPT=$WORK/guest-script.sh
cat >"$GUEST_SCRIPT" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
D=$(nsdev 1)
awk -v n=$((NW * ZS)) "$PATTERN_AWK" >/tmp/pat
# the zones as this boot found them, and the pattern below each write pointer
zones R "$D" >/tmp/zones
cat /tmp/zones
z=0
while read -r _ slba wp state _; do
	slba=$((slba))
	case $state in
	FULL) n=$ZS ;;
	*) n=$((wp - slba)) ;;
	esac
	[ $z -lt $NW ] || break
	eval "c$z=$n"
	echo "V $z $n $(blk_md5 "$D" $((slba * 512)) $((n * 512))) $(dd if=/tmp/pat bs=4096 skip=$((slba / 8)) 2>/dev/null | head -c $((n * 512)) | md5sum | cut -d' ' -f1)"
	z=$((z + 1))
done </tmp/zones
echo "CHECKED"
[ "$WRITE" = 1 ] || exit 0
step=0 flushes=0
while :; do
	step=$((step + 1))
	left=0
	z=0
	for chunk in $CHUNK; do
		eval "c=\$c$z"
		if [ "$c" -lt "$ZS" ]; then
			n=$chunk
			[ $((c + n)) -le "$ZS" ] || n=$((ZS - c))
			b=$((z * ZS + c))
			dd if=/tmp/pat of="$D" bs=$((n * 512)) count=1 skip=$((b * 512)) seek=$((b * 512)) \
				iflag=skip_bytes oflag=seek_bytes,direct 2>/dev/null
			c=$((c + n))
			eval "c$z=$c"
			echo "W $step $z $c END"
			[ "$c" -ge "$ZS" ] || left=1
		fi
		z=$((z + 1))
	done
	if [ $((step % 4)) = 0 ] || [ $left = 0 ]; then
		nvme flush "$D" >/dev/null
		flushes=$((flushes + 1))
		echo "FLUSHED $flushes $c0 $c1 $c2 $c3 END"
	fi
	[ $left = 1 ] || break
done
echo "ALL-WRITTEN"
GUEST

# check_recovery KILLED_LOG LOG WHAT: the boot of LOG found what the boot of
# KILLED_LOG (killed, or empty for a fresh start) left
check_recovery() {
	local klog=$1 log=$2 what=$3
	local -a flushed=(0 0 0 0) written=(0 0 0 0)
	local line z rec slba wp state
	if [[ -n $klog ]]; then
		# where the killed boot started, then its last flush and writes
		for z in $(seq 0 $((NW - 1))); do
			line=$(guest_lines "$klog" V | awk -v z="$z" '$1 == z { print $2 }')
			[[ -n $line ]] || scenario_fail "$what: no start of zone $z in $klog"
			flushed[z]=$line written[z]=$line
		done
		line=$(guest_lines "$klog" FLUSHED | grep -E '^[0-9]+( [0-9]+){4} END$' | tail -n 1 || :)
		[[ -z $line ]] || read -r _ "flushed[0]" "flushed[1]" "flushed[2]" "flushed[3]" _ <<<"$line"
		for z in $(seq 0 $((NW - 1))); do
			line=$(guest_lines "$klog" W | grep -E "^[0-9]+ $z [0-9]+ END\$" | tail -n 1 || :)
			[[ -z $line ]] || written[z]=$(awk '{ print $3 }' <<<"$line")
		done
		note "$what: last flush at ${flushed[*]}, last writes at ${written[*]} (blocks into zones 0-3)"
	fi
	local -a got=()
	z=0
	while read -r slba wp state _; do
		case $state in
		EMPTY | CLOSED | FULL) ;;
		*) scenario_fail "$what: zone $z is $state after the restart (slba $slba, wp $wp)" ;;
		esac
		if ((z >= NW)); then
			expect_eq "$what: zone $z state" "$state" EMPTY
			z=$((z + 1))
			continue
		fi
		if [[ $state == FULL ]]; then
			rec=$ZS
		else
			rec=$((wp - slba))
		fi
		got+=("$rec")
		((rec >= flushed[z])) ||
			scenario_fail "$what: zone $z write pointer $rec below the last flush's ${flushed[z]}"
		((rec >= written[z])) ||
			scenario_fail "$what: zone $z write pointer $rec below the last completed write's ${written[z]}"
		((rec <= written[z] + CHUNK[z])) ||
			scenario_fail "$what: zone $z write pointer $rec beyond what was written (${written[z]} + one write of ${CHUNK[z]})"
		if ((rec == 0)); then
			expect_eq "$what: zone $z state (write pointer 0)" "$state" EMPTY
		elif ((rec < ZS)); then
			expect_eq "$what: zone $z state (write pointer $rec)" "$state" CLOSED
		else
			expect_eq "$what: zone $z state (written to capacity)" "$state" FULL
		fi
		line=$(guest_lines "$log" V | awk -v z="$z" '$1 == z')
		read -r _ n dev pat <<<"$line"
		expect_eq "$what: zone $z blocks checked" "$n" "$rec"
		expect_eq "$what: zone $z data below the write pointer" "$dev" "$pat"
		expect_eq "$what: zone $z data in the image" \
			"$(dd if="$IMG" bs=512 skip=$((z * ZS)) count="$rec" 2>/dev/null | md5sum | cut -d' ' -f1)" \
			"$(dd if="$WORK/pattern" bs=512 skip=$((z * ZS)) count="$rec" 2>/dev/null | md5sum | cut -d' ' -f1)"
		z=$((z + 1))
	done < <(guest_lines "$log" R)
	expect_eq "$what: zones listed" "$z" "$NZONES"
	expect_line "$log" '^CHECKED$' "$what: the guest checked every zone"
	note "$what: write pointers ${got[*]}"
}

# three boots killed at different points, each checking what the last left
prev=
kills=('^FLUSHED 2( [0-9]+){4} END$' '^W 6 3 [0-9]+ END$' '^FLUSHED 3( [0-9]+){4} END$')
for i in 0 1 2; do
	guest_set WRITE=1
	guest_boot_kill "boot$((i + 1))" "${kills[i]}" "$GUEST_SCRIPT" "${NVME[@]}"
	check_recovery "$prev" "$GUEST_LOG" "boot $((i + 1))"
	expect_no_line "$GUEST_LOG" '^ALL-WRITTEN$' "boot $((i + 1)): the kill came before the end"
	prev=$GUEST_LOG
done
guest_set WRITE=0
guest_boot boot4 "$GUEST_SCRIPT" "${NVME[@]}"
expect_exit "$GUEST_LOG" 0
check_recovery "$prev" "$GUEST_LOG" "boot 4"
note "3 kills, zones recovered each time"

scenario_pass
