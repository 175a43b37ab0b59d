#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# Namespace Management from the guest with nvme-cli, across QEMU restarts.
#
# Boot 1 creates three namespaces of different formats in an empty store
# (512 B, 4 KiB, 512 B + 8 bytes of metadata), attaches them, and writes a
# pattern into each.  Boot 2 (a new QEMU process) finds all three attached
# with their formats and patterns, then detaches and deletes the second;
# UNVMCAP grows by exactly its size.  Boot 3 finds the other two intact.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin ns-mgmt-lifecycle

STORE=$WORK/store
mkdir -p "$STORE"
NVME=(-device "nvme,serial=mgmt0,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=256M")

guest_set DEV=/dev/nvme0
# Linux numbers nvme0nX by discovery, not by NSID: find devices by NSID.
NSDEV='nsdev() { for d in /sys/block/nvme0n*; do [ "$(cat "$d/nsid")" = "$1" ] && echo "/dev/${d##*/}"; done; return 0; }'
guest_set "NSDEV=$NSDEV"

guest_boot boot1 - "${NVME[@]}" <<'GUEST'
set -e
eval "$NSDEV"
cap() { nvme id-ctrl "$DEV" | sed -n "s/^$1 *: //p"; }
echo "TNVMCAP=$(cap tnvmcap)"
echo "UNVMCAP0=$(cap unvmcap)"
# 16 MiB of 512 B blocks, 32 MiB of 4 KiB blocks, 8 MiB of 512+8 B blocks
nvme create-ns "$DEV" --nsze=32768 --ncap=32768 --flbas=0
nvme create-ns "$DEV" --nsze=8192 --ncap=8192 --flbas=4
nvme create-ns "$DEV" --nsze=16384 --ncap=16384 --flbas=1
echo "UNVMCAP1=$(cap unvmcap)"
for n in 1 2 3; do
	nvme attach-ns "$DEV" -n $n -c 0
done
guest_nvme_settle
nvme list
for n in 1 2 3; do
	d=$(nsdev $n)
	echo "LBADS$n=$(cat /sys/block/${d#/dev/}/queue/logical_block_size)"
	awk -v n=$n 'BEGIN { for (i = 0; i < 8192; i++) printf "ns %d line %09d\n", n, i }' > /tmp/p$n
	dd if=/tmp/p$n of=$d bs=64k seek=4 oflag=direct conv=fsync 2>/dev/null
	echo "MD5W$n=$(md5sum < /tmp/p$n | cut -d' ' -f1)"
done
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
expect_line "$log" 'create-ns: Success, created nsid:1' "first create gets NSID 1"
expect_line "$log" 'create-ns: Success, created nsid:3' "third create gets NSID 3"
guest_value tnvmcap "$log" TNVMCAP
guest_value u0 "$log" UNVMCAP0
guest_value u1 "$log" UNVMCAP1
expect_eq "TNVMCAP" "$tnvmcap" $((256 << 20))
expect_eq "UNVMCAP of an empty store" "$u0" $((256 << 20))
used=$((32768 * 512 + 8192 * 4096 + 16384 * 520))
expect_eq "UNVMCAP after three creates" "$u1" $((256 * 1048576 - used))
for n in 1 2 3; do
	expect_line "$log" "^/dev/nvme0n[0-9]+ .* $n +[0-9.]+ +MB" "nvme list shows namespace $n"
	guest_value "w$n" "$log" "MD5W$n"
done
guest_value lbads1 "$log" LBADS1
guest_value lbads2 "$log" LBADS2
expect_eq "namespace 1 block size" "$lbads1" 512
expect_eq "namespace 2 block size" "$lbads2" 4096
expect_eq "images in the store" "$(ls "$STORE"/ns-*.img | wc -l)" 3

guest_boot boot2 - "${NVME[@]}" <<'GUEST'
set -e
eval "$NSDEV"
cap() { nvme id-ctrl "$DEV" | sed -n "s/^$1 *: //p"; }
nvme list
for n in 1 2 3; do
	d=$(nsdev $n)
	echo "LBADS$n=$(cat /sys/block/${d#/dev/}/queue/logical_block_size)"
	echo "MD5R$n=$(dd if=$d bs=64k skip=4 count=3 iflag=direct 2>/dev/null | head -c $((8192 * 20)) | md5sum | cut -d' ' -f1)"
done
echo "UNVMCAP2=$(cap unvmcap)"
nvme detach-ns "$DEV" -n 2 -c 0
nvme delete-ns "$DEV" -n 2
echo "UNVMCAP3=$(cap unvmcap)"
echo "ALLOCATED=$(nvme list-ns "$DEV" --all | tr '\n' ' ')"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
for n in 1 2 3; do
	guest_value r "$log" "MD5R$n"
	w=w$n
	expect_eq "namespace $n pattern after restart" "$r" "${!w}"
done
guest_value lbads2 "$log" LBADS2
expect_eq "namespace 2 block size after restart" "$lbads2" 4096
guest_value u2 "$log" UNVMCAP2
guest_value u3 "$log" UNVMCAP3
expect_eq "UNVMCAP after restart" "$u2" "$u1"
expect_eq "UNVMCAP after deleting namespace 2" "$u3" $((u1 + 8192 * 4096))
expect_line "$log" 'delete-ns: Success, deleted nsid:2' "delete-ns succeeds"
guest_value allocated "$log" ALLOCATED
expect_eq "allocated namespaces" "$(echo "$allocated" | grep -c '0x2' || true)" 0
expect_eq "images in the store" "$(ls "$STORE"/ns-*.img | wc -l)" 2

guest_boot boot3 - "${NVME[@]}" <<'GUEST'
set -e
eval "$NSDEV"
nvme list
echo "MD5R3=$(dd if=$(nsdev 3) bs=64k skip=4 count=3 iflag=direct 2>/dev/null | head -c $((8192 * 20)) | md5sum | cut -d' ' -f1)"
test -z "$(nsdev 2)" && echo "NS2-GONE=yes"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
guest_value r3 "$log" MD5R3
expect_eq "namespace 3 pattern after the delete and a restart" "$r3" "$w3"
guest_value gone "$log" NS2-GONE
expect_eq "namespace 2 stays deleted" "$gone" yes
note "3 namespaces created, 1 deleted, patterns intact over 2 restarts"

scenario_pass
