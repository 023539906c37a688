#!/usr/bin/env bash
# SQLite statements per second: valk (bench/sqlite/statements.lisp, one
# isolate, FIBERS (64) fibers awaiting statements on one handle) beside
# Python's sqlite3 module running the same statements one after another
# on one connection (statements.py): the library with nothing in between.
# Both on CPU 1, a fresh database file in /tmp each run; ROUNDS (3)
# alternated rounds, medians. STATEMENTS (200000) per SELECT run, a tenth
# of that for the INSERTs.
#   bench/sqlite/statements.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
one_argument "$@"
valk=$1
require_tools "python3" python3 taskset
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in $(seq "$ROUNDS"); do
  rm -f "$work"/db*
  taskset -c 1 "$valk" run bench/sqlite/statements.lisp "$work/db" | sed 's/^/valk\t/' >>"$work/results"
  rm -f "$work"/db*
  taskset -c 1 python3 bench/sqlite/statements.py "$work/db" | sed 's/^/python\t/' >>"$work/results"
  echo "round $round done" >&2
done
python3 bench/rate_table.py "$work/results" statement python
