#!/usr/bin/env bash
# `strata cache du` on a store with 10,000 cache records (each with its own
# layer: blob + snapshot), timed with hyperfine against `du -sh` of the same
# store in the same run. The store is filled by benches/cache_du.rs, which
# also prints its in-process timing (cold: snapshot sizes not yet measured).
#
# Usage: benches/cache.sh [WORKDIR]   (needs hyperfine)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-cache}
records=${STRATA_BENCH_RECORDS:-10000}
bash "$here/tests/deps.sh" hyperfine
(cd "$here" && cargo build --release --locked -q)
strata=$here/target/release/strata

rm -rf "$work" && mkdir -p "$work"
root=$work/root
# Fills the store; its first inventory is the cold one.
(cd "$here" && STRATA_BENCH_ROOT=$root STRATA_BENCH_RECORDS=$records cargo bench --locked -q --bench cache_du)
echo "store: $(du -sh "$root" | cut -f1), $(ls "$root/snapshots" | wc -l) snapshots, $(ls "$root/blobs/sha256" | wc -l) blobs"
hyperfine --warmup 3 --runs 20 -N \
  "$strata --root $root cache du" \
  "$strata --root $root cache du --format json" \
  "du -sh $root"
