#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# Zoned namespaces created at run time (Namespace Management, CSI 02h) in
# the namespace store keep their zones across QEMU restarts.
#
# The controller's store has a zone format of 4 MiB zones with a capacity
# of 3 MiB, 64-byte descriptor extensions, at most 4 open and 6 active
# zones.  Boot 1 checks the zone sizes Identify reports before any zoned
# namespace exists, creates a zoned namespace of 512 B blocks (8 zones) and
# one of 4 KiB blocks (4 zones), sees a size that is no whole number of
# zones refused, attaches both and puts their zones in various states
# (open with and without data, closed, finished, full by writes, Zone
# Append, descriptor extensions).  Boot 2, a new QEMU process on the same
# store, finds every zone as a power cycle leaves it (open zones Closed, or
# Empty without data), the extensions, the data and the capacity; it
# appends to a zone, then detaches and deletes the first namespace: the
# capacity comes back and its three files leave the store.  Boot 3 finds
# the second namespace with its zones and data, and the first one gone; a
# new zoned namespace in its NSID has every zone Empty and no old data.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin zns-create

STORE=$WORK/store
mkdir -p "$STORE"
TNVMCAP=$((256 << 20))
NVME=(-device "nvme,serial=zcreate0,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=256M,auto-ns-zone-size=4M,auto-ns-zone-capacity=3M,auto-ns-zone-descr-ext-size=64,auto-ns-zone-max-open=4,auto-ns-zone-max-active=6")
ZS1=$((0x2000)) ZC1=$((0x1800)) # namespace 1: zone size and capacity in 512 B blocks
ZS2=$((0x400)) ZC2=$((0x300))   # namespace 2: in 4 KiB blocks
SIZE1=$((32 << 20)) SIZE2=$((16 << 20))

EXT1=$(printf '%-64.64s' "zns-create:ns1:zone-3:descriptor-extension:0123456789abcdefghijklmn" | tr ' ' '_')
EXT2=$(printf '%-64.64s' "zns-create:ns2:zone-2:with-data:ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210" | tr ' ' '_')
guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS" "EXT1=$EXT1" "EXT2=$EXT2" \
	"ZS1=$ZS1" "ZS2=$ZS2" DEV=/dev/nvme0

guest_boot boot1 - "${NVME[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
cap() { nvme id-ctrl "$DEV" | sed -n "s/^$1 *: //p"; }
echo "UNVMCAP0=$(cap unvmcap)"
# the zone format of each LBA format, before any zoned namespace exists:
# Identify Namespace (CNS 00h, then CNS 05h for CSI 02h) for NSID FFFFFFFFh
nvme zns id-ns "$DEV" -n 0xffffffff >/tmp/idns || echo "ID-NS-ALL=failed"
for f in 0 4; do
	l=$(sed -n "s/^lbafe *$f: zsze:\(0x[0-9a-f]*\) zdes:\([0-9]*\).*/\1 \2/p" /tmp/idns)
	echo "LBAFE$f=$(printf '%d' "${l% *}") ${l#* }"
done
# 32 MiB of 512 B blocks, 16 MiB of 4 KiB blocks; 9 MiB: no whole zone
nvme create-ns "$DEV" --nsze=65536 --ncap=65536 --flbas=0 --csi=2
nvme create-ns "$DEV" --nsze=4096 --ncap=4096 --flbas=4 --csi=2
echo "UNVMCAP1=$(cap unvmcap)"
if nvme create-ns "$DEV" --nsze=18432 --ncap=18432 --flbas=0 --csi=2 >/tmp/out 2>&1; then
	echo "CREATE-PARTIAL=accepted: $(cat /tmp/out)"
else
	echo "CREATE-PARTIAL=refused: $(cat /tmp/out)"
