#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR disable=SC2054,SC2154
# From nvme-ns-create (QMP, with attach) on the host to the block device in
# a running Linux guest (TCG): the guest polls for it every 20 ms and prints
# a line, the host times from sending the command to seeing that line on
# the console.  Then nvme-ns-delete, and again.  Prints the median and the
# range; a benchmark, not a test.
#
#   tests/guest/bench-host-ns.sh     (make bench runs it)
#   BENCH_ROUNDS=9                   rounds
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

export GUEST_QUIET=1
ROUNDS=${BENCH_ROUNDS:-9}
scenario_begin bench-host-ns

STORE=$WORK/store
mkdir -p "$STORE"
guest_set "ZNS_FUNCS=$GUEST_ZNS_FUNCS" "ROUNDS=$ROUNDS"
guest_start boot1 - -device "nvme,serial=bench1,id=nvme0,auto-ns-path=$STORE,auto-ns-tnvmcap=1G" \
	-qmp "unix:$WORK/qmp.sock,server=on,wait=off" <<'GUEST'
eval "$ZNS_FUNCS"
r=1
while [ $r -le $ROUNDS ]; do
	echo "READY $r"
	until [ -n "$(nsdev 1)" ] && [ -b "$(nsdev 1)" ]; do sleep 0.02; done
	echo "APPEARED $r"
	until [ -z "$(nsdev 1)" ]; do sleep 0.02; done
	r=$((r + 1))
done
GUEST

times=()
for r in $(seq 1 "$ROUNDS"); do
	guest_wait_line "^READY $r\$" 120 >/dev/null
	start=$(date +%s.%N)
	"$GUEST_DIR/qmp.py" "$WORK/qmp.sock" '{"execute": "nvme-ns-create", "arguments":
		{"subsys": "nvme0", "size": 134217728, "attach": [0]}}' >/dev/null
	guest_wait_line "^APPEARED $r\$" 60 >/dev/null
	times+=("$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')")
	"$GUEST_DIR/qmp.py" "$WORK/qmp.sock" '{"execute": "nvme-ns-delete", "arguments":
		{"subsys": "nvme0", "nsid": 1}}' >/dev/null
done
guest_finish
expect_exit "$GUEST_LOG" 0
printf '  QMP nvme-ns-create (attach) to the block device in the guest, %d rounds (TCG):\n' "$ROUNDS"
printf '  median %s s, min %s s, max %s s\n' \
	"$(printf '%s\n' "${times[@]}" | median)" \
	"$(printf '%s\n' "${times[@]}" | sort -g | head -n 1)" \
	"$(printf '%s\n' "${times[@]}" | sort -g | tail -n 1)"
_SCENARIO_DONE=1
