#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# A static namespace keeps its data across a QEMU restart.
#
# Boot 1 lists the controller, writes a 1 MiB pattern at a 3 MiB offset of
# namespace 1 with O_DIRECT and reads it back.  Between the boots the host
# checks the image file itself.  Boot 2, a new QEMU process on the same
# image, reads the range back.  All the checksums must equal the host's.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin static-ns-persist

IMG=$WORK/ns1.img
OFF_MIB=3
# 32768 lines of 32 bytes: 1 MiB, the same text on the host and in the guest.
PATTERN_AWK='BEGIN { for (i = 0; i < 32768; i++) printf "nvme-persist-pattern %010d\n", i }'

truncate -s 64M "$IMG"
NVME=(-device nvme,serial=guest0,id=nvme0
	-drive "file=$IMG,if=none,id=d0,format=raw,cache=writethrough"
	-device nvme-ns,drive=d0,nsid=1)

want=$(awk "$PATTERN_AWK" | md5sum | cut -d' ' -f1)
size=$(awk "$PATTERN_AWK" | wc -c)
expect_eq "pattern size" "$size" 1048576

guest_set "OFF_MIB=$OFF_MIB" "PATTERN_AWK=$PATTERN_AWK" DEV=/dev/nvme0n1

guest_boot boot1 - "${NVME[@]}" <<'GUEST'
set -e
nvme list
test -b "$DEV"
range_md5() { dd if="$DEV" bs=1M skip="$OFF_MIB" count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
echo "MD5-BEFORE=$(range_md5)"
awk "$PATTERN_AWK" >/tmp/pattern
echo "MD5-PATTERN=$(md5sum </tmp/pattern | cut -d' ' -f1)"
dd if=/tmp/pattern of="$DEV" bs=1M seek="$OFF_MIB" count=1 oflag=direct conv=notrunc,fsync
sync
echo "MD5-WRITTEN=$(range_md5)"
GUEST
log1=$GUEST_LOG
expect_exit "$log1" 0
expect_line "$log1" '^/dev/nvme0n1 +.* guest0 +QEMU NVMe Ctrl +1 ' "nvme list shows namespace 1 of controller guest0"
guest_value before "$log1" MD5-BEFORE
guest_value pattern "$log1" MD5-PATTERN
guest_value written "$log1" MD5-WRITTEN
expect_eq "guest pattern md5" "$pattern" "$want"
expect_ne "md5 of the range before writing" "$before" "$want"
expect_eq "md5 read back in boot 1" "$written" "$want"

on_disk=$(dd if="$IMG" bs=1M skip="$OFF_MIB" count=1 2>/dev/null | md5sum | cut -d' ' -f1)
expect_eq "md5 of the image file's range after boot 1" "$on_disk" "$want"

guest_boot boot2 - "${NVME[@]}" <<'GUEST'
set -e
nvme list
echo "MD5-READ=$(dd if="$DEV" bs=1M skip="$OFF_MIB" count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)"
GUEST
log2=$GUEST_LOG
expect_exit "$log2" 0
expect_line "$log2" '^/dev/nvme0n1 +.* guest0 +QEMU NVMe Ctrl +1 ' "boot 2: nvme list"
guest_value read2 "$log2" MD5-READ
expect_eq "md5 read in boot 2" "$read2" "$want"
note "md5 $want written in boot 1, read back in boot 2"

scenario_pass
