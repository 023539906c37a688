#!/usr/bin/env bash
# A benchmark that prints bench/rate_table.py's table (valk beside a peer:
# bench/sqlite/statements.sh, bench/redis/commands.sh), run briefly: ROWS
# rows, each with both rates above zero and a ratio.
#   check_rate_table.sh VALK_BIN SOURCE_DIR SCRIPT ROWS [VAR=VALUE ...]
# VAR=VALUE pairs (the run's size) go to SCRIPT's environment.
set -euo pipefail
valk=$1 source_dir=$2 script=$3 rows=$4
shift 4
if ! out=$(env ROUNDS=1 "$@" "$source_dir/$script" "$valk" 2>&1); then
  echo "$out"
  echo "$script failed" >&2
  exit 1
fi
echo "$out"
got=$(awk '$2 + 0 > 0 && $3 + 0 > 0 && $4 + 0 > 0 { n++ } END { print n + 0 }' <<<"$out")
[ "$got" = "$rows" ] || { echo "expected $rows rows with rates, got $got" >&2; exit 1; }
