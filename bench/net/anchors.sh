#!/usr/bin/env bash
# Runs ../shared/bench/anchors.sh with `valk static` in the VALK_CMD slot, so
# valk is measured side by side with the stock servers on the same machine.
#
#   bench/net/anchors.sh                       # valk + every peer installed
#   SERVERS=valk PROTOS="h2 h2c h1" bench/net/anchors.sh   # valk alone
#
# Every knob of anchors.sh (DURATION, WORKERS, CASES, ...) passes through.
# Build first: cmake --build build (this uses build/valk; VALK_BIN picks
# another build, e.g. a "before" binary, with VALK_NAME as its label):
#   VALK_BIN=/tmp/valk-before VALK_NAME=valk-before SERVERS=valk bench/net/anchors.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
anchors=${ANCHORS:-$root/../shared/bench/anchors.sh}
bin=${VALK_BIN:-$root/build/valk}
[ -x "$bin" ] || { echo "$bin is missing: build first" >&2; exit 1; }
[ -f "$anchors" ] || { echo "anchors.sh not found at $anchors (set ANCHORS)" >&2; exit 1; }
export VALK_CMD="exec $bin static --host 127.0.0.1 --port \$VALK_PORT \
--tls-port \$VALK_TLS_PORT --tls-cert \$BENCH_CERT --tls-key \$BENCH_KEY \
--reactors \$BENCH_WORKERS --log-level error \$BENCH_DOCROOT"
exec bash "$anchors" "$@"
