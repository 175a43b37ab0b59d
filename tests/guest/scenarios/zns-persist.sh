#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# A zoned namespace keeps its zones in zoned.zone_file across QEMU restarts.
#
# Boot 1 puts the zones of a static zoned namespace (16 zones of 4 MiB,
# 512 B blocks, 64-byte descriptor extensions) in many states with nvme-cli
# and writes random data: explicitly open with data, implicitly open by a
# write, closed, finished, full by writes, a descriptor extension on its own
# and on an explicitly open zone, explicitly open with nothing written,
# implicitly open by Zone Append.  It powers off (controller shutdown).
# Boot 2, a new QEMU process on the same image and zone file, must find
# every open zone with data Closed at the same write pointer, the open zones
# without data nor extension Empty, every other zone as it was, the
# extensions and the data intact; the limits count the loaded active zones
# (one more open than max_active allows is refused).  It then appends to
# closed zones, opens empty ones and QEMU is killed (SIGKILL, no shutdown).
# Boot 3 must find the appended data and write pointers, and the opened
# empty zones Empty again, and the active zones counted again.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin zns-persist

IMG=$WORK/zns.img
ZFILE=$WORK/zns.zones
ZS=$((0x2000)) # zone size in 512 B blocks (4 MiB)
NZONES=16
truncate -s 64M "$IMG"
NVME=(-drive "file=$IMG,if=none,id=z0,format=raw"
	-device nvme,serial=zns0,id=nvme0
	-device "nvme-ns,drive=z0,nsid=1,zoned=on,zoned.zone_size=4M,zoned.descr_ext_size=64,zoned.max_open=6,zoned.max_active=8,zoned.zone_file=$ZFILE")

# 64 printable bytes each: the extension is shown whole in report-zones -e
EXT4=$(printf '%-64.64s' "zns-persist:zone-4:extension-set-in-boot-1:0123456789abcdefghijk" | tr ' ' '_')
EXT7=$(printf '%-64.64s' "zns-persist:zone-7:explicitly-open-no-data:ZYXWVUTSRQPONMLKJIHGF" | tr ' ' '_')
expect_eq "extension length" "${#EXT4}" 64

guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS" "EXT4=$EXT4" "EXT7=$EXT7" "ZS=$ZS"

# zone_is LOG TAG ZONE STATE BLOCKS EXT [WHAT]: the guest listed zone
# number ZONE under TAG in STATE, its write pointer BLOCKS into it ("-": any)
zone_is() {
	local wp=$5
	[[ $wp == - ]] || wp=$(($3 * ZS + wp))
	expect_zone "$1" "$2" $(($3 * ZS)) "$4" "$wp" "$6" "zone $3${7:+ ($7)}"
}

# img_md5 BLOCK COUNT: md5 of COUNT 512 B blocks of the image at BLOCK
img_md5() {
	dd if="$IMG" bs=512 skip="$1" count="$2" 2>/dev/null | md5sum | cut -d' ' -f1
}

guest_boot boot1 - "${NVME[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
D=$(nsdev 1)
echo "ZONED=$(cat /sys/block/${D#/dev/}/queue/zoned)"
echo "NR_ZONES=$(cat /sys/block/${D#/dev/}/queue/nr_zones)"
zslba() { echo $(($1 * ZS)); }
# wr FILE ZONE OFFSET_KIB: write FILE at OFFSET_KIB into ZONE with O_DIRECT
wr() { dd if="$1" of="$D" bs=4k seek=$(( ($(zslba $2) * 512 + $3 * 1024) / 4096 )) oflag=direct 2>/dev/null; }
mk() { dd if=/dev/urandom of="/tmp/d$1" bs=1k count="$2" 2>/dev/null; echo "MD5-D$1=$(md5sum </tmp/d$1 | cut -d' ' -f1)"; }
mk 0 64; mk 1 192; mk 2 32; mk 3 16; mk 6 4096; mk 8 8
# zone 0: explicitly open, then 64 KiB written
nvme zns open-zone "$D" -s $(zslba 0)
wr /tmp/d0 0 0
# zone 1: implicitly open by a 192 KiB write
wr /tmp/d1 1 0
# zone 2: 32 KiB written, then closed
wr /tmp/d2 2 0
nvme zns close-zone "$D" -s $(zslba 2)
# zone 3: 16 KiB written, then finished
wr /tmp/d3 3 0
nvme zns finish-zone "$D" -s $(zslba 3)
# zone 4: a descriptor extension only
printf '%s' "$EXT4" >/tmp/ext4
nvme zns set-zone-desc "$D" -s $(zslba 4) -d /tmp/ext4
# zone 5: explicitly open, nothing written
nvme zns open-zone "$D" -s $(zslba 5)
# zone 6: full by writes
wr /tmp/d6 6 0
# zone 7: a descriptor extension, then explicitly open, nothing written
printf '%s' "$EXT7" >/tmp/ext7
nvme zns set-zone-desc "$D" -s $(zslba 7) -d /tmp/ext7
nvme zns open-zone "$D" -s $(zslba 7)
# zone 8: two 4 KiB Zone Appends
head -c 4096 /tmp/d8 >/tmp/d8a
tail -c 4096 /tmp/d8 >/tmp/d8b
nvme zns zone-append "$D" -s $(zslba 8) -z 4096 -d /tmp/d8a
nvme zns zone-append "$D" -s $(zslba 8) -z 4096 -d /tmp/d8b
zones B1 "$D"
echo "EXT4=$(zone_ext "$D" $(zslba 4))"
echo "EXT7=$(zone_ext "$D" $(zslba 7))"
echo "READ-D0=$(blk_md5 "$D" 0 65536)"
echo "READ-D8=$(blk_md5 "$D" $(($(zslba 8) * 512)) 8192)"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
guest_value zoned "$log" ZONED
expect_eq "queue/zoned" "$zoned" host-managed
guest_value nr "$log" NR_ZONES
expect_eq "queue/nr_zones" "$nr" "$NZONES"
expect_line "$log" "Success appended data to LBA $(printf '%x' $((8 * ZS)))\$" "first append lands at the start of zone 8"
expect_line "$log" "Success appended data to LBA $(printf '%x' $((8 * ZS + 8)))\$" "second append lands after the first"
# the zones as boot 1 left them
zone_is "$log" B1 0 EXP_OPENED 128 0
zone_is "$log" B1 1 IMP_OPENED 384 0
zone_is "$log" B1 2 CLOSED 64 0
zone_is "$log" B1 3 FULL - 0
zone_is "$log" B1 4 CLOSED 0 1
zone_is "$log" B1 5 EXP_OPENED 0 0
zone_is "$log" B1 6 FULL - 0
zone_is "$log" B1 7 EXP_OPENED 0 1
zone_is "$log" B1 8 IMP_OPENED 16 0
for z in $(seq 9 $((NZONES - 1))); do
	zone_is "$log" B1 "$z" EMPTY 0 0
