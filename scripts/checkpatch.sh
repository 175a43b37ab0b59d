#!/bin/bash
# Run QEMU's checkpatch.pl on our own C files and on patches/.
# Usage: checkpatch.sh REPO BUILD_DIR
set -uo pipefail
repo=$(cd "${1:?usage}" && pwd)
build=$(cd "${2:?usage}" && pwd)
cp="$build/qemu/scripts/checkpatch.pl"
[ -x "$cp" ] || { echo "checkpatch: $cp not found: run make first" >&2; exit 1; }
rc=0
files=$(cd "$repo" && git ls-files --cached --others --exclude-standard -- \
        'hw/*.[ch]' 'include/*.h' 'tests/qtest/*.[ch]')
for f in $files; do
    # relative paths: checkpatch applies rules by path (tests/ ...)
    (cd "$build/qemu" && perl "$cp" --no-tree --terse -f "$f") || rc=1
done
for p in $(grep -v '^#' "$repo/patches/series"); do
    (cd "$build/qemu" && perl "$cp" --terse "$repo/patches/$p") || rc=1
done
[ $rc -eq 0 ] && echo "checkpatch: clean ($(wc -w <<< "$files") files, $(grep -vc '^#' "$repo/patches/series") patches)"
exit $rc
