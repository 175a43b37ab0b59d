#!/bin/bash
# make bench: print the benchmark tables.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
qbuild="$repo/build/qemu/build"

echo "== namespace management (tests/qtest/nvme-ns-bench)"
(cd "$qbuild" && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
    tests/qtest/nvme-ns-bench) | grep -v '^#' | grep -v '^ok \|^1\.\.'
echo
echo "== the host side: QMP create to the device in the guest (tests/guest/bench-host-ns.sh)"
"$repo/tests/guest/bench-host-ns.sh"
echo
echo "== guest fio (tests/guest/bench-fio.sh)"
"$repo/tests/guest/bench-fio.sh"
echo
echo "== zoned namespaces, zone state file: guest fio and system calls (tests/guest/bench-zns.sh)"
"$repo/tests/guest/bench-zns.sh"
echo
echo "== zoned namespaces, zone state file: load time (scripts/bench-zns-load.sh)"
"$repo/scripts/bench-zns-load.sh"
