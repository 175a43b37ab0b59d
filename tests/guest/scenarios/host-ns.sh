#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# The host changes the namespace store under a running Linux guest (QMP).
#
# One boot of the file-system guest, the host acting when the guest's
# console says so:
#   1. the host creates a namespace of 256 MiB and attaches it
#      (nvme-ns-create): /dev/nvme0nN appears in the guest without a
#      reboot; the guest puts btrfs on it;
#   2. the host grows it to 512 MiB (nvme-ns-resize): the block device's
#      size changes, and btrfs grows into the new space
#      (btrfs filesystem resize max), its file intact;
#   3. the guest detaches and deletes it with nvme-cli: the host receives
#      NVME_NAMESPACE_CHANGED for both, origin guest;
#   4. the host grows the drive of a static namespace (block_resize): the
#      guest sees the new size;
#   5. the host creates a zoned namespace of 8 zones; the guest writes
#      into its first zone; the host grows it to 16 zones: the guest's
#      zoned block device has 16 zones, the first one's write pointer
#      where the guest left it.
# Every host change raises its event too.
set -euo pipefail
GUEST_FLAVOR=fs
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin host-ns

QMP=$GUEST_DIR/qmp.py
STORE=$WORK/store
EVENTS=$WORK/events.log
mkdir -p "$STORE"
truncate -s 64M "$WORK/static.img"
: >"$EVENTS"
ARGS=(-drive "file=$WORK/static.img,if=none,id=d0,format=raw"
	-device "nvme,serial=host0,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=2G,auto-ns-zone-size=8M"
	-device "nvme-ns,drive=d0,nsid=1"
	-qmp "unix:$WORK/qmp.sock,server=on,wait=off"
	-qmp "unix:$WORK/events.sock,server=on,wait=off")

# qmp COMMAND...: run QMP commands; their responses on stdout
qmp() {
	"$QMP" "$WORK/qmp.sock" "$@" || scenario_fail "QMP failed: $*"
}

guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS"
guest_start boot1 - "${ARGS[@]}" <<'GUEST'
set -e
eval "$ZNS_FUNCS"
DEV=/dev/nvme0
# wait_for COND: until the shell condition COND holds (60 s at most)
wait_for() {
	n=600
	until eval "$1"; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}
sz() { cat /sys/block/${1#/dev/}/size; }
S=$(nsdev 1)
echo "STATIC-SIZE $(sz $S)"
echo "STEP create"
wait_for '[ -n "$(nsdev 2)" ] && [ -b "$(nsdev 2)" ]' || { echo "NO-DEVICE"; exit 1; }
D=$(nsdev 2)
echo "APPEARED $(sz $D)"
mkfs.btrfs -q -f "$D"
mkdir -p /mnt/h
mount -t btrfs "$D" /mnt/h
echo "written before the growth" >/mnt/h/file
sync
echo "FS-BEFORE=$(df -k /mnt/h | awk 'NR == 2 { print $2 }')"
s0=$(sz $D)
echo "STEP grow"
wait_for '[ "$(sz $D)" != "$s0" ]' || { echo "NO-GROWTH"; exit 1; }
echo "GREW $(sz $D)"
btrfs filesystem resize max /mnt/h >/dev/null
echo "FS-AFTER=$(df -k /mnt/h | awk 'NR == 2 { print $2 }')"
echo "FILE $(cat /mnt/h/file)"
umount /mnt/h
nvme detach-ns $DEV -n 2 -c 0
nvme delete-ns $DEV -n 2
echo "STEP deleted"
s1=$(sz $S)
echo "STEP block-resize"
wait_for '[ "$(sz $S)" != "$s1" ]' || { echo "NO-STATIC-GROWTH"; exit 1; }
echo "STATIC-GREW $(sz $S)"
echo "STEP zoned"
wait_for '[ -n "$(nsdev 3)" ] && [ -b "$(nsdev 3)" ]' || { echo "NO-ZONED"; exit 1; }
Z=$(nsdev 3)
echo "ZONES $(cat /sys/block/${Z#/dev/}/queue/nr_zones)"
dd if=/dev/urandom of="$Z" bs=4096 count=1 oflag=direct 2>/dev/null
echo "STEP zoned-grow"
wait_for '[ "$(cat /sys/block/${Z#/dev/}/queue/nr_zones)" != 8 ]' || { echo "NO-ZONED-GROWTH"; exit 1; }
echo "ZONES-GREW $(cat /sys/block/${Z#/dev/}/queue/nr_zones)"
echo "ZONE0 $(blkzone report -c 1 "$Z")"
GUEST

"$QMP" --events "$WORK/events.sock" "$EVENTS" &
EVPID=$!
trap 'kill $EVPID 2>/dev/null || :' EXIT

guest_wait_line '^STEP create$' 120 >/dev/null
start=$(date +%s.%N)
resp=$(qmp '{"execute": "nvme-ns-create", "arguments": {"subsys": "nvme0",
	"size": 268435456, "attach": [0]}}')
[[ $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["return"]["nsid"])' "$resp") == 2 ]] ||
	scenario_fail "nvme-ns-create: $resp"
line=$(guest_wait_line '^(APPEARED|NO-DEVICE)' 90)
end=$(date +%s.%N)
[[ $line == "APPEARED 524288" ]] || scenario_fail "the new namespace in the guest: $line"
note "nvme-ns-create to /dev/nvme0n2 in the guest: $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }') s"

guest_wait_line '^STEP grow$' 120 >/dev/null
qmp '{"execute": "nvme-ns-resize", "arguments": {"subsys": "nvme0",
	"nsid": 2, "size": 536870912}}' >/dev/null