done
guest_value ext "$log" EXT4
expect_eq "boot 1: zone 4 extension" "$ext" "$EXT4"
guest_value ext "$log" EXT7
expect_eq "boot 1: zone 7 extension" "$ext" "$EXT7"
# data: what the guest wrote, read back in the guest and in the image
declare -A blocks=([0]=128 [1]=384 [2]=64 [3]=32 [6]=8192 [8]=16)
declare -A md5
for z in "${!blocks[@]}"; do
	guest_value "md5[$z]" "$log" "MD5-D$z"
	expect_eq "boot 1: zone $z data in the image" "$(img_md5 $((z * ZS)) "${blocks[$z]}")" "${md5[$z]}"
done
guest_value r "$log" READ-D0
expect_eq "boot 1: zone 0 data read back" "$r" "${md5[0]}"
guest_value r "$log" READ-D8
expect_eq "boot 1: zone 8 appended data read back" "$r" "${md5[8]}"
[[ -s $ZFILE ]] || scenario_fail "no zone file $ZFILE after boot 1"
note "zone file: $(stat -c %s "$ZFILE") bytes"

guest_boot_kill boot2 '^READY-FOR-KILL$' - "${NVME[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
D=$(nsdev 1)
zslba() { echo $(($1 * ZS)); }
zones B2 "$D"
echo "EXT4=$(zone_ext "$D" $(zslba 4))"
echo "EXT7=$(zone_ext "$D" $(zslba 7))"
for z in 0:64 1:192 2:32 3:16 6:4096 8:8; do
	echo "READ-D${z%:*}=$(blk_md5 "$D" $(($(zslba ${z%:*}) * 512)) $((${z#*:} * 1024)))"
done
# active after the load: zones 0 1 2 4 7 8; max_active=8 leaves two
nvme zns open-zone "$D" -s $(zslba 9)
nvme zns open-zone "$D" -s $(zslba 10)
if nvme zns open-zone "$D" -s $(zslba 11) 2>/tmp/err; then
	echo "OPEN-11=accepted"
else
	echo "OPEN-11=refused: $(cat /tmp/err)"
fi
# append 4 KiB to closed zone 0, write 8 KiB at the write pointer of zone 1
dd if=/dev/urandom of=/tmp/a0 bs=4k count=1 2>/dev/null
nvme zns zone-append "$D" -s $(zslba 0) -z 4096 -d /tmp/a0
dd if=/dev/urandom of=/tmp/a1 bs=8k count=1 2>/dev/null
dd if=/tmp/a1 of="$D" bs=4k seek=$(( ($(zslba 1) + 384) / 8 )) oflag=direct 2>/dev/null
echo "READ-Z0=$(blk_md5 "$D" 0 $((64 * 1024 + 4096)))"
echo "READ-Z1=$(blk_md5 "$D" $(($(zslba 1) * 512)) $((200 * 1024)))"
zones B2K "$D"
echo READY-FOR-KILL
sleep 60
GUEST
log=$GUEST_LOG
zone_is "$log" B2 0 CLOSED 128 0 "was explicitly open with data"
zone_is "$log" B2 1 CLOSED 384 0 "was implicitly open"
zone_is "$log" B2 2 CLOSED 64 0 "was closed"
zone_is "$log" B2 3 FULL - 0 "was finished"
zone_is "$log" B2 4 CLOSED 0 1 "had an extension"
zone_is "$log" B2 5 EMPTY 0 0 "was explicitly open without data"
zone_is "$log" B2 6 FULL - 0 "was full by writes"
zone_is "$log" B2 7 CLOSED 0 1 "was explicitly open with an extension, no data"
zone_is "$log" B2 8 CLOSED 16 0 "was implicitly open by Zone Append"
for z in $(seq 9 $((NZONES - 1))); do
	zone_is "$log" B2 "$z" EMPTY 0 0
