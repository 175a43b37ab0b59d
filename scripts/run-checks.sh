#!/bin/bash
# Run the test suites and print one closing line "N passed, N failed".
# Usage: run-checks.sh [all|qtest|san|base2|guest]
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/base.conf"
base2=$(set -- $BASES && echo "$2")
qbuild="$repo/build/qemu/build"
sanbuild="$repo/build/qemu/build-san"
base2build="$repo/build/qemu-$base2/build"
logdir="$repo/build/test-logs"
what=${1:-all}
passed=0
failed=0
failures=()

# Our qtests, and upstream's nvme qtests (a qos-test path prefix).
OUR_QTESTS=$(grep -v '^#' "$repo/scripts/qtests.list")
QOS_NVME_PATH=/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/nvme/nvme-tests

mkdir -p "$logdir"

# Sanitizer reports (ASan, UBSan, LeakSanitizer) of the sanitized build,
# from QEMU and from the test programs, one file per process.
sandir="$logdir/sanitizers"
san_env() {
    echo "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$sandir/$1"
    echo "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$sandir/$1"
}

# run_tap NAME CMD...: run a glib test binary with --tap, count its results.
# With $san set, in the sanitized build, and any sanitizer report fails it.
run_tap() {
    local name=$1 log="$logdir/$1.log" rc p f dir=${tapdir:-$qbuild} env=() r
    shift
    echo "== $name"
    if [ -n "${san:-}" ]; then
        dir=$sanbuild
        mkdir -p "$sandir"
        rm -f "$sandir/$name".*
        mapfile -t env < <(san_env "$name")
    fi
    (cd "$dir" && env "${env[@]}" QTEST_QEMU_BINARY=./qemu-system-x86_64 \
        timeout 2400 "$@" --tap -k) > "$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^not ok ' "$log")
    grep -E '^(ok|not ok) ' "$log" | sed 's/^/   /'
    if [ -n "${san:-}" ]; then
        for r in "$sandir/$name".*; do
            [ -e "$r" ] || continue
            # ASan's note on swapcontext (QEMU's coroutines) is no report
            if ! grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error' "$r"; then
                rm -f "$r"
                continue
            fi
            echo "   not ok - $name: sanitizer report ${r#$repo/}"
            grep -m1 -E 'ERROR|runtime error|SUMMARY' "$r" | sed 's/^/   | /'
            grep -m8 -E '^ +#[0-9]+ ' "$r" | sed 's/^/   | /'
            f=$((f + 1))
        done
    fi
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

# Every qtest again against QEMU built with ASan and UBSan.
run_san() {
    local t
    san=1
    for t in $OUR_QTESTS; do
        run_tap "$t-san" "tests/qtest/$t"
    done
    run_tap upstream-nvme-qos-san tests/qtest/qos-test -p "$QOS_NVME_PATH"
    san=
}

# Every qtest again on the second base (guest scenarios: default base only).
run_base2() {
    local t
    if [ -f "$repo/build/base2.skipped" ]; then
        echo "== base $base2: SKIPPED, its source has left the registry (see scripts/base.conf)"
        return
    fi
    echo "== base $base2 ($(cat "$repo/build/base-$base2/VERSION"))"
    tapdir=$base2build
    for t in $OUR_QTESTS; do
        run_tap "$t-$base2" "tests/qtest/$t"
    done
    run_tap "upstream-nvme-qos-$base2" tests/qtest/qos-test -p "$QOS_NVME_PATH"
    tapdir=
}

case "$what" in
all) run_qtests; run_san; run_base2; run_guest ;;
qtest) run_qtests ;;
san) run_san ;;
base2) run_base2 ;;
guest) run_guest ;;
*) echo "run-checks: unknown suite '$what' (all, qtest, san, base2, guest)" >&2; exit 2 ;;
esac

[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]} (logs in build/test-logs/)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
