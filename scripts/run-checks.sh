#!/bin/bash
# Run the test suites and print one closing line "N passed, N failed".
# Usage: run-checks.sh [all|qtest|guest]
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
qbuild="$repo/build/qemu/build"
logdir="$repo/build/test-logs"
what=${1:-all}
passed=0
failed=0
failures=()

# Our qtests, and upstream's nvme qtests (a qos-test path prefix).
OUR_QTESTS="nvme-admin-test nvme-ns-mgmt-test nvme-zns-state-test nvme-inflight-test"
QOS_NVME_PATH=/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/nvme/nvme-tests

mkdir -p "$logdir"

# run_tap NAME CMD...: run a glib test binary with --tap, count its results.
run_tap() {
    local name=$1 log="$logdir/$1.log" rc p f
    shift
    echo "== $name"
    (cd "$qbuild" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
        timeout 1200 "$@" --tap -k) > "$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/   /'
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "   not ok - $name exited with status $rc (log: ${log#$repo/})"
        tail -n 15 "$log" | sed 's/^/   | /'
        f=1
    elif [ "$f" -ne 0 ]; then
        grep -B2 -A8 '^not ok ' "$log" | grep -v '^ok ' | sed 's/^/   | /' | head -n 40
    fi
    if [ $((p + f)) -eq 0 ]; then
        echo "   not ok - $name ran no test"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=("$name")
}

run_qtests() {
    local t
    for t in $OUR_QTESTS; do
        run_tap "$t" "tests/qtest/$t"
    done
    run_tap upstream-nvme-qos tests/qtest/qos-test -p "$QOS_NVME_PATH"
}

run_guest() {
    local log="$logdir/guest.log" line p f
    echo "== guest scenarios"
    "$repo/tests/guest/run.sh" 2>&1 | tee "$log" | sed 's/^/   /'
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "   not ok - guest scenarios did not report (log: ${log#$repo/})"
        failed=$((failed + 1))
        failures+=(guest)
        return
    fi
    p=${line%% passed*}
    f=${line#*passed, }
    f=${f%% failed*}
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -eq 0 ] || failures+=(guest)
}

case "$what" in
all) run_qtests; run_guest ;;
qtest) run_qtests ;;
guest) run_guest ;;
*) echo "run-checks: unknown suite '$what' (all, qtest, guest)" >&2; exit 2 ;;
esac

[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]} (logs in build/test-logs/)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
