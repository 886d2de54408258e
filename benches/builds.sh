#!/usr/bin/env bash
# The build benchmarks of ../shared/bench (tiny, multistage, bigcontext,
# debian-curl; the Debian base is made with debootstrap from apt's mirror):
# cold (empty store but the base image), warm (nothing changed) and change
# (one context file changed), timed with hyperfine, medians printed beside
# the reference figures measured on this machine kind.
#
# Usage (as root): benches/builds.sh [WORKDIR]
#        benches/builds.sh --vs-docker [WORKDIR]: beside a private dockerd's
#        BuildKit in the same run, ratios per cell (see benches/vs-docker.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --vs-docker ]; then
  shift
  exec bash "$here/benches/vs-docker.sh" "$@"
fi
work=${1:-/tmp/strata-bench-builds}
shared=${STRATA_SHARED:-$here/../shared}
# The benchmark inputs live outside the repository, in the team's shared
# directory (bench/); say so plainly when it is not there.
[ -d "$shared/bench" ] || { echo "error: benchmark data not found at $shared/bench (set STRATA_SHARED to the directory holding bench/)" >&2; exit 1; }
bash "$here/tests/deps.sh" hyperfine busybox-static python3 jq debootstrap
(cd "$here" && cargo build --release --locked -q)
strata=$here/target/release/strata
mkdir -p "$work"
[ -f "$work/busybox.tar" ] || bash "$shared/bench/make-busybox-rootfs.sh" "$work/busybox.tar" >/dev/null
if [ ! -f "$work/debian.tar" ]; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  rm -rf "$work/debian-rootfs"
  debootstrap --variant=minbase bookworm "$work/debian-rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  tar -C "$work/debian-rootfs" -cf "$work/debian.tar" . && rm -rf "$work/debian-rootfs"
fi
path_env="--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'"
declare -A base_import=(
  [busybox]="'$strata' import $path_env --change 'CMD [\"/bin/sh\"]' '$work/busybox.tar' localhost:5000/busybox:1 >/dev/null"
  [debian]="'$strata' import $path_env --change 'CMD [\"bash\"]' '$work/debian.tar' localhost:5000/debian:bookworm >/dev/null"
)

# A fresh store with only the base image. Old stores are moved aside, not
# deleted, until the end (ext4 slows inode allocation after mass deletes).
fresh_store() {
  echo "mv '$work/root' '$work/old.'\$(date +%s%N) 2>/dev/null; export STRATA_ROOT='$work/root'; ${base_import[$1]}; sync"
}

declare -A changed=([tiny]=hello.txt [multistage]=a.txt [bigcontext]=pkg100/assets/file050.txt [debian-curl]=note.txt)
results=()
for bench in tiny multistage bigcontext debian-curl; do
  base=busybox
  [ "$bench" = debian-curl ] && base=debian
  ctx=$work/ctx-$bench
  if [ "$bench" = bigcontext ]; then
    [ -d "$ctx" ] || bash "$shared/bench/gen-context.sh" "$ctx" >/dev/null
  else
    rm -rf "$ctx" && cp -r "$shared/bench/$bench" "$ctx"
  fi
  export STRATA_ROOT=$work/root
  build="'$strata' build -q -t bench '$ctx' >/dev/null"
  hyperfine --runs 5 --export-json "$work/$bench-cold.json" --prepare "$(fresh_store $base)" -n "$bench cold" "$build"
  hyperfine --runs 10 --warmup 2 --export-json "$work/$bench-warm.json" -n "$bench warm" "$build"
  hyperfine --runs 10 --warmup 1 --export-json "$work/$bench-change.json" \
    --prepare "echo change >> '$ctx/${changed[$bench]}'" -n "$bench change" "$build"
  median() { jq '.results[0].median' "$work/$bench-$1.json"; }
  results+=("$(printf '| %-10s | %6.2f / %6.3f / %6.2f |' "$bench" "$(median cold)" "$(median warm)" "$(median change)")")
done
rm -rf "$work"/old.*
echo
echo "| benchmark  | strata cold / warm / change (s) | BuildKit 20.10        | BuildKit 26.1         | Buildah 1.28"
echo "|------------|----------------------------------|-----------------------|-----------------------|--------------"
refs=("0.17 / 0.09 / 0.11 | 0.31 / 0.19 / 0.21 | 0.78 / 0.40 / 0.49" \
      "3.77 / 0.08 / 2.44 | 4.01 / 0.19 / 2.54 | 9.49 / 0.62 / 3.55" \
      "11.4 / 0.38 / 6.43 | 17.8 / 0.57 / 4.70 | 12.4 / 5.49 / 13.0" \
      "5.83 / 0.08 / 0.10 | 5.90 / 0.19 / 0.22 | 6.63 / 0.16 / 0.21")
for i in 0 1 2 3; do echo "${results[$i]} ${refs[$i]}"; done
