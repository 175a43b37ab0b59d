#!/usr/bin/env bash
# Boot the test guest once with one NVMe controller and a static namespace
# and show what Linux sees: nvme list, nvme id-ctrl, nvme list-ns --all.
#
#   tests/guest/demo.sh
#
# Only the guest script's output is printed (the console log, with the kernel
# messages, stays in BUILD_DIR/guest/work/demo/).  Env: see lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export GUEST_QUIET=1
export GUEST_APPEND="guest.quiet=1 ${GUEST_APPEND:-}"
scenario_begin demo

IMG=$WORK/ns1.img
truncate -s 64M "$IMG"

guest_boot demo - \
	-device nvme,serial=demo0,id=nvme0 \
	-drive "file=$IMG,if=none,id=d0,format=raw" \
	-device nvme-ns,drive=d0,nsid=1 <<'GUEST'
run() {
	echo "guest# $*"
	"$@"
	set -- $?
	echo
	return "$1"
}
run nvme list
run nvme id-ctrl /dev/nvme0
run nvme list-ns /dev/nvme0 --all || run nvme list-ns /dev/nvme0
GUEST
guest_output "$GUEST_LOG"
echo "(guest exited $(guest_exit_code "$GUEST_LOG") after $GUEST_SECONDS s; console log: $GUEST_LOG)"
rc=$(guest_exit_code "$GUEST_LOG")
_SCENARIO_DONE=1
[[ $rc == 0 ]] || { echo "demo: the guest script failed (exit $rc)"; exit 1; }
