#!/usr/bin/env bash
# Latency percentiles of `valk serve examples/hello.lisp` beside its peers,
# repeated and summarised by the median, because single runs on this
# shared machine swing by 30% or more. Each round runs every server once
# per protocol (anchors.sh RUNS), so the servers alternate and share the
# machine's good and bad moments.
#
# Two cases (CASE):
#   lat   one connection, one request at a time (h2load -c 1 -m 1 -n
#         $LAT_N): the latency of a request on an idle server.
#   load  CONNS connections with STREAMS streams each (HTTP/1.1: one) for
#         DURATION seconds: as fast as the client can (RATE unset), where
#         the latency is mostly queueing and a faster server queues less,
#         or at RATE requests/s in all (h2load --rps, RATE/CONNS per
#         connection), a load every server keeps up with. h2load's rate
#         timer fires at most every 10 ms: above 100 requests/s per
#         connection, every connection sends its due requests each 10 ms,
#         together (HTTP/1.1: one after the other as the answers come).
#         CONNS=320 RATE=32000 is a burst of 320 requests every 10 ms.
# Every request's time comes from h2load's --log-file (through the
# h2load-logging/ wrapper on PATH, since anchors.sh logs only the lat case).
#
# Prints, per protocol and server, the medians over the rounds of req/s,
# p50, p99 and p99.9, and valk's p99 ratio to the best peer's: of the
# medians, and taken round by round (its median and range), which pairs
# each valk run with the peers' runs of the same round.
#   bench/serve/latency.sh                             # lat, 5 rounds, h2 h2c h1
#   ROUNDS=9 PROTOS=h2c bench/serve/latency.sh
#   CASE=load RATE=20000 bench/serve/latency.sh        # 32 connections, 20 000 req/s
#   CASE=load RATE=32000 CONNS=320 bench/serve/latency.sh   # bursts of 320
#   CASE=load SERVERS="valk nginx-lua h2o-mruby" bench/serve/latency.sh
#   VALK_BIN=/tmp/valk-old bench/serve/latency.sh      # another build
#   BENCH=bench/net/anchors.sh SERVERS="valk h2o nginx" CASE=load RATE=32000 \
#     bench/serve/latency.sh                           # valk static and its peers
#   KEEP=1 bench/serve/latency.sh                      # keep the run's logs
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-5}
CASE=${CASE:-lat}
RATE=${RATE:-}
export SERVERS=${SERVERS:-"valk nginx-lua"}
export PROTOS=${PROTOS:-"h2 h2c h1"}
export LAT_N=${LAT_N:-20000}
export CONNS=${CONNS:-32} STREAMS=${STREAMS:-16} DURATION=${DURATION:-5} WARMUP=${WARMUP:-1}
case $CASE in
  lat) cases=lat ;;
  load)
    cases="tput"
    if [ -n "$RATE" ]; then export H2LOAD_EXTRA="--rps $((RATE / CONNS))"; fi
    ;;
  *) echo "CASE is lat or load, not $CASE" >&2 && exit 2 ;;
esac
results=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "logs kept in $results" >&2; else trap 'rm -rf "$results"' EXIT; fi
mkdir "$results/logs"
H2LOAD_LOG_DIR=$results/logs PATH=$PWD/bench/serve/h2load-logging:$PATH \
  RESULTS_DIR=$results RUNS=$ROUNDS CASES=$cases WORKERS=${WORKERS:-1p} \
  "${BENCH:-bench/serve/anchors.sh}" >"$results/log" 2>&1 || {
  tail -20 "$results/log" >&2
  exit 1
}
echo "case: $CASE$([ "$CASE" = load ] && echo ", $CONNS connections x $STREAMS streams, ${DURATION} s, ${RATE:-unlimited} req/s")"

# The anchors TSV has a row per h2load call, in call order, except for
# servers that did not start (alpn NOSTART). Columns: 1 round, 3 server,
# 4 proto, 6 alpn, 11 req/s. Each row gets its call's percentiles.
tsv=$(ls "$results"/*.tsv)
call=0
tail -n +2 "$tsv" | while IFS=$'\t' read -r round _ server proto _ alpn _ _ _ _ req_s _; do
  [ "$alpn" = NOSTART ] && continue
  call=$((call + 1))
  pctl=$({ cut -f3 "$results/logs/$call.log" 2>/dev/null || true; } | quantiles 0.5 0.99 0.999)
  echo "$round $proto $server $req_s $pctl"
done | awk '
  # Input: round proto server req_s p50 p99 p99.9 (microseconds).
  {
    key = $2 " " $3
    c = ++n[key]
    rps[key, c] = $4; p50[key, c] = $5; p99[key, c] = $6; p999[key, c] = $7
    if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
    # Per round: the p99 of valk and of the best peer, for paired ratios.
    rk = $2 SUBSEP $1
    if ($3 ~ /^valk/) round_valk[rk] = $6
    else if (!(rk in round_best) || $6 < round_best[rk]) round_best[rk] = $6
    if ($1 > rounds) rounds = $1
  }
  function median(arr, key, count,   i, j, t, v) {
    for (i = 1; i <= count; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= count; i++)
      for (j = i + 1; j <= count; j++)
        if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
  }
  END {
    printf "%-6s %-12s %6s %9s %8s %8s %9s\n", "proto", "server", "rounds", "req/s", "p50_us", "p99_us", "p99.9_us"
    for (k = 1; k <= keys; k++) {
      key = order[k]
      split(key, part, " ")
      m99 = median(p99, key, n[key])
      printf "%-6s %-12s %6d %9.0f %8.1f %8.1f %9.1f\n", part[1], part[2], n[key], median(rps, key, n[key]),
        median(p50, key, n[key]), m99, median(p999, key, n[key])
      if (part[2] ~ /^valk/) valk[part[1]] = m99
      else if (!(part[1] in best) || m99 < best[part[1]]) best[part[1]] = m99
    }
    for (p in valk) {
      if (!(p in best) || best[p] <= 0) continue
      printf "%s: valk p99 / best peer p99 = %.2f", p, valk[p] / best[p]
      # The same ratio taken in each round, where the servers ran minutes
      # apart at most: its median, and its range over the rounds.
      c = 0
      for (r = 1; r <= rounds; r++)
        if (((p SUBSEP r) in round_valk) && ((p SUBSEP r) in round_best) && round_best[p, r] > 0)
          ratio[p, ++c] = round_valk[p, r] / round_best[p, r]
      if (c > 0) {
        lo = hi = ratio[p, 1]
        for (i = 2; i <= c; i++) { if (ratio[p, i] < lo) lo = ratio[p, i]; if (ratio[p, i] > hi) hi = ratio[p, i] }
        printf "; per round: median %.2f, %.2f to %.2f", median(ratio, p, c), lo, hi
      }
      printf "\n"
    }
  }'
