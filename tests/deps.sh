#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Idempotent:
# packages already present are not fetched again.
set -euo pipefail
# Without arguments: everything the integration tests call.
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  packages=(busybox-static skopeo umoci oci-image-tool gcc libc6-dev docker-registry apache2-utils e2fsprogs zstd slirp4netns iproute2 docker.io buildah attr qemu-user-static binfmt-support fuse-overlayfs fuse3)
fi
needed=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi

# Multi-platform tests (tests/platform.rs): an arm64 busybox-static package
# in a cache outside the repository (it is 800 kB of binary; GPL-2, from
# Debian), and qemu's binfmt_misc handlers registered with the F flag.
if [ $# -eq 0 ]; then
  cache=${STRATA_TEST_CACHE:-/var/cache/strata-test}
  mkdir -p "$cache"
  if ! ls "$cache"/busybox-static_*_arm64.deb >/dev/null 2>&1; then
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
    (cd "$cache" && apt-get download -qq busybox-static:arm64)
  fi
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
fi
# An unprivileged user with subordinate ids for the rootless suite (uidmap
# provides newuidmap/newgidmap). Idempotent like the packages above.
rootless_user=strata-test
dpkg-query -W -f='${Status}' uidmap 2>/dev/null | grep -q 'install ok installed' || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends uidmap
}
id -u "$rootless_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$rootless_user"
for file in /etc/subuid /etc/subgid; do
  grep -q "^$rootless_user:" "$file" 2>/dev/null || echo "$rootless_user:200000:65536" >>"$file"
done
# Rootless NAT (slirp4netns, pasta) opens /dev/net/tun as the user: udev
# makes it 0666 on a stock system; some machines leave it 0600.
[ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
# fuse-overlayfs (the rootless fuse snapshotter) opens /dev/fuse as the
# user: 0666 on a stock system (udev), 0600 on some machines.
[ -c /dev/fuse ] && chmod 0666 /dev/fuse
# A second user without subordinate ids: strata maps only its own uid.
id -u strata-nosubid >/dev/null 2>&1 || useradd --create-home --shell /bin/sh strata-nosubid
for file in /etc/subuid /etc/subgid; do
  sed -i '/^strata-nosubid:/d' "$file"
done
