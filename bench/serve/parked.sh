#!/usr/bin/env bash
# Many parked requests: N concurrent requests whose handler awaits
# (sleep SLEEP_MS), sent by h2load over h2c to one `valk serve` worker.
# Prints the wall time for all of them and the server's RSS growth per
# request while they were parked (sampled halfway through the sleep, from
# a freshly started server: connections, streams, request copies, Lisp
# request maps, fibers, and the allocator's growth).
#   bench/serve/parked.sh                 # 10000 requests, 1000 ms each
#   N=20000 CONNS=200 bench/serve/parked.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
N=${N:-10000}
CONNS=${CONNS:-100}
SLEEP_MS=${SLEEP_MS:-1000}
VALK=${VALK_BIN:-build/valk}
[ -x "$VALK" ] || ./dev.sh build

app=$(mktemp --suffix=.lisp)
log=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$app" "$log"' EXIT
cat >"$app" <<EOF
(serve (fn [req] (await (sleep $SLEEP_MS)) "woke") {:port 0 :threads 1})
EOF
"$VALK" serve "$app" 2>"$log" &
pid=$!
port=$(wait_for_port "$log")

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
before=$(rss_kib)
start=$(date +%s.%N)
h2load -n "$N" -c "$CONNS" -m $((N / CONNS)) "http://127.0.0.1:$port/" >"$log.h2load" &
loader=$!
sleep "$(awk "BEGIN {print $SLEEP_MS / 2000}")"
during=$(rss_kib)
wait "$loader"
end=$(date +%s.%N)
ok=$(sed -n 's/.*status codes: \([0-9]*\) 2xx.*/\1/p' "$log.h2load")
grep -E "status codes|requests:" "$log.h2load" >&2
rm -f "$log.h2load"
awk -v n="$N" -v ok="$ok" -v s="$start" -v e="$end" -v b="$before" -v d="$during" -v ms="$SLEEP_MS" 'BEGIN {
  printf "%d requests awaiting (sleep %d): %s answered 2xx, all done in %.2f s\n", n, ms, ok, e - s
  printf "RSS %.1f MiB before, %.1f MiB while parked: %.0f bytes per parked request\n",
         b / 1024, d / 1024, (d - b) * 1024 / n
}'
