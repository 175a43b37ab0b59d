#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# Zoned file systems keep their files across restarts, as users run them.
#
# One controller holds four file systems, each on zoned namespaces:
#   btrfs1  btrfs (mkfs.btrfs -O zoned) on static namespace 1
#           (zoned.zone_file);
#   f2fs2   f2fs on static namespaces 2 (regular, metadata) and 3 (zoned,
#           zoned.zone_file);
#   btrfs4  btrfs on namespace 4, made with nvme create-ns --csi=2 in the
#           controller's namespace store;
#   f2fs5   f2fs on namespaces 5 (create-ns) and 6 (create-ns --csi=2).
# Four boots: the first makes the file systems and namespaces, writes
# files, runs sync and QEMU is killed (SIGKILL) right after; the second
# writes more and powers off without unmounting; the third writes more and
# unmounts; the fourth only checks.  Every boot after the first checks each
# file system (btrfs check, fsck.f2fs) before mounting it, finds every file
# written before with its checksum, and finds every zone (blkzone report,
# before anything mounts) as the boot before it left it: same write
# pointer, same condition, but that an open zone may come back Closed.
#
# A control run does the first two boots with btrfs on a static zoned
# namespace without zoned.zone_file: the files must be gone, or the file
# system unusable, which shows the scenario can fail.
set -euo pipefail
GUEST_FLAVOR=fs
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin zoned-fs

ZSIZE=8M                  # zone size: 16384 blocks of 512 B
ZBLK=$((512 * 2048))      # zoned namespaces: 512 MiB, 64 zones
CBLK=$((256 * 2048))      # regular (f2fs metadata): 256 MiB
STORE=$WORK/store
mkdir -p "$STORE"
for i in 1 3; do truncate -s 512M "$WORK/z$i.img"; done
truncate -s 256M "$WORK/c2.img"
export GUEST_MEM=${GUEST_MEM:-768}

# qemu_args ZONE_FILES(0/1) STORE(0/1)
qemu_args() {
	local zf1= zf3=
	if [[ $1 == 1 ]]; then
		zf1=",zoned.zone_file=$WORK/z1.zones"
		zf3=",zoned.zone_file=$WORK/z3.zones"
	fi
	local store=
	[[ $2 == 1 ]] && store=",auto-ns-path=$STORE,auto-ns-tnvmcap=2G,auto-ns-zone-size=$ZSIZE"
	ARGS=(-drive "file=$WORK/z1.img,if=none,id=z1,format=raw"
		-drive "file=$WORK/c2.img,if=none,id=c2,format=raw"
		-drive "file=$WORK/z3.img,if=none,id=z3,format=raw"
		-device "nvme,serial=zfs0,id=nvme0$store"
		-device "nvme-ns,drive=z1,nsid=1,zoned=on,zoned.zone_size=$ZSIZE$zf1"
		-device "nvme-ns,drive=c2,nsid=2"
		-device "nvme-ns,drive=z3,nsid=3,zoned=on,zoned.zone_size=$ZSIZE$zf3")
}

guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS" "ZBLK=$ZBLK" "CBLK=$CBLK"

GUEST_SCRIPT=$WORK/guest-script.sh
cat >"$GUEST_SCRIPT" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
DEV=/dev/nvme0
if [ "$CREATE" = 1 ]; then
	nvme create-ns $DEV --nsze=$ZBLK --ncap=$ZBLK --flbas=0 --csi=2
	nvme create-ns $DEV --nsze=$CBLK --ncap=$CBLK --flbas=0
	nvme create-ns $DEV --nsze=$ZBLK --ncap=$ZBLK --flbas=0 --csi=2
	for n in 4 5 6; do nvme attach-ns $DEV -n $n -c 0; done
	guest_nvme_settle 30
fi
# report ZTAG: "ZTAG NSID START WPTR COND" for each zone of each zoned namespace
report() {
	for n in $ZONED; do
		blkzone report "$(nsdev $n)" |
			sed -n "s/.*start: \(0x[0-9a-f]*\),.*wptr \(0x[0-9a-f]*\).*zcond: *[0-9]*(\([a-z]*\)).*/$1 $n \1 \2 \3/p"
	done
}
report ZB
for spec in $FSLIST; do
	fs=${spec%%:*} a=${spec#*:} b=
	case $a in *:*) b=${a#*:} a=${a%%:*} ;; esac
	name=$fs$a da=$(nsdev $a) db=
	[ -z "$b" ] || db=$(nsdev $b)
	m=/mnt/$name
	mkdir -p $m
	if [ "$BOOT" = 1 ]; then
		case $fs in
		btrfs) mkfs.btrfs -q -f -O zoned "$da" ;;
		f2fs) mkfs.f2fs -q -f -m -c "$db" "$da" >/dev/null ;;
		esac
	else
		rc=0
		case $fs in
		btrfs) btrfs check --readonly "$da" >/tmp/ck.$name 2>&1 || rc=$? ;;
		f2fs) fsck.f2fs "$da" >/tmp/ck.$name 2>&1 || rc=$? ;;
		esac
		echo "CK $name $rc"
		[ $rc = 0 ] || tail -n 5 /tmp/ck.$name
	fi
	# no background commits or garbage collection between sync and the end
	case $fs in
	btrfs) opts=commit=3600 ;;
	f2fs) opts=background_gc=off ;;
	esac
	if ! mount -t $fs -o $opts "$da" $m; then
		echo "MOUNTFAIL $name"
		continue
	fi
	echo "$m" >>/tmp/mounted
	mkdir -p $m/data
	find $m/data -type f | sort | while read -r f; do
		echo "V $name ${f#$m/} $(sha256sum <"$f" | cut -d' ' -f1)"
	done
	[ "$WRITE" = 1 ] || continue
	for i in 1 2 3; do
		f=data/b$BOOT-$i
		dd if=/dev/urandom of=$m/$f bs=64k count=$((8 * i)) 2>/dev/null
		echo "W $name $f $(sha256sum <$m/$f | cut -d' ' -f1)"
	done
