#!/usr/bin/env bash
# The story of run-time namespaces, told by a Linux guest with nvme-cli:
#
#   boot 1: an empty namespace store; create two namespaces, attach them
#           (the kernel finds them without a reboot), write to one;
#   boot 2: QEMU restarted on the same store: both namespaces are back,
#           with their formats and data; detach and delete one, the
#           capacity comes back;
#   boot 3: the host (QMP) adds a namespace under the running guest, which
#           finds it without a reboot, and grows it: the guest sees the new
#           size;
#   boot 4: a zoned namespace with a zone state file: write into one zone
#           (it opens), finish another (it is full);
#   boot 5: QEMU restarted: the open zone is Closed at its write pointer,
#           the full one still Full;
#   boot 6: btrfs on a zoned namespace with a zone state file: files
#           written, sync, and QEMU is killed (SIGKILL);
#   boot 7: QEMU restarted: btrfs check is clean, the files are back.
#
#   tests/guest/demo.sh
#
# Only the guest scripts' output is printed (the console logs, with the
# kernel messages, stay in BUILD_DIR/guest/work/demo/).  Env: see lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export GUEST_QUIET=1
export GUEST_APPEND="guest.quiet=1 ${GUEST_APPEND:-}"
scenario_begin demo

STORE=$WORK/store
mkdir -p "$STORE"
NVME=(-device "nvme,serial=demo0,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=1G")

# run CMD...: show a command and its output, as typed in the guest
RUN='run() { echo "guest# $*"; "$@"; set -- $?; echo; return "$1"; }
caps() { nvme id-ctrl /dev/nvme0 | grep -E "^(oacs|tnvmcap|unvmcap) "; }'
guest_set "RUN=$RUN"

show_boot() {
	guest_output "$GUEST_LOG"
	local rc
	rc=$(guest_exit_code "$GUEST_LOG")
	[[ $rc == 0 ]] || { echo "demo: the guest script failed (exit $rc; console log: $GUEST_LOG)"; exit 1; }
}

echo "host\$ qemu-system-x86_64 ... ${NVME[*]}"
echo "      (an empty directory: a new namespace store of 1 GiB)"
echo
guest_boot boot1 - "${NVME[@]}" <<'GUEST'
eval "$RUN"
run caps
run nvme list
run nvme create-ns /dev/nvme0 --nsze=262144 --ncap=262144 --flbas=0
run nvme create-ns /dev/nvme0 --nsze=65536 --ncap=65536 --flbas=4
run nvme attach-ns /dev/nvme0 -n 1 -c 0
run nvme attach-ns /dev/nvme0 -n 2 -c 0
guest_nvme_settle
run nvme list
run caps
echo "guest# echo 'hello from boot 1' | dd of=/dev/nvme0n1 conv=fsync"
echo 'hello from boot 1' | dd of=/dev/nvme0n1 conv=fsync 2>/dev/null
echo
GUEST
show_boot

echo "host\$ ls $STORE"
ls "$STORE" | sed 's/^/      /'
echo
echo "host\$ # QEMU stops; a new QEMU process starts on the same store"
echo
guest_boot boot2 - "${NVME[@]}" <<'GUEST'
eval "$RUN"
run nvme list
echo "guest# head -c 18 /dev/nvme0n1"
head -c 18 /dev/nvme0n1
echo
run nvme detach-ns /dev/nvme0 -n 2 -c 0
run nvme delete-ns /dev/nvme0 -n 2
run nvme list-ns /dev/nvme0 --all
run caps
GUEST
show_boot

