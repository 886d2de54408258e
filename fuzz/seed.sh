#!/usr/bin/env bash
# Seeds fuzz/corpus/parse (gitignored) from the conformance and test Dockerfiles.
# Run from anywhere; needs python3 for the heredoc cases (skipped without it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
conformance=${STRATA_CONFORMANCE:-$root/testdata/conformance}
out=$here/corpus/parse
mkdir -p "$out"

for f in "$conformance"/buildkit/parser/testfiles/*/Dockerfile; do
  cp "$f" "$out/buildkit-$(basename "$(dirname "$f")")"
done
for f in "$conformance"/buildkit/parser/testfiles-negative/*/Dockerfile \
         "$conformance"/buildkit/parser/testfile-line/Dockerfile; do
  [ -f "$f" ] && cp "$f" "$out/buildkit-neg-$(basename "$(dirname "$f")")"
done
find "$root/testdata" -name Dockerfile -type f | while read -r f; do
  rel=${f#"$root/testdata/"}
  cp "$f" "$out/testdata-${rel//\//-}"
done
cp "$here"/seeds/* "$out/"

# Each `dockerfile` of the heredoc cases (a JSON Lines block) as one seed.
if command -v python3 >/dev/null && [ -f "$conformance/heredoc-cases.md" ]; then
  python3 - "$conformance/heredoc-cases.md" "$out" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
for line in open(src, encoding="utf-8"):
    line = line.strip()
    if line.startswith("{") and '"dockerfile"' in line:
        case = json.loads(line)
        with open(f"{out}/heredoc-{case['id']}", "w", encoding="utf-8", newline="") as f:
            f.write(case["dockerfile"])
PY
fi
echo "seeded $(ls "$out" | wc -l) files into $out"
