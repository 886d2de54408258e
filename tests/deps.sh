#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine. Idempotent:
# packages already present are not fetched again.
set -euo pipefail
needed=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}"
fi
