#!/bin/bash
# Assemble the source tree QEMU is built from.
# Usage: assemble.sh REPO BUILD_DIR [BASE]
#
# BUILD_DIR/qemu is a git repository: its first commit (tag "base") is the
# pristine base, our own files are symlinked in at their QEMU paths (and
# excluded from git), and each patch in patches/series is one commit on top.
# Re-running it is cheap when nothing changed; when patches/ changed, the
# tree is reset to "base" and the series is applied again.
set -euo pipefail

repo=$(cd "${1:?usage: assemble.sh REPO BUILD_DIR [BASE]}" && pwd)
build=$(cd "${2:?usage: assemble.sh REPO BUILD_DIR [BASE]}" && pwd)
. "$repo/scripts/base.conf"
suffix=$(base_suffix "${3:-$BASE_DEFAULT}")
src="$build/qemu$suffix"
base="$build/base$suffix/qemu"

die() { echo "assemble: $*" >&2; exit 1; }
g() { git -C "$src" "$@"; }

# Our files: everything at a QEMU path in the repository.
own_files() {
    (cd "$repo" && git ls-files --cached --others --exclude-standard -- \
        hw include qapi configs tests/qtest tests/guest docs 2>/dev/null) | sort -u |
    while read -r f; do [ -f "$repo/$f" ] && echo "$f"; done
}

series_hash() {
    (cd "$repo/patches" && cat series $(grep -v '^#' series) 2>/dev/null;
     cat "$build/base$suffix/VERSION") | sha256sum | cut -d' ' -f1
}

init_tree() {
    [ -d "$base" ] || die "no base tree in $base: run scripts/fetch-base.sh first"
    rm -rf "$src"
    echo "assemble: creating $src from the pristine base"
    cp -a "$base" "$src"
    g init -q
    g config user.name "qemu-nvme-ns assemble"
    g config user.email "assemble@localhost"
    g config core.autocrlf false
    g add -A -f .
    g commit -q -m "base: QEMU $(cat "$build/base$suffix/VERSION")"
    g tag base
}

link_own_files() {
    local f exclude="$src/.git/info/exclude"
    # the sanitizer build directory (./configure --sanitizers)
    echo "/build-san/" > "$exclude.new"
    own_files | while read -r f; do
        if g cat-file -e "base:$f" 2>/dev/null; then
            die "$f exists in the QEMU base: change it with a patch under patches/, not as an own file"
        fi
        mkdir -p "$src/$(dirname "$f")"
        if [ "$(readlink "$src/$f" 2>/dev/null)" != "$repo/$f" ]; then
            ln -sfn "$repo/$f" "$src/$f"
        fi
        echo "/$f" >> "$exclude.new"
    done
    mv "$exclude.new" "$exclude"
    # Drop links to own files that were removed from the repository.
    find "$src" -path "$src/build" -prune -o -type l -lname "$repo/*" -print |
    while read -r l; do [ -e "$l" ] || rm -f "$l"; done
}

apply_series() {
    local p n=0
    g reset -q --hard base
    while read -r p; do
        case "$p" in ''|'#'*) continue ;; esac
        [ -f "$repo/patches/$p" ] || die "patches/series names $p, which does not exist"
        if ! g am -q --keep-cr --committer-date-is-author-date "$repo/patches/$p" \
                > "$build/am$suffix.log" 2>&1; then
            echo "assemble: patch $p does not apply to QEMU $(cat "$build/base$suffix/VERSION"):" >&2
            sed -n '1,20p' "$build/am$suffix.log" >&2
            g am --show-current-patch=diff 2>/dev/null | head -n 40 >&2 || true
            g am --abort >/dev/null 2>&1 || true
            die "fix patches/$p (then run make again)"
        fi
        n=$((n + 1))
    done < "$repo/patches/series"
    echo "assemble: applied $n patches"
}

[ -d "$src/.git" ] || init_tree

hash=$(series_hash)
stamp="$build/series$suffix.stamp"
if [ ! -f "$stamp" ] || [ "$(cut -d' ' -f1 "$stamp")" != "$hash" ]; then
    # Do not throw away edits made to upstream files in the assembled tree.
    if [ -f "$stamp" ]; then
        if [ -n "$(g status --porcelain --untracked-files=no)" ] ||
           [ "$(g rev-parse HEAD)" != "$(cut -d' ' -f2 "$stamp")" ]; then
            die "build/qemu$suffix holds edits that are not in patches/, and patches/ changed too: run 'make refresh-patches' or discard them"
        fi
    fi
    apply_series
    echo "$hash $(g rev-parse HEAD)" > "$stamp"
fi
link_own_files
