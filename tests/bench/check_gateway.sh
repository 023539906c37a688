#!/usr/bin/env bash
# bench/serve/gateway.sh runs valk's gateway and nginx's proxy_pass in
# turn: a short run over h2c and HTTP/1.1 gives a row per run and a median
# row for each, with requests/s and ordered percentiles.
#   check_gateway.sh VALK_BIN SOURCE_DIR
set -euo pipefail
for proto in h2c h1; do
  if ! out=$(ROUNDS=2 WARMUP=0.2 DURATION=0.5 CONNS=4 PROTO=$proto "$2/bench/serve/gateway.sh" "$1" 2>&1); then
    echo "$out"
    echo "gateway.sh failed" >&2
    exit 1
  fi
  echo "$out"
  for gw in valk nginx; do
    # round, gateway, req/s > 0, usr, sys, p50 <= p99
    rows=$(awk -v gw="$gw" '$2 == gw && $3 > 0 && $6 > 0 && $6 <= $7 { n++ } END { print n + 0 }' <<<"$out")
    [ "$rows" = 3 ] || { echo "expected 2 runs and a median row for $gw over $proto, got $rows" >&2; exit 1; }
  done
done
