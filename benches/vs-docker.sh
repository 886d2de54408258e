#!/usr/bin/env bash
# strata beside Docker's BuildKit in the same run (`benches/builds.sh
# --vs-docker`): tiny, multistage and bigcontext from ../shared/bench, cold
# (prune, then build, on both sides), warm (nothing changed) and change (one
# context file changed), both tools in ONE hyperfine invocation per cell;
# prints the medians, the ratio strata/docker and strata's peak RSS per cell.
#
# Docker is Debian's docker.io (20.10), started privately as
# tests/support/docker.rs does: its own data root, exec root, pid file and
# socket, no bridge, no iptables, no forwarding; builds with BuildKit
# (DOCKER_BUILDKIT=1) and --network=host. Docker 26 is not installable on
# this machine (no internet but Debian's mirror), so it is not in the table.
# Both tools get the same base: the busybox rootfs tarball of
# ../shared/bench, imported as localhost:5000/busybox:1 by each.
#
# Usage (as root): benches/builds.sh --vs-docker [WORKDIR]
# Env: STRATA_BIN (a built binary; default: cargo build --release),
#      STRATA_SHARED (holds bench/), BENCHES (default "tiny multistage bigcontext"),
#      RUNS_COLD (default 5), RUNS (warm/change, default 10).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# A short path: dockerd's sockets live under it (108-byte limit).
work=${1:-/tmp/svd}
shared=${STRATA_SHARED:-$here/../shared}
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine busybox-static jq docker.io time
if [ -z "${STRATA_BIN:-}" ]; then
  (cd "$here" && cargo build --release --locked -q)
  STRATA_BIN=$here/target/release/strata
fi
strata=$STRATA_BIN
benches=${BENCHES:-tiny multistage bigcontext}
runs_cold=${RUNS_COLD:-5}
runs=${RUNS:-10}
mkdir -p "$work"
[ -f "$work/busybox.tar" ] || bash "$shared/bench/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
path_env='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# ---------------------------------------------------------------- dockerd
dd_dir=$work/dockerd
export DOCKER_HOST=unix://$dd_dir/docker.sock DOCKER_BUILDKIT=1 DOCKER_CONFIG=$dd_dir/client
docker=/usr/bin/docker
stop_dockerd() {
  local pid
  pid=$(cat "$dd_dir/docker.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  pid=$(cat "$dd_dir/exec/containerd/containerd.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null || true
  { grep -o " $dd_dir[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # A lazily detached mount can keep a directory busy for a moment.
  rm -rf "$dd_dir" 2>/dev/null || { sleep 1; rm -rf "$dd_dir" || true; }
}
stop_dockerd
mkdir -p "$dd_dir"
trap 'stop_dockerd; rm -rf "$work"/old.*' EXIT
/usr/sbin/dockerd --data-root "$dd_dir/data" --exec-root "$dd_dir/exec" --pidfile "$dd_dir/docker.pid" -H "$DOCKER_HOST" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
  --containerd-namespace strata-bench --containerd-plugins-namespace strata-bench-plugins \
  --storage-driver=overlay2 >/dev/null 2>"$dd_dir/dockerd.log" &
for _ in $(seq 1 300); do $docker version >/dev/null 2>&1 && break; sleep 0.2; done
$docker version >/dev/null || { cat "$dd_dir/dockerd.log" >&2; exit 1; }
$docker import --change "$path_env" --change 'CMD ["/bin/sh"]' "$work/busybox.tar" localhost:5000/busybox:1 >/dev/null

# ---------------------------------------------------------------- cells
export STRATA_ROOT=$work/root
mv "$work/root" "$work/old.$(date +%s%N)" 2>/dev/null || true
"$strata" import --change "$path_env" --change 'CMD ["/bin/sh"]' "$work/busybox.tar" localhost:5000/busybox:1 >/dev/null
# Cold on both sides: the built image and every cache record go, the base stays.
strata_prune="'$strata' rmi bench >/dev/null 2>&1; '$strata' cache prune --all -f >/dev/null; sync"
docker_prune="$docker rmi -f bench >/dev/null 2>&1; $docker builder prune -af >/dev/null; sync"
declare -A changed=([tiny]=hello.txt [multistage]=a.txt [bigcontext]=pkg100/assets/file050.txt)
rows=()
median() { jq -r ".results[$2].median" "$work/$1.json"; }
rss() { /usr/bin/time -f %M -o "$work/rss" bash -c "$1" >/dev/null 2>&1; echo $(( $(cat "$work/rss") / 1024 )); }
cell() { # bench kind strata_cmd docker_cmd hyperfine_args...
  local bench=$1 kind=$2 s=$3 d=$4
  shift 4
  hyperfine --style basic --export-json "$work/$bench-$kind.json" "$@" -n "strata $bench $kind" "$s" -n "docker $bench $kind" "$d"
  local sm dm
  sm=$(median "$bench-$kind" 0) dm=$(median "$bench-$kind" 1)
  rows+=("$(printf '| %-10s | %-6s | %8.3f | %8.3f | %5.2f | %6s |' "$bench" "$kind" "$sm" "$dm" "$(awk -v s="$sm" -v d="$dm" 'BEGIN { print s / d }')" "$peak")")
}
for bench in $benches; do
  ctx=$work/ctx-$bench
  if [ "$bench" = bigcontext ]; then
    [ -d "$ctx" ] || bash "$shared/bench/gen-context.sh" "$ctx" >/dev/null
  else
    rm -rf "$ctx" && cp -r "$shared/bench/$bench" "$ctx"
  fi
  s_build="'$strata' build -q -t bench '$ctx' >/dev/null"
  d_build="$docker build --network=host -q -t bench '$ctx' >/dev/null"
  bash -c "$strata_prune"
  peak=$(rss "$s_build")
  cell "$bench" cold "$s_build" "$d_build" --runs "$runs_cold" --prepare "$strata_prune" --prepare "$docker_prune"
  peak=$(rss "$s_build")
  cell "$bench" warm "$s_build" "$d_build" --runs "$runs" --warmup 2
  change="echo change >> '$ctx/${changed[$bench]}'"
  peak=$(rss "$change; $s_build")
  cell "$bench" change "$s_build" "$d_build" --runs "$runs" --warmup 1 --prepare "$change" --prepare "$change"
done
echo
echo "strata $("$strata" --version 2>/dev/null | head -1) vs Docker $($docker version -f '{{.Server.Version}}') (BuildKit), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| benchmark  | case   | strata s | docker s | ratio | strata peak RSS MB |"
echo "|------------|--------|----------|----------|-------|--------------------|"
printf '%s\n' "${rows[@]}"
