#!/bin/sh
# Prepares the context of strata's own image (see ../Dockerfile): copies a
# built strata binary to image/strata and every shared library it links
# (ldd), with the dynamic loader, under image/lib/ at their own paths.
# Usage: image/gather.sh [PATH/TO/strata]   (default target/release/strata)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../target/release/strata}
[ -x "$binary" ] || { echo "error: $binary is not an executable: build strata first (cargo build --release)" >&2; exit 1; }
rm -rf "$here/lib" "$here/strata"
cp "$binary" "$here/strata"
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
  # /lib/x86_64-linux-gnu/libc.so.6 -> image/lib/x86_64-linux-gnu/libc.so.6
  rel=${lib#/lib/}; rel=${rel#/usr/lib/}; rel=${rel#/lib64/}
  [ "$lib" = "/lib64/$rel" ] && rel=../lib64/$rel
  mkdir -p "$(dirname "$here/lib/$rel")"
  cp -L "$lib" "$here/lib/$rel"
done
echo "image/ ready: $(du -sh "$here" | cut -f1)"
