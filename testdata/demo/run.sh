#!/usr/bin/env bash
# The demo, from a fresh machine (as root): build strata, make a busybox base
# image from Debian's busybox-static, build this directory's multi-stage
# Dockerfile (RUN with a cache mount and a heredoc, COPY --from), build it
# again (every step cached), and run the result.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bash "$repo/tests/deps.sh" busybox-static
(cd "$repo" && cargo build --release --locked --quiet)
strata=$repo/target/release/strata
export STRATA_ROOT=${STRATA_ROOT:-$repo/target/demo-store}

if ! "$strata" images --format json | grep -q '"Repository":"busybox","Tag":"latest"'; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev}
  chmod 1777 "$rootfs/tmp"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  chroot "$rootfs" /bin/busybox --install -s /bin
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\n' > "$rootfs/etc/group"
  tar -C "$rootfs" --numeric-owner -c . | "$strata" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' - busybox:latest
fi

echo "== build"
"$strata" build -t demo "$here"
echo "== rebuild (nothing changed)"
"$strata" build -t demo "$here"
echo "== run"
"$strata" run --rm demo
