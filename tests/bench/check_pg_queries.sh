#!/usr/bin/env bash
# bench/pg/queries.sh runs valk and pgbench against a server of its own:
# a short run gives a row per client with queries/s above zero, and
# medians.
#   check_pg_queries.sh VALK_BIN SOURCE_DIR
set -euo pipefail
if ! out=$(ROUNDS=1 DURATION=1 "$2/bench/pg/queries.sh" "$1" 2>&1); then
  echo "$out"
  echo "queries.sh failed" >&2
  exit 1
fi
echo "$out"
for client in valk pgbench; do
  rows=$(awk -v c="$client" '$2 == c && $3 > 0 { n++ } END { print n + 0 }' <<<"$out")
  [ "$rows" = 2 ] || { echo "expected a run and a median for $client, got $rows" >&2; exit 1; }
done
