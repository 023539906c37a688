#!/usr/bin/env bash
# bench/serve/outgoing_tls.sh runs http/request over TLS three ways: a
# short run gives a row per run and a median row for each, with
# requests/s and CPU per request.
#   check_outgoing_tls.sh VALK_BIN SOURCE_DIR
set -euo pipefail
if ! out=$(ROUNDS=2 REQUESTS=400 CONCURRENCY=8 "$2/bench/serve/outgoing_tls.sh" "$1" 2>&1); then
  echo "$out"
  echo "outgoing_tls.sh failed" >&2
  exit 1
fi
echo "$out"
for client in own-h1 curl-h1 curl-h2; do
  rows=$(awk -v c="$client" '$2 == c && $3 > 0 && NF == 5 { n++ } END { print n + 0 }' <<<"$out")
  [ "$rows" = 3 ] || { echo "expected 2 runs and a median row for $client, got $rows" >&2; exit 1; }
done
