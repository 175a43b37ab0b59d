#!/usr/bin/env bash
# Run the guest end-to-end scenarios.
#
#   tests/guest/run.sh [SCENARIO...]
#
# SCENARIO is a name (static-ns-persist) or a path; default: every
# tests/guest/scenarios/*.sh.  Builds the guest first (build-guest.sh),
# runs each scenario, prints its PASS/FAIL line and ends with
# "N passed, N failed"; exits non-zero if any failed.  The output of each
# scenario is also kept in BUILD_DIR/guest/logs/NAME.out.
# Env: see tests/guest/lib.sh (BUILD_DIR, QEMU, GUEST_QEMU_ARGS, ...).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export BUILD_DIR=${BUILD_DIR:-$REPO/build}
LOGS=$BUILD_DIR/guest/logs

scenario_path() {
	case $1 in
	*/*) echo "$1" ;;
	*) echo "$HERE/scenarios/${1%.sh}.sh" ;;
	esac
}

main() {
	local scenarios=() s
	if [[ $# -gt 0 ]]; then
		for s in "$@"; do
			scenarios+=("$(scenario_path "$s")")
		done
	else
		for s in "$HERE"/scenarios/*.sh; do
			[[ -e $s ]] && scenarios+=("$s")
		done
	fi
	if [[ ${#scenarios[@]} == 0 ]]; then
		echo "run: no scenarios in $HERE/scenarios"
		echo "0 passed, 1 failed"
		exit 1
	fi

	if ! "$HERE/build-guest.sh" "$BUILD_DIR" >/dev/null; then
		echo "FAIL: build-guest: could not build the guest (see the error above)"
		echo "0 passed, ${#scenarios[@]} failed"
		exit 1
	fi
	export GUEST_SKIP_BUILD=1

	mkdir -p "$LOGS"
	local passed=0 failed=0 name out rc start
	for s in "${scenarios[@]}"; do
		name=$(basename "$s" .sh)
		out=$LOGS/$name.out
		start=$SECONDS
		rc=0
		if [[ ! -r $s ]]; then
			echo "FAIL: $name: no such scenario ($s)" | tee "$out"
			rc=1
		else
			bash "$s" 2>&1 | tee "$out" || true
			rc=${PIPESTATUS[0]}
		fi
		if [[ $rc == 0 ]] && grep -qx "PASS: $name" "$out"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			grep -q "^FAIL: $name" "$out" || echo "FAIL: $name: exited with status $rc without a verdict"
		fi
		echo "  ($name took $((SECONDS - start)) s; output in $out)"
	done
	echo "$passed passed, $failed failed"
	[[ $failed == 0 ]]
}

main "$@"
