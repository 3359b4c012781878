# Shared by scripts/gather-transposed-ab.sh and scripts/softmax-rows-ab.sh (source it; they set
# `root`): `old_scorecore_dir REV` makes a temporary folder `dir` (removed on exit) holding old.c,
# REV's Sources/CSupport/scorecore512.c with its symbols renamed old512_… / old_cpu_has_avx512 /
# old_prefetch_soon…, so that it links beside the working tree's.
old_scorecore_dir() {
    git -C "$root" rev-parse --quiet --verify "$1^{commit}" > /dev/null \
        || { echo "$(basename "$0"): no commit '$1' in $root (give a revision, e.g. a commit hash)" >&2; exit 64; }
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    git -C "$root" show "$1:Sources/CSupport/scorecore512.c" \
        | sed -e 's/mesa512_/old512_/g' -e 's/mesa_cpu_has_avx512/old_cpu_has_avx512/g' \
        -e 's/mesa_prefetch_soon/old_prefetch_soon/g' > "$dir/old.c"
}
