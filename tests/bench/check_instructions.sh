#!/usr/bin/env bash
# bench/serve/instructions.sh counts instructions per request under
# callgrind and names where they go: a short run over HTTP/1.1 prints a
# plausible count and the HTTP/1.1 parser among the functions.
#   check_instructions.sh VALK_BIN SOURCE_DIR
set -euo pipefail
if ! out=$(VALK_BIN=$1 N=300 WARM=50 CONNS=4 TOP=40 "$2/bench/serve/instructions.sh" 2>&1); then
  echo "$out"
  echo "instructions.sh failed" >&2
  exit 1
fi
echo "$out"
count=$(sed -n 's/^instructions per request: \([0-9,]*\)$/\1/p' <<<"$out" | tr -d ,)
[ -n "$count" ] && [ "$count" -gt 1000 ] && [ "$count" -lt 1000000 ] || {
  echo "no plausible instruction count" >&2
  exit 1
}
grep -q "http_parser_execute" <<<"$out" || { echo "the parser is not listed" >&2; exit 1; }
