#!/usr/bin/env bash
# Import and save throughput on a ~500 MB rootfs of ~50,000 files, against
# the plain pipelines `tar -c | gzip` and `tar -c | zstd` on the same tree,
# timed in the same run with hyperfine; peak memory from GNU time.
#
# Usage: benches/store.sh [WORKDIR]   (needs root, python3, hyperfine, zstd)
# The tree is benches/tree.sh's (deterministic, ~500 MB).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-store}
shared=${STRATA_SHARED:-$here/../shared}
# The benchmark inputs live outside the repository, in the team's shared
# directory (bench/); say so plainly when it is not there.
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine zstd time python3 busybox-static
(cd "$here" && cargo build --release --locked -q)
strata=$here/target/release/strata

source "$here/benches/tree.sh"
make_tree "$work"
tree=$work/tree
tar -C "$tree" -cf "$work/rootfs.tar" .
echo "tree: $(find "$tree" -type f | wc -l) files, $(du -sm "$work/rootfs.tar" | cut -f1) MB as tar"

root=$work/root
# Each import gets a fresh store, and old stores are moved aside rather than
# deleted until the end: ext4 slows down inode allocation for a minute after
# mass deletion, which would charge the next run for the previous cleanup.
fresh="mv '$root' '$work/old.'\$(date +%s%N) 2>/dev/null; sync"
rm -rf "$work"/old.* "$root"
hyperfine --warmup 1 --runs 5 --export-markdown "$work/import.md" --prepare "$fresh" \
  -n 'tar -c | gzip > file' "tar -C '$tree' -c . | gzip > '$work/out.gz'; sync '$work/out.gz'" \
  -n 'strata import (gzip)' "'$strata' --root '$root' import '$work/rootfs.tar' bench:gzip" \
  -n 'tar -c | zstd > file' "tar -C '$tree' -c . | zstd -q -f -o '$work/out.zst'; sync '$work/out.zst'" \
  -n 'tar -x (unpack only)' "mkdir -p '$root' && tar -C '$root' -xf '$work/rootfs.tar'" \
  -n 'strata import (zstd)' "'$strata' --root '$root' import --compression zstd '$work/rootfs.tar' bench:zstd"
rm -rf "$work"/old.*

rm -rf "$root"
"$strata" --root "$root" import "$work/rootfs.tar" bench:gzip >/dev/null
hyperfine --warmup 1 --runs 5 --export-markdown "$work/save.md" \
  -n 'tar -c | gzip > file' "tar -C '$tree' -c . | gzip > '$work/out.gz'" \
  -n 'strata save (oci-archive)' "'$strata' --root '$root' save --format oci-archive -o '$work/out.tar' bench:gzip" \
  -n 'strata save (docker-archive)' "'$strata' --root '$root' save --format docker-archive -o '$work/out.tar' bench:gzip"

peak() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
rm -rf "$root"
echo "peak RSS, import gzip: $(peak "$strata" --root "$root" import "$work/rootfs.tar" bench:gzip) KiB"
echo "peak RSS, save docker-archive: $(peak "$strata" --root "$root" save --format docker-archive -o "$work/out.tar" bench:gzip) KiB"
cat "$work/import.md" "$work/save.md"
