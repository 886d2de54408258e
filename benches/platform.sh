#!/usr/bin/env bash
# Multi-platform builds: `build --platform linux/amd64,linux/arm64` of the
# shared multistage benchmark (../shared/bench/multistage) against two
# single-platform builds one after the other, in one hyperfine run, each
# command from a fresh store holding the base for both platforms
# (Debian's busybox-static for amd64 and arm64, imported under one name).
# The arm64 RUNs run under qemu-user (binfmt_misc).
#
# Variants:
#   multistage    the shared Dockerfile: every CPU stage is a target-platform stage
#   buildplatform the same with `FROM --platform=$BUILDPLATFORM` on the CPU
#                 stages (the cross-compilation pattern): they run once, natively
# Baselines: `seq` = the two single builds in one store (the second reuses
# the first's cache where keys are equal), `apart` = each in its own store.
#
# Usage (as root): benches/platform.sh [WORKDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-platform}
shared=${STRATA_SHARED:-$here/../shared}
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine busybox-static jq
(cd "$here" && flock /tmp/cargo.lock cargo build --release --locked -q)
strata=$here/target/release/strata
runs=${RUNS:-3}
mkdir -p "$work"
[ -f "$work/busybox.tar" ] || bash "$shared/bench/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
if [ ! -f "$work/busybox-arm64.tar" ]; then
  deb=$(ls "${STRATA_TEST_CACHE:-/var/cache/strata-test}"/busybox-static_*_arm64.deb | head -1)
  rm -rf "$work/arm64" && mkdir -p "$work/arm64/rootfs" "$work/arm64/deb"
  tar -C "$work/arm64/rootfs" -xf "$work/busybox.tar"
  dpkg-deb -x "$deb" "$work/arm64/deb"
  cp "$work/arm64/deb/bin/busybox" "$work/arm64/rootfs/bin/busybox"
  tar -C "$work/arm64/rootfs" -cf "$work/busybox-arm64.tar" . && rm -rf "$work/arm64"
fi
changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["/bin/sh"]')
# A store with the base for both platforms, copied for each run.
rm -rf "$work/base-root"
STRATA_ROOT=$work/base-root "$strata" import "${changes[@]}" --platform linux/amd64 "$work/busybox.tar" localhost:5000/busybox:1 >/dev/null
STRATA_ROOT=$work/base-root "$strata" import "${changes[@]}" --platform linux/arm64 "$work/busybox-arm64.tar" localhost:5000/busybox:1 >/dev/null

rm -rf "$work/ctx-multistage" "$work/ctx-buildplatform"
cp -r "$shared/bench/multistage" "$work/ctx-multistage"
cp -r "$shared/bench/multistage" "$work/ctx-buildplatform"
sed -i 's|^FROM localhost:5000/busybox:1 AS|FROM --platform=$BUILDPLATFORM localhost:5000/busybox:1 AS|' "$work/ctx-buildplatform/Dockerfile"

fresh="rm -rf '$work/r1' '$work/r2'; cp -a '$work/base-root' '$work/r1'; cp -a '$work/base-root' '$work/r2'; sync"
for variant in multistage buildplatform; do
  ctx=$work/ctx-$variant
  one() { echo "STRATA_ROOT='$work/$1' '$strata' build -q --platform $2 -t bench '$ctx' >/dev/null"; }
  hyperfine --runs "$runs" --prepare "$fresh" --export-json "$work/$variant.json" \
    -n "$variant two-platform" "$(one r1 linux/amd64,linux/arm64)" \
    -n "$variant seq" "$(one r1 linux/amd64) && $(one r1 linux/arm64)" \
    -n "$variant apart" "$(one r1 linux/amd64) && $(one r2 linux/arm64)"
done
echo
for variant in multistage buildplatform; do
  jq -r --arg v "$variant" '.results as $r | ($r[0].median) as $m |
    "\($v): two-platform \($m*100|round/100) s; seq \($r[1].median*100|round/100) s (ratio \($m/$r[1].median*100|round/100)); apart \($r[2].median*100|round/100) s (ratio \($m/$r[2].median*100|round/100))"' "$work/$variant.json"
done
rm -rf "$work/r1" "$work/r2" "$work/base-root"
