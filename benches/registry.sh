#!/usr/bin/env bash
# Pull and push throughput of a 300 MB, 5-layer image against a loopback
# registry (Debian's docker-registry), beside `skopeo copy` of the same image
# in the same run, with hyperfine.
#
# Usage: benches/registry.sh [WORKDIR]   (needs root, python3, hyperfine)
#
# The image: 5 COPY layers of 60 MB each (half seeded random bytes, half
# seeded text), built by strata, pushed once (which compresses each layer
# once, gzip) and pulled into a second store, so both tools move the same
# gzip blobs: strata from its store, skopeo from an OCI layout of it.
# - push: an empty registry each run (storage wiped);
#   strata push          vs  skopeo copy oci:LAYOUT docker://…
# - pull: a fresh strata store / an empty layout each run;
#   strata pull          vs  skopeo copy docker://… oci:LAYOUT
#   Both store the blobs alone (strata unpacks a layer on first use, where
#   it checks the diff_id), so two more commands add the unpacking: a
#   build FROM the pulled image, and `tar -xzf` of each layer after
#   skopeo's copy. Then the peak RSS of each (/usr/bin/time -f %M).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-registry}
runs=${RUNS:-5}
bash "$here/tests/deps.sh" hyperfine python3 skopeo docker-registry busybox-static
# STRATA_BIN: a strata binary built already (else a release build is made).
strata=${STRATA_BIN:-}
if [ -z "$strata" ]; then
  (cd "$here" && cargo build --release --locked -q)
  strata=$here/target/release/strata
fi
export DOCKER_CONFIG=$work/docker-config

mkdir -p "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
storage=$work/registry
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: $host
  secret: strata-bench
YML
rm -rf "$storage"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
# The stores, layouts and registry storage are large: removed at exit
# (the results, *.md, and the generated context stay).
trap 'kill $registry_pid 2>/dev/null || true; rm -rf "$storage" "$work"/seed-root "$work"/src-root "$work"/pull-root "$work"/layout "$work"/pulled "$work"/first-use' EXIT
for _ in $(seq 100); do curl -fs "http://$host/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

context=$work/context
if [ ! -f "$work/context.done" ]; then
  rm -rf "$context" && mkdir -p "$context"
  python3 - "$context" <<'PY'
import os, random, sys
root = sys.argv[1]
for n in range(5):
    rng = random.Random(300 + n)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]
    with open(os.path.join(root, f"layer{n}.bin"), "wb") as fh:
        fh.write(rng.randbytes(30 << 20))
        text = bytearray()
        while len(text) < (30 << 20):
            text += b" ".join(rng.choice(words) for _ in range(1000)) + b"\n"
        fh.write(text[: 30 << 20])
PY
  {
    echo "FROM scratch"
    for n in 0 1 2 3 4; do echo "COPY layer$n.bin /data/layer$n.bin"; done
  } > "$context/Dockerfile"
  touch "$work/context.done"
fi

# Build, push once (compress once), pull into the store the runs push from.
seed=$work/seed-root
src=$work/src-root
rm -rf "$seed" "$src" "$work/layout"
"$strata" --root "$seed" build -q -t "$host/bench/seed:1" "$context" >/dev/null
"$strata" --root "$seed" push -q "$host/bench/seed:1" >/dev/null
"$strata" --root "$src" pull -q "$host/bench/seed:1" >/dev/null
"$strata" --root "$src" save --format oci-dir -o "$work/layout" "$host/bench/seed:1"
echo "image: $(du -sm "$work/layout/blobs" | cut -f1) MB of blobs, 5 layers"

wipe="rm -rf '$storage/docker'"
hyperfine --runs "$runs" --export-markdown "$work/push.md" --prepare "$wipe" \
  -n 'strata push' "'$strata' --root '$src' push -q '$host/bench/seed:1' '$host/bench/strata:1'" \
  -n 'skopeo copy oci: → docker://' "skopeo copy -q --dest-tls-verify=false 'oci:$work/layout:1' 'docker://$host/bench/skopeo:1'"

