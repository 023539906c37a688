#!/usr/bin/env bash
# A native C++ "Hello, World!" handler (bench/net/hello_server.cc) in the
# valk slot of ../shared/bench/anchors.sh, beside the stock servers serving
# their 13-byte file: the network core measured without static-file work.
#   bench/net/hello.sh
#   SERVERS="valk h2o" PROTOS=h2c CASES=tput bench/net/hello.sh
# Every knob of anchors.sh passes through. Builds the target if needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
anchors=${ANCHORS:-$root/../shared/bench/anchors.sh}
bin=${HELLO_BIN:-$root/build/bench/net/hello_server}
[ -x "$bin" ] || cmake --build "$root/build" --target hello_server >/dev/null
export VALK_NAME=${VALK_NAME:-valk-native}
export VALK_PATH=/
export VALK_CMD="exec $bin --port \$VALK_PORT --tls-port \$VALK_TLS_PORT \
--tls-cert \$BENCH_CERT --tls-key \$BENCH_KEY --reactors \$BENCH_WORKERS"
exec bash "$anchors" "$@"