guest_wait_line '^STEP deleted$' 120 >/dev/null
guest_wait_line '^STEP block-resize$' 60 >/dev/null
qmp '{"execute": "block_resize", "arguments": {"device": "d0",
	"size": 134217728}}' >/dev/null
guest_wait_line '^STEP zoned$' 60 >/dev/null
qmp '{"execute": "nvme-ns-create", "arguments": {"subsys": "nvme0",
	"size": 67108864, "command-set": "zoned", "nsid": 3, "attach": [0]}}' >/dev/null
guest_wait_line '^STEP zoned-grow$' 60 >/dev/null
qmp '{"execute": "nvme-ns-resize", "arguments": {"subsys": "nvme0",
	"nsid": 3, "size": 134217728}}' >/dev/null
guest_finish
log=$GUEST_LOG
expect_exit "$log" 0
expect_line "$log" '^GREW 1048576$' "the guest's block device after nvme-ns-resize"
guest_value before "$log" FS-BEFORE
guest_value after "$log" FS-AFTER
((after > before + 200000)) || scenario_fail "btrfs did not grow: $before KiB, then $after KiB"
note "btrfs: $before KiB, $after KiB after the growth"
expect_line "$log" '^FILE written before the growth$' "the file across the growth"
expect_line "$log" '^STATIC-SIZE 131072$' "the static namespace"
expect_line "$log" '^STATIC-GREW 262144$' "the static namespace after block_resize"
expect_line "$log" '^ZONES 8$' "the zoned namespace"
expect_line "$log" '^ZONES-GREW 16$' "the zoned namespace after nvme-ns-resize"
expect_line "$log" '^ZONE0 .*wptr 0x000008 ' "the first zone's write pointer"

# the events, as a management tool sees them
sleep 0.5
events=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "NVME_NAMESPACE_CHANGED":
        d = e["data"]
        print(d["nsid"], d["change"], d["origin"])' "$EVENTS")
for want in "2 created host" "2 attached host" "2 resized host" "2 detached guest" "2 deleted guest" "3 resized host"; do
	grep -qx "$want" <<<"$events" || scenario_fail "no event '$want' (events: $(tr '\n' ';' <<<"$events"))"
done
note "events: $(tr '\n' ';' <<<"$events")"
scenario_pass