done
guest_value ext "$log" EXT4
expect_eq "boot 2: zone 4 extension" "$ext" "$EXT4"
guest_value ext "$log" EXT7
expect_eq "boot 2: zone 7 extension" "$ext" "$EXT7"
for z in "${!blocks[@]}"; do
	guest_value r "$log" "READ-D$z"
	expect_eq "boot 2: zone $z data" "$r" "${md5[$z]}"
done
guest_value open11 "$log" OPEN-11
[[ $open11 == "refused: "*"Too Many Active Zones"* ]] ||
	scenario_fail "boot 2: a 9th active zone (max_active=8, 6 active after the load): $open11"
expect_line "$log" "Success appended data to LBA $(printf '%x' 128)\$" "boot 2: append to closed zone 0 lands at its write pointer"
guest_value z0 "$log" READ-Z0
guest_value z1 "$log" READ-Z1
zone_is "$log" B2K 0 IMP_OPENED 136 0
zone_is "$log" B2K 1 IMP_OPENED 400 0
zone_is "$log" B2K 9 EXP_OPENED 0 0
zone_is "$log" B2K 10 EXP_OPENED 0 0
zone_is "$log" B2K 11 EMPTY 0 0

guest_boot boot3 - "${NVME[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
D=$(nsdev 1)
zones B3 "$D"
echo "EXT4=$(zone_ext "$D" $((4 * ZS)))"
echo "EXT7=$(zone_ext "$D" $((7 * ZS)))"
echo "READ-Z0=$(blk_md5 "$D" 0 $((64 * 1024 + 4096)))"
echo "READ-Z1=$(blk_md5 "$D" $((ZS * 512)) $((200 * 1024)))"
echo "READ-D6=$(blk_md5 "$D" $((6 * ZS * 512)) $((4096 * 1024)))"
# active after this load too: zones 0 1 2 4 7 8
nvme zns open-zone "$D" -s $((11 * ZS))
nvme zns open-zone "$D" -s $((12 * ZS))
if nvme zns open-zone "$D" -s $((13 * ZS)) 2>/tmp/err; then
	echo "OPEN-13=accepted"
else
	echo "OPEN-13=refused: $(cat /tmp/err)"
fi
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
zone_is "$log" B3 0 CLOSED 136 0 "was implicitly open at the kill"
zone_is "$log" B3 1 CLOSED 400 0 "was implicitly open at the kill"
zone_is "$log" B3 2 CLOSED 64 0
zone_is "$log" B3 3 FULL - 0
zone_is "$log" B3 4 CLOSED 0 1
zone_is "$log" B3 5 EMPTY 0 0
zone_is "$log" B3 6 FULL - 0
zone_is "$log" B3 7 CLOSED 0 1
zone_is "$log" B3 8 CLOSED 16 0
zone_is "$log" B3 9 EMPTY 0 0 "was explicitly open without data at the kill"
zone_is "$log" B3 10 EMPTY 0 0 "was explicitly open without data at the kill"
for z in $(seq 11 $((NZONES - 1))); do
	zone_is "$log" B3 "$z" EMPTY 0 0
done
guest_value ext "$log" EXT4
expect_eq "boot 3: zone 4 extension" "$ext" "$EXT4"
guest_value ext "$log" EXT7
expect_eq "boot 3: zone 7 extension" "$ext" "$EXT7"
guest_value r "$log" READ-Z0
expect_eq "boot 3: zone 0 data with the append of boot 2" "$r" "$z0"
expect_eq "boot 3: zone 0 data in the image" "$(img_md5 0 136)" "$z0"
guest_value r "$log" READ-Z1
expect_eq "boot 3: zone 1 data with the write of boot 2" "$r" "$z1"
expect_eq "boot 3: zone 1 data in the image" "$(img_md5 "$ZS" 400)" "$z1"
guest_value r "$log" READ-D6
expect_eq "boot 3: zone 6 data" "$r" "${md5[6]}"
guest_value open13 "$log" OPEN-13
[[ $open13 == "refused: "*"Too Many Active Zones"* ]] ||
	scenario_fail "boot 3: a 9th active zone (max_active=8, 6 active after the load): $open13"
note "16 zones in 9 states kept over a shutdown and a SIGKILL restart"

scenario_pass