echo "host\$ # the host's side: a QMP socket on the same QEMU, the guest running"
echo
guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS"
guest_start boot3 - "${NVME[@]}" -qmp "unix:$WORK/qmp.sock,server=on,wait=off" <<'GUEST'
eval "$RUN"
eval "$ZNS_FUNCS"
run nvme list
echo "HOST-CREATE"
n=600; until [ -n "$(nsdev 2)" ] && [ -b "$(nsdev 2)" ]; do n=$((n - 1)); [ $n -gt 0 ] || exit 1; sleep 0.1; done
echo "(the kernel found namespace 2 by itself: no reboot, no rescan)"
run nvme list
D=$(nsdev 2)
echo "guest# cat /sys/block/${D#/dev/}/size   # 512 B sectors"
cat /sys/block/${D#/dev/}/size
s0=$(cat /sys/block/${D#/dev/}/size)
echo "HOST-GROW"
n=600; until [ "$(cat /sys/block/${D#/dev/}/size)" != "$s0" ]; do n=$((n - 1)); [ $n -gt 0 ] || exit 1; sleep 0.1; done
echo
echo "guest# cat /sys/block/${D#/dev/}/size"
cat /sys/block/${D#/dev/}/size
GUEST
# qmp_show COMMAND: show and run a QMP command, as a management tool would
qmp_show() {
	echo "host-qmp> $1"
	"$GUEST_DIR/qmp.py" "$WORK/qmp.sock" "$1" | sed 's/^/host-qmp< /'
	echo
}
guest_wait_line '^HOST-CREATE$' 120 >/dev/null
qmp_show '{"execute": "nvme-ns-create", "arguments": {"subsys": "nvme0", "size": 268435456, "attach": [0]}}'
guest_wait_line '^HOST-GROW$' 120 >/dev/null
qmp_show '{"execute": "nvme-ns-resize", "arguments": {"subsys": "nvme0", "nsid": 2, "size": 536870912}}'
qmp_show '{"execute": "query-nvme-namespaces", "arguments": {"subsys": "nvme0"}}'
guest_finish
guest_output "$GUEST_LOG" | grep -v '^HOST-'
rc=$(guest_exit_code "$GUEST_LOG")
[[ $rc == 0 ]] || { echo "demo: the guest script failed (exit $rc; console log: $GUEST_LOG)"; exit 1; }

ZNS=(-drive "file=$WORK/zns.img,if=none,id=z0,format=raw" -device "nvme,serial=demozns,id=nvme0"
	-device "nvme-ns,drive=z0,nsid=1,zoned=on,zoned.zone_size=4M,zoned.zone_file=$WORK/zns.zones")
truncate -s 64M "$WORK/zns.img"
echo "host\$ # persistent zones: a zoned namespace of 16 zones of 4 MiB, its zone state in a file"
echo "host\$ qemu-system-x86_64 ... ${ZNS[*]}"
echo "      (no zone file yet: QEMU creates it, every zone Empty)"
echo
guest_boot boot4 - "${ZNS[@]}" <<'GUEST'
eval "$RUN"
run nvme zns report-zones /dev/nvme0n1 -d 3 -v
echo "guest# dd if=/dev/urandom of=/dev/nvme0n1 bs=64k count=1 oflag=direct   # zone 0 opens"
dd if=/dev/urandom of=/dev/nvme0n1 bs=64k count=1 oflag=direct 2>/dev/null
echo
run nvme zns finish-zone /dev/nvme0n1 --start-lba=0x2000
run nvme zns report-zones /dev/nvme0n1 -d 3 -v
GUEST
show_boot

echo "host\$ # QEMU stops; a new QEMU process starts on the same image and zone file"
echo
guest_boot boot5 - "${ZNS[@]}" <<'GUEST'
eval "$RUN"
run nvme zns report-zones /dev/nvme0n1 -d 3 -v
GUEST
show_boot

# the file-system guest (btrfs-progs, the btrfs module)
GUEST_CACHE=$BUILD_DIR/guest-fs
GUEST_FLAVOR=fs "$GUEST_DIR/build-guest.sh" "$BUILD_DIR" >"$WORK/build-guest-fs.log" 2>&1 ||
	{ echo "demo: building the file-system guest failed (see $WORK/build-guest-fs.log)"; exit 1; }
FS=(-drive "file=$WORK/btrfs.img,if=none,id=b0,format=raw" -device "nvme,serial=demofs,id=nvme0"
	-device "nvme-ns,drive=b0,nsid=1,zoned=on,zoned.zone_size=8M,zoned.zone_file=$WORK/btrfs.zones")
truncate -s 512M "$WORK/btrfs.img"
echo "host\$ # what persistent zones are for: a zoned file system across a crash"
echo "host\$ qemu-system-x86_64 ... ${FS[*]}"
echo
guest_boot_kill boot6 '^SYNCED$' - "${FS[@]}" <<'GUEST'
eval "$RUN"
run mkfs.btrfs -q -f -O zoned /dev/nvme0n1
mkdir -p /mnt/btrfs
run mount -t btrfs /dev/nvme0n1 /mnt/btrfs
echo "guest# for i in 1 2 3; do dd if=/dev/urandom of=/mnt/btrfs/file\$i bs=1M count=4; done"
for i in 1 2 3; do dd if=/dev/urandom of=/mnt/btrfs/file$i bs=1M count=4 2>/dev/null; done
echo
run sha256sum /mnt/btrfs/file1 /mnt/btrfs/file2 /mnt/btrfs/file3
run sync
echo SYNCED
sleep 60
GUEST
guest_output "$GUEST_LOG" | sed '/^SYNCED$/,$d'
echo "host\$ kill -KILL <qemu>   # right after sync returned: no unmount, no shutdown"
echo
guest_boot boot7 - "${FS[@]}" <<'GUEST'
eval "$RUN"
run btrfs check --readonly /dev/nvme0n1
mkdir -p /mnt/btrfs
run mount -t btrfs /dev/nvme0n1 /mnt/btrfs
run sha256sum /mnt/btrfs/file1 /mnt/btrfs/file2 /mnt/btrfs/file3
run umount /mnt/btrfs
GUEST
show_boot
_SCENARIO_DONE=1