done
sync
case $END in
kill)
	report ZE
	echo "SYNCED"
	sleep 60
	;;
poweroff)
	report ZE
	echo "POWEROFF-MOUNTED"
	;;
umount)
	while read -r m; do umount "$m"; done </tmp/mounted
	report ZE
	echo "UNMOUNTED"
	;;
esac
GUEST

# files LOG KEY: "NAME PATH SHA" lines of KEY (V: found, W: written), sorted
files() {
	guest_lines "$1" "$2" | sort
}

# check_zones BEFORE_LOG AFTER_LOG WHAT: every zone at the start of the
# boot of AFTER_LOG is as the boot of BEFORE_LOG left it
check_zones() {
	local before after n=0 diff
	before=$(guest_lines "$1" ZE | sort)
	after=$(guest_lines "$2" ZB | sort)
	[[ -n $before ]] || scenario_fail "$3: no zone report at the end of $1"
	diff=$(join -j1 <(awk '{ print $1 "/" $2, $3, $4 }' <<<"$before") \
		<(awk '{ print $1 "/" $2, $3, $4 }' <<<"$after") |
		awk '$2 != $4 || ($3 != $5 && !(($3 == "oi" || $3 == "oe") && $5 == "cl")) { print }')
	[[ -z $diff ]] || scenario_fail "$3: zones changed across the restart (zone: wptr cond before, after): $(head -n 3 <<<"$diff" | tr '\n' ';')"
	n=$(wc -l <<<"$before")
	[[ $(wc -l <<<"$after") == "$n" ]] || scenario_fail "$3: $n zones before the restart, $(wc -l <<<"$after") after"
	note "$3: $n zones as they were ($(grep -c ' o[ie]$' <<<"$before" || true) open before the restart)"
}

FSLIST="btrfs:1 f2fs:2:3 btrfs:4 f2fs:5:6"
ZONED="1 3 4 6"
guest_set "FSLIST=$FSLIST" "ZONED=$ZONED"
qemu_args 1 1
written=
prev=
for boot in 1 2 3 4; do
	case $boot in
	1) guest_set BOOT=1 CREATE=1 WRITE=1 END=kill ;;
	2) guest_set BOOT=2 CREATE=0 WRITE=1 END=poweroff ;;
	3) guest_set BOOT=3 CREATE=0 WRITE=1 END=umount ;;
	4) guest_set BOOT=4 CREATE=0 WRITE=0 END=umount ;;
	esac
	if [[ $boot == 1 ]]; then
		guest_boot_kill boot1 '^SYNCED$' "$GUEST_SCRIPT" "${ARGS[@]}"
	else
		guest_boot "boot$boot" "$GUEST_SCRIPT" "${ARGS[@]}"
		expect_exit "$GUEST_LOG" 0
	fi
	log=$GUEST_LOG
	expect_no_line "$log" '^MOUNTFAIL' "boot $boot"
	if [[ $boot -gt 1 ]]; then
		expect_no_line "$log" '^CK [a-z0-9]+ [1-9]' "boot $boot: file system check"
		[[ $(guest_lines "$log" CK | wc -l) == 4 ]] || scenario_fail "boot $boot: not every file system was checked"
		found=$(files "$log" V)
		[[ $found == "$written" ]] ||
			scenario_fail "boot $boot: the files found differ from those written before: $(diff <(echo "$written") <(echo "$found") | head -n 4 | tr '\n' ';')"
		note "boot $boot: 4 file systems clean, $(wc -l <<<"$found") files with their checksums"
		check_zones "$prev" "$log" "boot $boot"
	fi
	written=$( (echo "$written"; files "$log" W) | sed '/^$/d' | sort)
	prev=$log
done

# Control: the same first two boots, btrfs on a zoned namespace without a
# zone state file.
rm -f "$WORK/z1.img" "$WORK/z1.zones"
truncate -s 512M "$WORK/z1.img"
guest_set FSLIST=btrfs:1 ZONED=1
qemu_args 0 0
guest_set BOOT=1 CREATE=0 WRITE=1 END=kill
guest_boot_kill control1 '^SYNCED$' "$GUEST_SCRIPT" "${ARGS[@]}"
cwritten=$(files "$GUEST_LOG" W)
[[ -n $cwritten ]] || scenario_fail "control: no files written"
guest_set BOOT=2 CREATE=0 WRITE=0 END=umount
guest_boot control2 "$GUEST_SCRIPT" "${ARGS[@]}"
log=$GUEST_LOG
cfound=$(files "$log" V)
if [[ $cfound == "$cwritten" ]] && ! grep -qE '^(MOUNTFAIL|CK btrfs1 [1-9])' "$log"; then
	scenario_fail "control: without a zone state file the files came back too; the scenario cannot tell"
fi
note "control (no zone file): $(wc -l <<<"$cwritten") files written, $(sed '/^$/d' <<<"$cfound" | wc -l) found; $(guest_lines "$log" CK) $(grep -c '^MOUNTFAIL' "$log" || true) mount failures"

scenario_pass
