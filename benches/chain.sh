#!/usr/bin/env bash
# Long chains of stages (`FROM s{i-1} AS s{i}`), cold: the scheduler's and
# the planner's cost per stage, without containers. Two shapes: a bare
# chain (each stage only its FROM) and one with an ENV per stage (the
# config and its history grow along the chain). Prints hyperfine medians
# and the threads the build ran at most.
#
# Usage (as root): benches/chain.sh [WORKDIR]
# Env: STRATA_BIN (default: cargo build --release), SIZES (default "1000 2000 5000").
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-chain}
bash "$here/tests/deps.sh" hyperfine busybox-static
if [ -z "${STRATA_BIN:-}" ]; then
  (cd "$here" && cargo build --release --locked -q)
  STRATA_BIN=$here/target/release/strata
fi
strata=$STRATA_BIN
mkdir -p "$work/rootfs/bin"
cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
tar -C "$work/rootfs" -cf "$work/base.tar" .
export STRATA_ROOT=$work/root
rm -rf "$STRATA_ROOT"
"$strata" import "$work/base.tar" base:1 >/dev/null
trap 'rm -rf "$work"' EXIT
# Every build is cold: the cache records of the last one go first.
prune="'$strata' cache prune --all -f >/dev/null"
for n in ${SIZES:-1000 2000 5000}; do
  for shape in bare env; do
    ctx=$work/$shape-$n
    mkdir -p "$ctx"
    {
      echo "FROM base:1 AS s0"
      for i in $(seq 1 $((n - 1))); do
        echo "FROM s$((i - 1)) AS s$i"
        [ "$shape" = env ] && echo "ENV N=$i"
      done
    } > "$ctx/Dockerfile"
    hyperfine --style basic --runs 3 --prepare "$prune" -n "$shape chain of $n" "'$strata' build -q -t chain '$ctx' >/dev/null"
    "$strata" build -q -t chain "$ctx" >/dev/null & pid=$!
    most=0
    while kill -0 "$pid" 2>/dev/null; do
      t=$( (ls "/proc/$pid/task" 2>/dev/null || true) | wc -l)
      [ "$t" -gt "$most" ] && most=$t
      sleep 0.01
    done
    wait "$pid"
    echo "$shape chain of $n: at most $most threads"
  done
done
