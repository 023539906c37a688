#!/usr/bin/env bash
# Redis commands per second: valk (bench/redis/commands.lisp, one isolate,
# 64 fibers awaiting SET or GET on one connection) beside redis-benchmark
# (C, hiredis's protocol code) on one connection with 64 commands in
# flight (-c 1 -P 64): the same load with no interpreter in between.
# Client on CPU 1, a redis-server of its own on CPU 0 and a Unix socket;
# ROUNDS (3) alternated rounds, medians. COMMANDS (200000) a run.
#   bench/redis/commands.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
COMMANDS=${COMMANDS:-200000}
export COMMANDS
one_argument "$@"
valk=$1
require_tools "redis-server redis-tools" redis-server redis-benchmark taskset
work=$(mktemp -d)
taskset -c 0 redis-server --port 0 --unixsocket "$work/redis.sock" --save "" --appendonly no \
  --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log" --dir "$work"
trap 'kill "$(cat "$work/redis.pid")" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -S "$work/redis.sock" ] && break; sleep 0.1; done
for round in $(seq "$ROUNDS"); do
  taskset -c 1 "$valk" run bench/redis/commands.lisp "unix://$work/redis.sock" |
    sed 's/^/valk\t/' >>"$work/results"
  taskset -c 1 redis-benchmark -s "$work/redis.sock" -c 1 -P 64 -n "$COMMANDS" -t set,get \
    -d 3 -r 1 --csv | tail -n +2 | tr -d '"' |
    awk -F, '{printf "redis-benchmark\t%s\t%d\n", tolower($1), $2}' >>"$work/results"
  echo "round $round done" >&2
done
python3 bench/rate_table.py "$work/results" command redis-benchmark
