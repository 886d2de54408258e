#!/usr/bin/env bash
# `strata lint` against `strata parse` of the parser benchmark's generated
# 10,000-line Dockerfile (benches/parse.rs), both as the release binary,
# timed with hyperfine in one run; prints the ratio lint/parse (the goal is
# at most 2). Each command writes its whole output (to /dev/null): parse its
# one-line-per-instruction listing, lint its located findings.
#
# Usage: benches/lint.sh [WORKDIR]   (CARGO overrides the cargo command,
# e.g. CARGO="flock /tmp/cargo.lock cargo" where builds must take turns)
set -euo pipefail
cargo=${CARGO:-cargo}
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/strata-bench-lint}
mkdir -p "$work"
bash "$here/tests/deps.sh" hyperfine jq
file=$work/Dockerfile
# The bench in test mode runs each function once, after writing the input.
(cd "$here" && STRATA_BENCH_DOCKERFILE=$file $cargo bench --locked -q --bench parse -- --test >/dev/null 2>&1)
(cd "$here" && $cargo build --release --locked -q)
strata=$here/target/release/strata
echo "input: $(wc -l <"$file") lines, $(wc -c <"$file") bytes; $("$strata" lint --format json -f "$file" | jq '.findings | length') findings"
hyperfine --warmup 3 --min-runs 30 --export-json "$work/lint.json" \
  -n parse "'$strata' parse '$file' >/dev/null" \
  -n lint "'$strata' lint -f '$file' >/dev/null" \
  -n lint-json "'$strata' lint --format json -f '$file' >/dev/null"
jq -r '.results | (map({(.command): .median}) | add) as $m
  | "median parse \($m.parse * 1000 | floor) ms, lint \($m.lint * 1000 | floor) ms (ratio \($m.lint / $m.parse * 100 | floor / 100)), lint --format json \($m["lint-json"] * 1000 | floor) ms (ratio \($m["lint-json"] / $m.parse * 100 | floor / 100))"' "$work/lint.json"
