#!/usr/bin/env bash
# Import and save throughput on a ~500 MB rootfs of ~50,000 files, against
# the plain pipelines `tar -c | gzip` and `tar -c | zstd` on the same tree,
# timed in the same run with hyperfine; peak memory from GNU time.
#
# Usage: benches/store.sh [WORKDIR]   (needs root, python3, hyperfine, zstd)
# The tree is deterministic: ../shared/bench/gen-context.sh (20,000 files,
# ~400 MB, 80% text) plus 30,000 small seeded text files (~100 MB) and a
# busybox root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-store}
shared=${STRATA_SHARED:-$here/../shared}
bash "$here/tests/deps.sh" hyperfine zstd time python3 busybox-static
(cd "$here" && cargo build --release --locked -q)
strata=$here/target/release/strata

mkdir -p "$work"
tree=$work/tree
if [ ! -f "$work/tree.done" ]; then
  rm -rf "$tree"
  bash "$shared/bench/gen-context.sh" "$tree/srv/data" >/dev/null
  python3 - "$tree/usr/share/small" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(500)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
for d in range(300):
    sub = os.path.join(root, f"d{d:03d}")
    os.makedirs(sub)
    for f in range(100):
        n = rng.randint(150, 900)
        with open(os.path.join(sub, f"f{f:03d}.txt"), "wb") as fh:
            fh.write(b" ".join(rng.choice(words) for _ in range(n)))
PY
  mkdir -p "$tree/bin" && cp "$(command -v busybox)" "$tree/bin/busybox"
  touch "$work/tree.done"
fi
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
