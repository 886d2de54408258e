#!/usr/bin/env bash
# Files written once: bigcontext (20,000 files, 400 MB) change and cold, a
# COPY --from of that tree, and a context of 200,000 empty files cold, each
# beside its floor in the same hyperfine invocation (ratios, not absolute
# times, are the result):
#   change    strata (and $BASELINE, an older strata binary, when set)
#   cold      strata (prune: a fresh store with only the base) vs
#             cp -a + sync of the same context on the same disk
#   200k cold strata vs tar -c | tar -x of the same tree
# Neither side deletes its previous output before a run: both move it
# aside (untimed) and it is deleted at the end, since ext4 slows inode
# allocation for a while after a mass delete, which would tax whichever
# ran next and make the pair measure the deletes.
#
# Usage (as root): benches/files.sh [WORKDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-files}
shared=${STRATA_SHARED:-$here/../shared}
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine busybox-static python3
[ -n "${STRATA:-}" ] || (cd "$here" && flock /tmp/cargo.lock cargo build --release --locked -q)
strata=${STRATA:-$here/target/release/strata}
mkdir -p "$work"
[ -f "$work/busybox.tar" ] || bash "$shared/bench/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
[ -d "$work/big" ] || bash "$shared/bench/gen-context.sh" "$work/big" >/dev/null
if [ ! -d "$work/many" ]; then
  mkdir -p "$work/many"
  printf 'FROM localhost:5000/busybox:1\nCOPY . /app\n' > "$work/many/Dockerfile"
  python3 -c 'import os,sys
for d in range(200):
    p = os.path.join(sys.argv[1], f"d{d:03d}"); os.makedirs(p)
    for f in range(1000): open(os.path.join(p, f"f{f:04d}"), "w").close()' "$work/many"
fi
import="import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD [\"/bin/sh\"]' '$work/busybox.tar' localhost:5000/busybox:1 >/dev/null"
# Old stores are moved aside, not deleted, until the end (ext4 slows inode
# allocation after mass deletes, which would tax whichever runs next).
fresh() { echo "mv '$work/$1' '$work/old.'\$(date +%s%N) 2>/dev/null || true; STRATA_ROOT='$work/$1' '$2' $import; sync"; }
aside() { echo "mv '$work/$1' '$work/old.'\$(date +%s%N) 2>/dev/null || true; sync"; }
build() { echo "env STRATA_ROOT='$work/$1' '$2' build -q -t bench '$3'"; }

for store in new old; do
  bin=$strata; [ $store = old ] && bin=${BASELINE:-$strata}
  [ -d "$work/$store" ] || { eval "$(fresh $store "$bin")"; eval "$(build $store "$bin" "$work/big")" >/dev/null; }
done
change=(-n "strata change" "$(build new "$strata" "$work/big")")
[ -n "${BASELINE:-}" ] && change+=(-n "baseline change" "$(build old "$BASELINE" "$work/big")")
hyperfine -N --runs 8 --warmup 1 --export-json "$work/change.json" --prepare "sh -c 'echo change >> $work/big/pkg100/assets/file050.txt'" "${change[@]}"

hyperfine --runs 5 --export-json "$work/cold.json" \
  --prepare "$(fresh cold "$strata")" -n "strata cold" "$(build cold "$strata" "$work/big") >/dev/null" \
  --prepare "$(aside copy)" -n "cp -a + sync" "cp -a '$work/big' '$work/copy' && sync"

hyperfine --runs 3 --export-json "$work/many.json" \
  --prepare "$(fresh cold "$strata")" -n "strata cold, 200,000 files" "$(build cold "$strata" "$work/many") >/dev/null" \
  --prepare "$(aside untar)" -n "tar -c | tar -x" "mkdir '$work/untar' && tar -C '$work/many' -c . | tar -C '$work/untar' -x"

rm -rf "$work"/old.* "$work/copy" "$work/untar"
ratio() { jq -r '.results | "\(.[0].command): \(.[0].median) s, \(.[1].command): \(.[1].median) s, ratio \(.[0].median / .[1].median)"' "$work/$1.json"; }
echo
[ -n "${BASELINE:-}" ] && ratio change
ratio cold
ratio many
