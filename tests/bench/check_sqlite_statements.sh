#!/usr/bin/env bash
# bench/sqlite/statements.sh runs valk and Python's sqlite3 in turn: a short
# run gives a row per statement with both rates above zero and a ratio.
#   check_sqlite_statements.sh VALK_BIN SOURCE_DIR
set -euo pipefail
if ! out=$(ROUNDS=1 STATEMENTS=2000 "$2/bench/sqlite/statements.sh" "$1" 2>&1); then
  echo "$out"
  echo "statements.sh failed" >&2
  exit 1
fi
echo "$out"
rows=$(awk '$2 + 0 > 0 && $3 + 0 > 0 && $4 + 0 > 0 { n++ } END { print n + 0 }' <<<"$out")
[ "$rows" = 3 ] || { echo "expected 3 statements with rates, got $rows" >&2; exit 1; }
