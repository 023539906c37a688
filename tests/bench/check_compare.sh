#!/usr/bin/env bash
# bench/serve/compare.sh runs each server in turn and prints a row per run
# and the medians: a short run of one valk build over HTTP/1.1 and h2c
# gives rows with requests/s and percentiles.
#   check_compare.sh VALK_BIN SOURCE_DIR
set -euo pipefail
for proto in h1 h2c; do
  if ! out=$(ROUNDS=2 WARMUP=0.2 DURATION=0.5 CONNS=4 PROTO=$proto "$2/bench/serve/compare.sh" "$1" 2>&1); then
    echo "$out"
    echo "compare.sh failed" >&2
    exit 1
  fi
  echo "$out"
  # round, server, req/s > 0, usr, sys, then four percentiles, in order
  rows=$(awk -v bin="$1" '$2 == bin && $3 > 0 && $6 > 0 && $6 <= $7 && $7 <= $8 && $8 <= $9 { n++ } END { print n + 0 }' <<<"$out")
  [ "$rows" = 3 ] || { echo "expected 2 runs and a median row for $1 over $proto, got $rows" >&2; exit 1; }
done
