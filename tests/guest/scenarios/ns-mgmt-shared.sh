#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# (QEMU arguments have commas; guest_value sets variables)
# A shared namespace (NMIC bit 0) made with nvme-cli is seen through both
# controllers of the subsystem, as one multipath device, before and after a
# QEMU restart; a private one is refused on the second controller.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

scenario_begin ns-mgmt-shared

STORE=$WORK/store
mkdir -p "$STORE"
NVME=(-device "nvme-subsys,id=subsys0,auto-ns-path=$STORE,auto-ns-tnvmcap=64M"
	-device nvme,serial=shared0,subsys=subsys0
	-device nvme,serial=shared0,subsys=subsys0)

# Linux names devices by probe order: find NSID 1's head and paths by NSID.
NSFN='ns1_paths() { n=0; for d in /sys/block/nvme*c*n*; do [ -e "$d" ] && [ "$(cat "$d/nsid")" = 1 ] && n=$((n + 1)); done; echo $n; }
ns1_head() { for d in /sys/block/nvme*n*; do case ${d##*/} in *c*) continue ;; esac; [ "$(cat "$d/nsid")" = 1 ] && echo "/dev/${d##*/}"; done; return 0; }
wait_paths() { i=0; while [ "$(ns1_paths)" != 2 ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done; }'
guest_set "NSFN=$NSFN"

guest_boot boot1 - "${NVME[@]}" <<'GUEST'
set -e
eval "$NSFN"
nvme create-ns /dev/nvme0 --nsze=16384 --ncap=16384 --flbas=0 --nmic=1
nvme attach-ns /dev/nvme0 -n 1 -c 0,1
nvme create-ns /dev/nvme0 --nsze=1024 --ncap=1024 --flbas=0 --nmic=0
nvme attach-ns /dev/nvme0 -n 2 -c 0
if nvme attach-ns /dev/nvme1 -n 2 -c 1 2>&1; then echo "PRIVATE=attached"; else echo "PRIVATE=refused"; fi
guest_nvme_settle
# each controller rescans on its own event: one hidden path per controller
wait_paths
echo "PATHS=$(ns1_paths)"
awk 'BEGIN { for (i = 0; i < 4096; i++) printf "shared %09d\n", i }' > /tmp/p
dd if=/tmp/p of=$(ns1_head) bs=64k oflag=direct conv=fsync 2>/dev/null
echo "MD5W=$(md5sum < /tmp/p | cut -d' ' -f1)"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
expect_line "$log" 'PRIVATE=refused' "a private namespace is refused on a second controller"
expect_line "$log" 'NVMe status: (NS_IS_PRIVATE|Namespace Is Private)' "with the Namespace Is Private status"
guest_value paths "$log" PATHS
expect_eq "multipath paths of the shared namespace" "$paths" 2
guest_value w "$log" MD5W

guest_boot boot2 - "${NVME[@]}" <<'GUEST'
set -e
eval "$NSFN"
wait_paths
# native multipath: one head, one hidden path per controller
echo "PATHS=$(ns1_paths)"
echo "MD5R=$(dd if=$(ns1_head) bs=64k count=2 iflag=direct 2>/dev/null | head -c $((4096 * 17)) | md5sum | cut -d' ' -f1)"
GUEST
log=$GUEST_LOG
expect_exit "$log" 0
guest_value paths "$log" PATHS
expect_eq "multipath paths after restart" "$paths" 2
guest_value r "$log" MD5R
expect_eq "shared namespace data after restart" "$r" "$w"
note "shared namespace on 2 controllers (native multipath), private refused"

scenario_pass
