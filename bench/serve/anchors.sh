#!/usr/bin/env bash
# Runs ../shared/bench/anchors.sh with `valk serve examples/hello.lisp` in
# its valk slot, beside the scripted peers (nginx + Lua, h2o + mruby).
# Environment is passed through (SERVERS, PROTOS, CASES, DURATION, ...).
# valk serve listens on one port, so each run starts it for the protocol
# about to be measured: with the bench certificate on the TLS port for h2,
# cleartext (h2c and HTTP/1.1) otherwise. VALK_BIN picks another build
# (default build/valk), e.g. to measure a "before" binary; VALK_FLAGS adds
# flags to valk serve (e.g. --access-log /tmp/a.log).
#   bench/serve/anchors.sh
#   SERVERS="valk nginx-lua" PROTOS=h2c CASES=tput bench/serve/anchors.sh
#   VALK_BIN=/tmp/valk-old VALK_NAME=valk-old SERVERS=valk bench/serve/anchors.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -n "${VALK_BIN:-}" ] || [ -x build/valk ] || ./dev.sh build
here=$(pwd)
bin=${VALK_BIN:-$here/build/valk}
export VALK_NAME=${VALK_NAME:-valk-serve}
export VALK_PATH=/
export VALK_PROTOS=${VALK_PROTOS:-"h2 h2c h1"}
export SERVERS=${SERVERS:-"valk nginx-lua h2o-mruby"}
export PROTOS=${PROTOS:-"h2 h2c h1"}
export VALK_CMD="if [ \"\$BENCH_PROTO\" = h2 ]; then \
set -- --port \$VALK_TLS_PORT --tls-cert \$BENCH_CERT --tls-key \$BENCH_KEY; \
else set -- --port \$VALK_PORT; fi; \
exec $bin serve \"\$@\" --threads \${BENCH_WORKERS:-1} ${VALK_FLAGS:-} $here/examples/hello.lisp"
exec ../shared/bench/anchors.sh "$@"
