#!/bin/bash
# Turn the commits on top of "base" in build/qemu back into patches/.
# Usage: refresh-patches.sh REPO BUILD_DIR
#
# Edit upstream files in build/qemu, then either commit there yourself
# (git commit, or git commit --fixup + rebase to amend an existing patch),
# or let this script do it: with uncommitted edits, NEW="hw/nvme: subject"
# commits them as a new patch, and without NEW they are folded into the
# topmost patch.
set -euo pipefail

repo=$(cd "${1:?usage}" && pwd)
build=$(cd "${2:?usage}" && pwd)
src="$build/qemu"
die() { echo "refresh-patches: $*" >&2; exit 1; }
g() { git -C "$src" "$@"; }

[ -d "$src/.git" ] || die "no assembled tree in $src: run make first"

if [ -n "$(g status --porcelain --untracked-files=no)" ]; then
    g add -u
    if [ -n "${NEW:-}" ]; then
        g commit -q -m "$NEW"
    elif [ "$(g rev-parse HEAD)" != "$(g rev-parse base)" ]; then
        g commit -q --amend --no-edit
    else
        die "no patch to fold the edits into: give NEW=\"hw/nvme: subject\""
    fi
fi
untracked=$(g ls-files --others --exclude-standard -- . ':!build' | head -n 5)
[ -z "$untracked" ] ||
    die "new files in build/qemu are not patches: put them at the same path in the repository ($untracked)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g format-patch -q --zero-commit --no-signature --no-numbered -o "$tmp" base..HEAD
rm -f "$repo"/patches/*.patch
{
    echo "# Patches to upstream QEMU files, applied in this order by scripts/assemble.sh."
    for p in "$tmp"/*.patch; do
        [ -e "$p" ] || continue
        cp "$p" "$repo/patches/"
        basename "$p"
    done
} > "$repo/patches/series"
# The tree already holds these patches: tell assemble.sh not to re-apply.
hash=$( (cd "$repo/patches" && cat series $(grep -v '^#' series) 2>/dev/null;
         cat "$build/base/VERSION") | sha256sum | cut -d' ' -f1)
echo "$hash $(g rev-parse HEAD)" > "$build/series.stamp"
echo "refresh-patches: $(grep -vc '^#' "$repo/patches/series") patches in patches/"
