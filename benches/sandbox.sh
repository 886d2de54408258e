#!/usr/bin/env bash
# Container start-to-exit for `RUN true` and `strata run --rm IMAGE true`:
# the private network (one slirp4netns per build or run), `--network none`,
# and a baseline binary (its default network); then a step that downloads
# a 50 MB file from a server on the host's own address, through the NAT
# and with `--network host`. Timed with hyperfine; medians are printed.
#
# Usage (as root): benches/sandbox.sh [WORKDIR]
#   STRATA=path      the binary measured (default: a release build of this tree)
#   BASELINE=path    the binary compared with (default: /tmp/strata-main, if present)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-sandbox}
bash "$here/tests/deps.sh" hyperfine busybox-static slirp4netns iproute2 python3
if [ -z "${STRATA:-}" ]; then
  (cd "$here" && cargo build --release --locked -q)
  STRATA=${CARGO_TARGET_DIR:-$here/target}/release/strata
fi
BASELINE=${BASELINE:-/tmp/strata-main}
rm -rf "$work" && mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/ctx" "$work/dl"
cp "$(command -v busybox)" "$work/rootfs/bin/"
for applet in $(busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/busybox.tar" .
printf 'FROM busybox\nRUN true\n' > "$work/ctx/Dockerfile"

runs=()
measure() { # NAME BINARY ARGS...
  local name=$1 bin=$2; shift 2
  local root="$work/root-$(basename "$bin")"
  [ -d "$root" ] || "$bin" --root "$root" import -c 'ENV PATH=/bin' "$work/busybox.tar" busybox:latest >/dev/null
  hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json "$work/$name.json" "$bin --root $root $*" >/dev/null 2>&1 \
    || hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json "$work/$name.json" "$bin --root $root $*"
  runs+=("$name")
}
median() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['results'][0]['median']*1000, 1))" "$work/$1.json"; }

measure build-private "$STRATA" build -q --no-cache "$work/ctx"
measure build-none "$STRATA" build -q --no-cache --network none "$work/ctx"
measure run-private "$STRATA" run --rm busybox:latest true
measure run-none "$STRATA" run --rm --network none busybox:latest true
if [ -x "$BASELINE" ]; then
  measure build-baseline "$BASELINE" build -q --no-cache "$work/ctx"
  measure run-baseline "$BASELINE" run --rm busybox:latest true
fi

# 50 MB from a server on the host's own address (the apt-get case).
addr=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
[ -n "$addr" ] || { echo "no global IPv4 address on this host" >&2; exit 1; }
head -c 50000000 /dev/urandom > "$work/dl/blob"
port=18765
(cd "$work/dl" && exec python3 -m http.server "$port" --bind "$addr" >/dev/null 2>&1) &
server=$!
trap 'kill $server' EXIT
sleep 1
printf 'FROM busybox\nRUN printf "GET /blob HTTP/1.0\\r\\n\\r\\n" | nc %s %s | wc -c\n' "$addr" "$port" > "$work/dl/Dockerfile"
measure download-nat "$STRATA" build -q --no-cache "$work/dl"
measure download-host "$STRATA" build -q --no-cache --network host --allow network.host "$work/dl"

printf '%-16s %10s\n' case 'median ms'
for name in "${runs[@]}"; do printf '%-16s %10s\n' "$name" "$(median "$name")"; done

# One container's start-to-exit inside a build (JSON progress: a step's
# `started` to its `resources` event, ms resolution), for the first RUN
# (which starts the build's NAT) and the second (which joins it).
mkdir -p "$work/two" && printf 'FROM busybox\nRUN true\nRUN true\n' > "$work/two/Dockerfile"
step_ms() { # STEP_ID BINARY ARGS...
  local id=$1 bin=$2; shift 2
  for _ in $(seq 15); do
    "$bin" --root "$work/root-$(basename "$bin")" build --progress json --no-cache "$@" "$work/two" 2>/dev/null | python3 -c '
import sys, json, datetime
at = {}
for line in sys.stdin:
    event = json.loads(line)
    if event.get("id") == int(sys.argv[1]) and event["event"] in ("started", "resources"):
        at[event["event"]] = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
print((at["resources"] - at["started"]).total_seconds() * 1000)' "$id"
  done | sort -n | sed -n 8p
}
printf '%-16s %10s %10s\n' 'RUN true in a build' 'first ms' 'second ms'
printf '%-16s %10s %10s\n' private "$(step_ms 1 "$STRATA")" "$(step_ms 2 "$STRATA")"
printf '%-16s %10s %10s\n' none "$(step_ms 1 "$STRATA" --network none)" "$(step_ms 2 "$STRATA" --network none)"
[ -x "$BASELINE" ] && printf '%-16s %10s %10s\n' baseline "$(step_ms 1 "$BASELINE")" "$(step_ms 2 "$BASELINE")"
true
