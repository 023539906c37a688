#!/usr/bin/env bash
# Runs ../shared/bench/anchors.sh with `valk serve examples/hello.lisp` in
# its valk slot, beside the scripted peers (nginx + Lua, h2o + mruby).
# Environment is passed through (SERVERS, PROTOS, CASES, DURATION, ...);
# valk serve listens on one cleartext port here, so the default protocols
# are h2c and h1.
#   bench/serve/anchors.sh
#   SERVERS="valk nginx-lua" PROTOS=h2c CASES=tput bench/serve/anchors.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/valk ] || ./dev.sh build
here=$(pwd)
export VALK_NAME=${VALK_NAME:-valk-serve}
export VALK_PATH=/
export VALK_PROTOS=${VALK_PROTOS:-"h2c h1"}
export SERVERS=${SERVERS:-"valk nginx-lua h2o-mruby"}
export PROTOS=${PROTOS:-"h2c h1"}
export VALK_CMD="$here/build/valk serve --port \$VALK_PORT --workers \${BENCH_WORKERS:-1} --reactors 1 $here/examples/hello.lisp"
exec ../shared/bench/anchors.sh "$@"
