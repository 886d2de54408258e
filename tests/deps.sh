#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Idempotent:
# packages already present are not fetched again.
set -euo pipefail
# Without arguments: everything the integration tests call.
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  packages=(busybox-static skopeo umoci oci-image-tool gcc libc6-dev docker-registry apache2-utils e2fsprogs zstd slirp4netns iproute2 docker.io buildah attr)
fi
needed=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
