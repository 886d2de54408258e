#!/usr/bin/env bash
# Rootless against root, in the same run: the shared benchmarks tiny,
# multistage and bigcontext, warm (nothing changed) and change (one context
# file changed), plus RUN overhead (`RUN true`, --no-cache), each built by
# root and by the unprivileged strata-test (tests/deps.sh makes it) with
# stores of their own. Prints medians and the rootless/root ratios.
#
# Usage (as root): benches/rootless.sh [WORKDIR]   (STRATA_BIN: the binary,
# default target/release/strata, built when missing)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-rootless}
shared=${STRATA_SHARED:-$here/../shared}
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine busybox-static jq >/dev/null
strata=${STRATA_BIN:-$here/target/release/strata}
[ -x "$strata" ] || (cd "$here" && cargo build --release --locked -q)
user=strata-test
mkdir -p "$work" && chown "$user:$user" "$work"
[ -f "$work/busybox.tar" ] || bash "$shared/bench/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
chmod a+r "$work/busybox.tar"
as_root="env STRATA_ROOT=$work/store-root"
as_user="setpriv --reuid $user --regid $user --init-groups -- env HOME=$work STRATA_ROOT=$work/store-user"
for who in as_root as_user; do
  ${!who} "$strata" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' "$work/busybox.tar" localhost:5000/busybox:1 >/dev/null
done
mkdir -p "$work/ctx-run" && printf 'FROM localhost:5000/busybox:1\nRUN true\n' >"$work/ctx-run/Dockerfile"
declare -A changed=([tiny]=hello.txt [multistage]=a.txt [bigcontext]=pkg100/assets/file050.txt)
rows=()
median() { jq '.results[0].median' "$1"; }
measure() { # name, prepare, command suffix, runs
  local name=$1 prepare=$2 suffix=$3 runs=$4
  for who in as_root as_user; do
    hyperfine --runs "$runs" --warmup 1 --prepare "$prepare" --export-json "$work/$name-$who.json" -n "$name $who" \
      "${!who} '$strata' build -q -t bench $suffix >/dev/null"
  done
  local r u
  r=$(median "$work/$name-as_root.json") u=$(median "$work/$name-as_user.json")
  rows+=("$(printf '| %-18s | %7.3f | %7.3f | %5.2fx |' "$name" "$r" "$u" "$(echo "$u / $r" | bc -l)")")
}
for bench in tiny multistage bigcontext; do
  ctx=$work/ctx-$bench
  if [ "$bench" = bigcontext ]; then
    [ -d "$ctx" ] || bash "$shared/bench/gen-context.sh" "$ctx" >/dev/null
  else
    rm -rf "$ctx" && cp -r "$shared/bench/$bench" "$ctx"
  fi
  chmod -R a+rX "$ctx"
  runs=10
  [ "$bench" = bigcontext ] && runs=3
  measure "$bench warm" true "'$ctx'" "$runs"
  measure "$bench change" "echo change >> '$ctx/${changed[$bench]}'" "'$ctx'" "$runs"
done
measure "RUN true (no cache)" true "--no-cache '$work/ctx-run'" 10
echo
echo "| case               | root (s) | rootless (s) | rootless/root |"
echo "|--------------------|----------|--------------|---------------|"
printf '%s\n' "${rows[@]}"