fi
echo "UNVMCAP2=$(cap unvmcap)"
nvme attach-ns "$DEV" -n 1 -c 0
nvme attach-ns "$DEV" -n 2 -c 0
guest_nvme_settle
nvme list
N1=$(nsdev 1) N2=$(nsdev 2)
for n in 1 2; do
	eval "d=\$N$n"
	b=/sys/block/${d#/dev/}
	echo "ZONED$n=$(cat $b/queue/zoned) $(cat $b/queue/nr_zones) $(cat $b/queue/logical_block_size)"
	nvme zns id-ns "$d" | sed -n "s/^lbafe *\([0-9]\): zsze:\([0-9a-fx]*\) .*(in use)/INUSE$n=\1 \2/p; s/^mor *: /MOR$n=/p; s/^mar *: /MAR$n=/p"
done
mk() { dd if=/dev/urandom of="/tmp/$1" bs=1k count="$2" 2>/dev/null; echo "MD5-$1=$(md5sum <"/tmp/$1" | cut -d' ' -f1)"; }
# wr FILE DEV BLOCK BLOCKSIZE: write FILE at BLOCK with O_DIRECT
wr() { dd if="$1" of="$2" bs="$4" seek="$3" oflag=direct 2>/dev/null; }
# namespace 1 (512 B blocks, zones of 0x2000, capacity 0x1800)
mk a0 64; mk a1 128; mk a2 32; mk a4 3072
nvme zns open-zone "$N1" -s 0
wr /tmp/a0 "$N1" 0 512                     # zone 0: explicitly open, 64 KiB
wr /tmp/a1 "$N1" $ZS1 512                  # zone 1: implicitly open, 128 KiB
wr /tmp/a2 "$N1" $((2 * ZS1)) 512          # zone 2: 32 KiB, closed
nvme zns close-zone "$N1" -s $((2 * ZS1))
printf '%s' "$EXT1" >/tmp/ext1             # zone 3: an extension only
nvme zns set-zone-desc "$N1" -s $((3 * ZS1)) -d /tmp/ext1
wr /tmp/a4 "$N1" $((4 * ZS1)) 512          # zone 4: full by 3 MiB of writes
nvme zns open-zone "$N1" -s $((5 * ZS1))   # zone 5: explicitly open, no data
nvme zns finish-zone "$N1" -s $((6 * ZS1)) # zone 6: finished while empty
# namespace 2 (4 KiB blocks, zones of 0x400, capacity 0x300)
mk b0 256; mk b1 8; mk b2 16
wr /tmp/b0 "$N2" 0 4096                    # zone 0: 256 KiB, then finished
nvme zns finish-zone "$N2" -s 0
head -c 4096 /tmp/b1 >/tmp/b1a             # zone 1: two Zone Appends
tail -c 4096 /tmp/b1 >/tmp/b1b
nvme zns zone-append "$N2" -s $ZS2 -z 4096 -d /tmp/b1a
nvme zns zone-append "$N2" -s $ZS2 -z 4096 -d /tmp/b1b
printf '%s' "$EXT2" >/tmp/ext2             # zone 2: an extension and 16 KiB
nvme zns set-zone-desc "$N2" -s $((2 * ZS2)) -d /tmp/ext2
wr /tmp/b2 "$N2" $((2 * ZS2)) 4096
zones A1 "$N1"
zones B1 "$N2"
echo "EXT1=$(zone_ext "$N1" $((3 * ZS1)))"
echo "EXT2=$(zone_ext "$N2" $((2 * ZS2)))"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
expect_no_line "$log" '^ID-NS-ALL=failed' "Identify (CSI 02h) for NSID FFFFFFFFh"
guest_value z "$log" LBAFE0
expect_eq "zone size, extension size of LBA format 0 (512 B) before any zoned namespace" "$z" "$ZS1 1"
guest_value z "$log" LBAFE4
expect_eq "zone size, extension size of LBA format 4 (4 KiB) before any zoned namespace" "$z" "$ZS2 1"
expect_line "$log" 'create-ns: Success, created nsid:1' "zoned namespace 1 created"
expect_line "$log" 'create-ns: Success, created nsid:2' "zoned namespace 2 created"
guest_value u0 "$log" UNVMCAP0
guest_value u1 "$log" UNVMCAP1
guest_value u2 "$log" UNVMCAP2
expect_eq "UNVMCAP of an empty store" "$u0" "$TNVMCAP"
expect_eq "UNVMCAP after two creates" "$u1" $((TNVMCAP - SIZE1 - SIZE2))
guest_value partial "$log" CREATE-PARTIAL
[[ $partial == refused:* ]] || scenario_fail "a zoned namespace of 4.5 zones: $partial"
note "4.5 zones: $partial"
expect_eq "UNVMCAP after the refused create" "$u2" "$u1"
guest_value zoned1 "$log" ZONED1
guest_value zoned2 "$log" ZONED2
expect_eq "namespace 1: queue/zoned, nr_zones, block size" "$zoned1" "host-managed 8 512"
expect_eq "namespace 2: queue/zoned, nr_zones, block size" "$zoned2" "host-managed 4 4096"
guest_value inuse "$log" INUSE1
expect_eq "namespace 1: LBA format in use, zone size" "$inuse" "0 $(printf '0x%x' "$ZS1")"
guest_value inuse "$log" INUSE2
expect_eq "namespace 2: LBA format in use, zone size" "$inuse" "4 $(printf '0x%x' "$ZS2")"
for n in 1 2; do
	guest_value mor "$log" "MOR$n"
	guest_value mar "$log" "MAR$n"
	expect_eq "namespace $n: max open resources (0's based)" "$mor" 0x3
	expect_eq "namespace $n: max active resources (0's based)" "$mar" 0x5
done
expect_line "$log" "Success appended data to LBA $(printf '%x' "$ZS2")\$" "namespace 2: first append at the start of zone 1"
expect_line "$log" "Success appended data to LBA $(printf '%x' $((ZS2 + 1)))\$" "namespace 2: second append one 4 KiB block on"

# zones1 LOG TAG Z0STATE Z1STATE Z5STATE: the zones of namespace 1 as boot 1 left them (open
# zones as given: EXP_OPENED/IMP_OPENED in boot 1, CLOSED/EMPTY afterwards)
zones1() {
	local log=$1 tag=$2 z0=$3 z1=$4 z5=$5
	expect_zone "$log" "$tag" 0 "$z0" 128 0 "namespace 1 zone 0 (explicitly opened, 64 KiB)"
	expect_zone "$log" "$tag" "$ZS1" "$z1" $((ZS1 + 256)) 0 "namespace 1 zone 1 (written, 128 KiB)"
	expect_zone "$log" "$tag" $((2 * ZS1)) CLOSED $((2 * ZS1 + 64)) 0 "namespace 1 zone 2 (closed)"
	expect_zone "$log" "$tag" $((3 * ZS1)) CLOSED $((3 * ZS1)) 1 "namespace 1 zone 3 (extension)"
	expect_zone "$log" "$tag" $((4 * ZS1)) FULL - 0 "namespace 1 zone 4 (written to capacity)"
	expect_zone "$log" "$tag" $((5 * ZS1)) "$z5" $((5 * ZS1)) 0 "namespace 1 zone 5 (explicitly opened, no data)"
	expect_zone "$log" "$tag" $((6 * ZS1)) FULL - 0 "namespace 1 zone 6 (finished)"
	expect_zone "$log" "$tag" $((7 * ZS1)) EMPTY $((7 * ZS1)) 0 "namespace 1 zone 7"
	expect_eq "$tag: namespace 1 zones" "$(guest_lines "$log" "$tag" | wc -l)" 8
}
# zones2 LOG TAG Z1STATE Z1WP Z2STATE: the zones of namespace 2
zones2() {
	local log=$1 tag=$2 z1=$3 wp1=$4 z2=$5
	expect_zone "$log" "$tag" 0 FULL - 0 "namespace 2 zone 0 (finished)"
	expect_zone "$log" "$tag" "$ZS2" "$z1" "$wp1" 0 "namespace 2 zone 1 (Zone Append)"
	expect_zone "$log" "$tag" $((2 * ZS2)) "$z2" $((2 * ZS2 + 4)) 1 "namespace 2 zone 2 (extension and data)"
	expect_zone "$log" "$tag" $((3 * ZS2)) EMPTY $((3 * ZS2)) 0 "namespace 2 zone 3"
	expect_eq "$tag: namespace 2 zones" "$(guest_lines "$log" "$tag" | wc -l)" 4
}
zones1 "$log" A1 EXP_OPENED IMP_OPENED EXP_OPENED
zones2 "$log" B1 IMP_OPENED $((ZS2 + 2)) IMP_OPENED
guest_value ext "$log" EXT1
expect_eq "boot 1: namespace 1 zone 3 extension" "$ext" "$EXT1"
guest_value ext "$log" EXT2
expect_eq "boot 1: namespace 2 zone 2 extension" "$ext" "$EXT2"
declare -A md5
for f in a0 a1 a2 a4 b0 b1 b2; do
	guest_value "md5[$f]" "$log" "MD5-$f"
done
for suffix in json img zones; do
	expect_eq "ns-*.$suffix files in the store" "$(find "$STORE" -name "ns-*.$suffix" | wc -l)" 2
done

guest_boot boot2 - "${NVME[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
cap() { nvme id-ctrl "$DEV" | sed -n "s/^$1 *: //p"; }
nvme list
N1=$(nsdev 1) N2=$(nsdev 2)
echo "UNVMCAP3=$(cap unvmcap)"
zones A2 "$N1"
zones B2 "$N2"
nvme zns report-zones "$N1" -d 1 -s $((4 * ZS1)) | sed -n 's/.*Cap: *\([0-9a-fx]*\) .*/CAP1=\1/p'
nvme zns report-zones "$N2" -d 1 | sed -n 's/.*Cap: *\([0-9a-fx]*\) .*/CAP2=\1/p'
echo "EXT1=$(zone_ext "$N1" $((3 * ZS1)))"
echo "EXT2=$(zone_ext "$N2" $((2 * ZS2)))"
echo "READ-a0=$(blk_md5 "$N1" 0 $((64 * 1024)))"
echo "READ-a1=$(blk_md5 "$N1" $((ZS1 * 512)) $((128 * 1024)))"
echo "READ-a2=$(blk_md5 "$N1" $((2 * ZS1 * 512)) $((32 * 1024)))"
echo "READ-a4=$(blk_md5 "$N1" $((4 * ZS1 * 512)) $((3072 * 1024)))"
echo "READ-b0=$(blk_md5 "$N2" 0 $((256 * 1024)))"
echo "READ-b1=$(blk_md5 "$N2" $((ZS2 * 4096)) 8192)"
echo "READ-b2=$(blk_md5 "$N2" $((2 * ZS2 * 4096)) $((16 * 1024)))"
# one more append to namespace 2 zone 1, closed since the restart
dd if=/dev/urandom of=/tmp/b1c bs=4k count=1 2>/dev/null
nvme zns zone-append "$N2" -s $ZS2 -z 4096 -d /tmp/b1c
echo "READ-Z21=$(blk_md5 "$N2" $((ZS2 * 4096)) 12288)"
nvme detach-ns "$DEV" -n 1 -c 0
nvme delete-ns "$DEV" -n 1
echo "UNVMCAP4=$(cap unvmcap)"
echo "ALLOCATED=$(nvme list-ns "$DEV" --all | tr '\n' ' ')"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
guest_value u3 "$log" UNVMCAP3
expect_eq "UNVMCAP after the restart" "$u3" "$u1"
zones1 "$log" A2 CLOSED CLOSED EMPTY
zones2 "$log" B2 CLOSED $((ZS2 + 2)) CLOSED
guest_value c "$log" CAP1
expect_eq "namespace 1 zone capacity" "$((c))" "$ZC1"
guest_value c "$log" CAP2
expect_eq "namespace 2 zone capacity" "$((c))" "$ZC2"
guest_value ext "$log" EXT1
expect_eq "boot 2: namespace 1 zone 3 extension" "$ext" "$EXT1"
guest_value ext "$log" EXT2
expect_eq "boot 2: namespace 2 zone 2 extension" "$ext" "$EXT2"
for f in a0 a1 a2 a4 b0 b1 b2; do
	guest_value r "$log" "READ-$f"
	expect_eq "boot 2: data $f" "$r" "${md5[$f]}"
done
expect_line "$log" "Success appended data to LBA $(printf '%x' $((ZS2 + 2)))\$" "boot 2: append to closed zone 1 of namespace 2 at its write pointer"
guest_value z21 "$log" READ-Z21
expect_line "$log" 'delete-ns: Success, deleted nsid:1' "namespace 1 deleted"
guest_value u4 "$log" UNVMCAP4
expect_eq "UNVMCAP after deleting namespace 1" "$u4" $((u1 + SIZE1))
guest_value allocated "$log" ALLOCATED
[[ $allocated != *":0x1 "* ]] || scenario_fail "namespace 1 still allocated: $allocated"
for suffix in json img zones; do
	expect_eq "ns-*.$suffix files in the store after the delete" "$(find "$STORE" -name "ns-*.$suffix" | wc -l)" 1
done

guest_boot boot3 - "${NVME[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
cap() { nvme id-ctrl "$DEV" | sed -n "s/^$1 *: //p"; }
nvme list
test -z "$(nsdev 1)" && echo "NS1-GONE=yes"
N2=$(nsdev 2)
zones B3 "$N2"
echo "EXT2=$(zone_ext "$N2" $((2 * ZS2)))"
echo "READ-Z21=$(blk_md5 "$N2" $((ZS2 * 4096)) 12288)"
echo "READ-b0=$(blk_md5 "$N2" 0 $((256 * 1024)))"
echo "UNVMCAP5=$(cap unvmcap)"
# a new zoned namespace takes the free NSID 1: fresh zones, no old data
nvme create-ns "$DEV" --nsze=65536 --ncap=65536 --flbas=0 --csi=2
nvme attach-ns "$DEV" -n 1 -c 0
guest_nvme_settle
N1=$(nsdev 1)
zones C3 "$N1"
echo "READ-NEW=$(blk_md5 "$N1" 0 $((64 * 1024)))"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
guest_value gone "$log" NS1-GONE
expect_eq "namespace 1 stays deleted" "$gone" yes
zones2 "$log" B3 CLOSED $((ZS2 + 3)) CLOSED
guest_value ext "$log" EXT2
expect_eq "boot 3: namespace 2 zone 2 extension" "$ext" "$EXT2"
guest_value r "$log" READ-Z21
expect_eq "boot 3: namespace 2 zone 1 with the append of boot 2" "$r" "$z21"
guest_value r "$log" READ-b0
expect_eq "boot 3: namespace 2 zone 0 data" "$r" "${md5[b0]}"
guest_value u5 "$log" UNVMCAP5
expect_eq "UNVMCAP after a restart" "$u5" "$u4"
expect_line "$log" 'create-ns: Success, created nsid:1' "boot 3: NSID 1 reused"
for z in $(seq 0 7); do
	expect_zone "$log" C3 $((z * ZS1)) EMPTY $((z * ZS1)) 0 "new namespace 1 zone $z"
done
expect_eq "C3: new namespace 1 zones" "$(guest_lines "$log" C3 | wc -l)" 8
guest_value r "$log" READ-NEW
expect_eq "boot 3: the new namespace 1 reads zeros" "$r" "$(head -c 65536 /dev/zero | md5sum | cut -d' ' -f1)"
note "2 zoned namespaces created, zones kept over 2 restarts, 1 deleted and made anew"

scenario_pass
