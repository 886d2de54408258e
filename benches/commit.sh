#!/usr/bin/env bash
# Commit throughput: a ~500 MB upper directory (benches/tree.sh's tree, as
# a RUN or a working container would leave it) becomes a layer, against
# `tar -c | sha256sum`, `tar -c | gzip` and `tar -c | zstd` of the same tree,
# timed in the same run with hyperfine. strata commits layers uncompressed
# (tar + sha256 + a snapshot) and compresses once on save or push, so the
# save of the committed image is timed too, in gzip and zstd.
#
# Usage: benches/commit.sh [WORKDIR]   (needs root, python3, hyperfine, zstd)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-store}
shared=${STRATA_SHARED:-$here/../shared}
# The benchmark inputs live outside the repository, in the team's shared
# directory (bench/); say so plainly when it is not there.
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine zstd python3 busybox-static
(cd "$here" && cargo build --release --locked -q)
strata=$here/target/release/strata

source "$here/benches/tree.sh"
make_tree "$work"
tree=$work/tree
echo "tree: $(find "$tree" -type f | wc -l) files, $(du -sm "$tree" | cut -f1) MB"

# A store holding a working container whose upper directory is the tree
# (copied in directly: the state a `strata run` that wrote it would leave).
template=$work/commit-template
rm -rf "$template" "$work/commit-root"
bash "$shared/bench/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
"$strata" --root "$template" import "$work/busybox.tar" busybox >/dev/null
"$strata" --root "$template" from --name c busybox >/dev/null
cp -a "$tree/." "$template"/containers/*/upper/
root=$work/commit-root
fresh="rm -rf '$root' && cp -a '$template' '$root' && sync"
hyperfine --runs 3 --export-markdown "$work/commit.md" --prepare "$fresh" \
  -n 'tar -c | sha256sum' "tar -C '$tree' -c . | sha256sum" \
  -n 'tar -c | gzip > file' "tar -C '$tree' -c . | gzip > '$work/out.gz'; sync '$work/out.gz'" \
  -n 'tar -c | zstd > file' "tar -C '$tree' -c . | zstd -q -f -o '$work/out.zst'; sync '$work/out.zst'" \
  -n 'strata commit' "'$strata' --root '$root' commit c img"

# The committed image, then its first save in each compression.
rm -rf "$root" && cp -a "$template" "$root" && "$strata" --root "$root" commit c img >/dev/null
rm -rf "$template" && mv "$root" "$template"
hyperfine --runs 3 --export-markdown "$work/commit-save.md" --prepare "$fresh" \
  -n 'strata save oci-archive (gzip)' "'$strata' --root '$root' save --format oci-archive -o '$work/img.tar' img" \
  -n 'strata save oci-archive (zstd)' "'$strata' --root '$root' save --format oci-archive --compression zstd -o '$work/img.tar' img"
cat "$work/commit.md" "$work/commit-save.md"
