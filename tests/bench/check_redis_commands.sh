#!/usr/bin/env bash
# bench/redis/commands.sh runs valk and redis-benchmark in turn against a
# redis-server of its own: a short run gives a row per command with both
# rates above zero and a ratio.
#   check_redis_commands.sh VALK_BIN SOURCE_DIR
set -euo pipefail
if ! out=$(ROUNDS=1 COMMANDS=2000 "$2/bench/redis/commands.sh" "$1" 2>&1); then
  echo "$out"
  echo "commands.sh failed" >&2
  exit 1
fi
echo "$out"
rows=$(awk '$2 + 0 > 0 && $3 + 0 > 0 && $4 + 0 > 0 { n++ } END { print n + 0 }' <<<"$out")
[ "$rows" = 2 ] || { echo "expected 2 commands with rates, got $rows" >&2; exit 1; }
