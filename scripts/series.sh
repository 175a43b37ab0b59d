#!/bin/bash
# The series as upstream would take it: each patch of patches/series with
# the files of ours that it adds (patches/own-files).
# Usage: series.sh REPO BUILD_DIR format|check
#   format  write BUILD_DIR/series/: the patches and a cover letter
#           (patches/cover-letter) for git send-email, checked with
#           checkpatch.pl
#   check   build every prefix of the series on the default base, one
#           after the other, in build/qemu's own build directory, with only
#           the files of ours that the prefix adds
set -euo pipefail

repo=$(cd "${1:?usage: series.sh REPO BUILD_DIR format|check}" && pwd)
build=$(cd "${2:?usage}" && pwd)
mode=${3:?usage}
src="$build/qemu"
author="qemu-nvme-ns authors <qemu-nvme-ns@localhost>"
die() { echo "series: $*" >&2; exit 1; }
g() { git -C "$src" "$@"; }

[ -d "$src/.git" ] || die "no assembled tree in $src: run make first"
mapfile -t patches < <(grep -v '^#' "$repo/patches/series")

# the files of ours that patch $1 adds
own_of() {
    local key=${1#[0-9][0-9][0-9][0-9]-}
    key=${key%.patch}
    sed -n "s|^$key: ||p" "$repo/patches/own-files" | tr ' ' '\n' | sed '/^$/d'
}

# every C file of ours belongs to exactly one patch
check_map() {
    local f n
    for f in $(cd "$repo" && git ls-files --cached --others --exclude-standard \
               -- 'hw/*.[ch]' 'include/*.h' 'qapi/*.json' 'tests/qtest/*.[ch]'); do
        n=$(for p in "${patches[@]}"; do own_of "$p"; done | grep -cx "$f" || true)
        [ "$n" = 1 ] || die "$f is named by $n patches in patches/own-files"
    done
}

format() {
    local tree="$build/series-tree" out="$build/series" p f rc=0
    rm -rf "$tree" "$out"
    g worktree prune
    g worktree add -q --detach "$tree" base
    trap "git -C '$src' worktree remove --force '$tree'" EXIT
    for p in "${patches[@]}"; do
        git -C "$tree" am -q "$repo/patches/$p"
        for f in $(own_of "$p"); do
            mkdir -p "$tree/$(dirname "$f")"
            cp "$repo/$f" "$tree/$f"
            git -C "$tree" add -f "$f"
        done
        git -C "$tree" commit -q --amend --no-edit --author="$author"
    done
    git -C "$tree" format-patch -q --cover-letter --thread=shallow \
        --subject-prefix="PATCH" -o "$out" base..HEAD
    python3 - "$out"/0000-cover-letter.patch "$repo/patches/cover-letter" <<'PY'
import sys
path, src = sys.argv[1:3]
text = open(src).read().split('\n', 1)
cover = open(path).read()
cover = cover.replace('*** SUBJECT HERE ***', text[0].strip())
cover = cover.replace('*** BLURB HERE ***', text[1].strip())
open(path, 'w').write(cover)
PY
    for f in "$out"/0*.patch; do
        [ "${f##*/}" = 0000-cover-letter.patch ] && continue
        (cd "$src" && perl scripts/checkpatch.pl --terse "$f") || rc=1
    done
    [ $rc = 0 ] || die "checkpatch found problems in $out"
    echo "series: $(ls "$out" | wc -l) files in $out (cover letter included)," \
         "checkpatch passed; send with: git send-email --to=qemu-block@nongnu.org $out/*.patch"
}

check() {
    local head commits i p f later
    head=$(g rev-parse HEAD)
    mapfile -t commits < <(g rev-list --reverse base..HEAD)
    [ ${#commits[@]} = ${#patches[@]} ] ||
        die "build/qemu has ${#commits[@]} commits on base, patches/series ${#patches[@]}: run make"
    trap "git -C '$src' checkout -q $head; '$repo/scripts/assemble.sh' '$repo' '$build' >/dev/null" EXIT
    for i in "${!patches[@]}"; do
        g checkout -q "${commits[$i]}"
        # the files of ours that later patches add are not there yet
        for p in "${patches[@]:$((i + 1))}"; do
            for f in $(own_of "$p"); do
                rm -f "$src/$f"
            done
        done
        printf 'series: %2d/%d %s ... ' $((i + 1)) ${#patches[@]} "${patches[$i]}"
        if ! ninja -C "$src/build" qemu-system-x86_64 > "$build/series-check.log" 2>&1; then
            echo "FAILED"; tail -30 "$build/series-check.log"
            die "the series does not build up to ${patches[$i]}"
        fi
        echo ok
        # put them back for the next prefix
        "$repo/scripts/assemble.sh" "$repo" "$build" >/dev/null
    done
    ninja -C "$src/build" $(sed -n 's|^\([a-z].*\)|tests/qtest/\1|p' "$repo/scripts/qtests.list") \
        > "$build/series-check.log" 2>&1 || die "the qtests do not build (see $build/series-check.log)"
    echo "series: every prefix of the ${#patches[@]} patches builds, and the qtests with the last"
}

check_map
case $mode in
format) format ;;
check) check ;;
*) die "unknown mode $mode" ;;
esac
