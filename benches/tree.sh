#!/usr/bin/env bash
# Sourced by the store and commit benchmarks: make_tree WORK makes (once)
# the deterministic ~500 MB tree WORK/tree of ~50,000 files:
# ../shared/bench/gen-context.sh (20,000 files, ~400 MB, 80% text), 30,000
# small seeded text files (~100 MB) and a busybox binary. Needs $shared.
make_tree() {
  local work=$1
  local tree=$work/tree
  mkdir -p "$work"
  [ -f "$work/tree.done" ] && return
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
}