# Something to pull: both names, pushed once.
"$strata" --root "$src" push -q "$host/bench/seed:1" "$host/bench/strata:1" >/dev/null
pull_root=$work/pull-root
# skopeo's copy, then every layer unpacked with tar (what a pull followed by
# a first use does).
cat > "$work/skopeo-unpack.sh" <<SH
set -e
skopeo copy -q --src-tls-verify=false 'docker://$host/bench/strata:1' 'oci:$work/pulled:1'
mkdir '$work/pulled/rootfs'
manifest=\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' '$work/pulled/index.json')
for layer in \$(python3 -c 'import json,sys; print(" ".join(l["digest"][7:] for l in json.load(open(sys.argv[1]))["layers"]))' "$work/pulled/blobs/sha256/\$manifest"); do
  tar -xzf "$work/pulled/blobs/sha256/\$layer" -C '$work/pulled/rootfs'
done
SH
# strata's pull, then a first use: a build on the image (every layer is
# unpacked, its diff_id checked, and a one-file layer committed).
first_use=$work/first-use
mkdir -p "$first_use"
printf 'FROM %s\nCOPY Dockerfile /\n' "$host/bench/strata:1" > "$first_use/Dockerfile"
cat > "$work/strata-first-use.sh" <<SH
set -e
'$strata' --root '$pull_root' pull -q '$host/bench/strata:1' >/dev/null
'$strata' --root '$pull_root' build -q --no-gc '$first_use' >/dev/null
SH
# STRATA_BASE_BIN: another strata binary (the one before a change) pulled
# beside it in the same run.
base_cmd=()
if [ -n "${STRATA_BASE_BIN:-}" ]; then
  base_cmd=(-n 'strata pull (base binary)' "'$STRATA_BASE_BIN' --root '$pull_root' pull -q '$host/bench/strata:1'")
fi
hyperfine --runs "$runs" --export-markdown "$work/pull.md" --export-json "$work/pull.json" \
  --prepare "rm -rf '$pull_root' '$work/pulled'; sync" \
  -n 'strata pull' "'$strata' --root '$pull_root' pull -q '$host/bench/strata:1'" \
  -n 'skopeo copy docker:// → oci:' "skopeo copy -q --src-tls-verify=false 'docker://$host/bench/strata:1' 'oci:$work/pulled:1'" \
  "${base_cmd[@]}" \
  -n 'strata pull + first use (build FROM it)' "bash '$work/strata-first-use.sh'" \
  -n 'skopeo copy + tar -xzf layers' "bash '$work/skopeo-unpack.sh'"
# Peak memory (max RSS, /usr/bin/time) of one pull each, fresh.
rm -rf "$pull_root" "$work/pulled"
strata_rss=$( { /usr/bin/time -f %M "$strata" --root "$pull_root" pull -q "$host/bench/strata:1" >/dev/null; } 2>&1 | tail -1)
first_rss=$( { /usr/bin/time -f %M "$strata" --root "$pull_root" build -q --no-gc "$first_use" >/dev/null; } 2>&1 | tail -1)
skopeo_rss=$( { /usr/bin/time -f %M skopeo copy -q --src-tls-verify=false "docker://$host/bench/strata:1" "oci:$work/pulled:1"; } 2>&1 | tail -1)
cat "$work/push.md" "$work/pull.md"
python3 - "$work/pull.json" <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
def ratio(a, b):
    print(f"{a} / {b}: {results[a]['median'] / results[b]['median']:.2f}x (medians)")
ratio("strata pull", "skopeo copy docker:// → oci:")
if "strata pull (base binary)" in results:
    ratio("strata pull", "strata pull (base binary)")
ratio("strata pull + first use (build FROM it)", "skopeo copy + tar -xzf layers")
PY
echo "peak RSS: strata pull ${strata_rss} KiB, first use (build) ${first_rss} KiB, skopeo copy ${skopeo_rss} KiB"
