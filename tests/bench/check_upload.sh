#!/usr/bin/env bash
# bench/serve/upload.sh sends uploads through valk's gateway and nginx's
# unbuffered proxy_pass in turn: a short run over HTTP/1.1 and h2c gives a
# row per run and a median row for each, with MiB/s and CPU per MiB.
#   check_upload.sh VALK_BIN SOURCE_DIR
set -euo pipefail
for proto in h1 h2c; do
  if ! out=$(ROUNDS=2 REQS=8 CONNS=2 SIZE_MB=8 PROTO=$proto "$2/bench/serve/upload.sh" "$1" 2>&1); then
    echo "$out"
    echo "upload.sh failed" >&2
    exit 1
  fi
  echo "$out"
  for gw in valk nginx; do
    # round, gateway, MiB/s > 0, usr, sys, RSS growth
    rows=$(awk -v gw="$gw" '$2 == gw && $3 > 0 && $3 != "inf" && NF == 6 { n++ } END { print n + 0 }' <<<"$out")
    [ "$rows" = 3 ] || { echo "expected 2 runs and a median row for $gw over $proto, got $rows" >&2; exit 1; }
  done
done
