#!/usr/bin/env bash
# The one-connection latency case (h2load -c 1 -m 1) of `valk serve
# examples/hello.lisp` beside its peers, repeated and summarised by the
# median, because single runs on this shared machine swing by 30% or more.
# Each round runs every server once per protocol (anchors.sh RUNS), so the
# servers alternate and share the machine's good and bad moments.
# Prints, per protocol and server, the median p50, p99 and mean over the
# rounds, and valk's p99 ratio to the best peer's: of the medians, and
# taken round by round (its median and range), which pairs each valk run
# with the peers' runs of the same round.
#   bench/serve/latency.sh                         # 5 rounds, h2 h2c h1
#   ROUNDS=9 PROTOS=h2c bench/serve/latency.sh
#   VALK_BIN=/tmp/valk-old bench/serve/latency.sh  # another build
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
export SERVERS=${SERVERS:-"valk nginx-lua"}
export PROTOS=${PROTOS:-"h2 h2c h1"}
export LAT_N=${LAT_N:-20000}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
RESULTS_DIR=$results RUNS=$ROUNDS CASES=lat WORKERS=${WORKERS:-1p} \
  bench/serve/anchors.sh >"$results/log" 2>&1 || {
  tail -20 "$results/log" >&2
  exit 1
}
tsv=$(ls "$results"/*.tsv)
# Columns of anchors.sh's TSV: 3 server, 4 proto, 12 mean_us, 13 p50_us, 14 p99_us.
awk -F'\t' -v rounds="$ROUNDS" '
  NR == 1 { next }
  {
    key = $4 "\t" $3
    n[key]++
    p50[key, n[key]] = $13; p99[key, n[key]] = $14; mean[key, n[key]] = $12
    if (!(key in seen)) { seen[key] = 1; order[++keys] = key }
    # Per round: the p99 of valk and of the best peer, for paired ratios.
    rk = $4 SUBSEP $1
    if ($3 ~ /^valk/) round_valk[rk] = $14
    else if (!(rk in round_best) || $14 < round_best[rk]) round_best[rk] = $14
    if ($1 > rounds_seen) rounds_seen = $1
  }
  function median(arr, key, count,   i, j, t, v) {
    for (i = 1; i <= count; i++) v[i] = arr[key, i] + 0
    for (i = 1; i <= count; i++)
      for (j = i + 1; j <= count; j++)
        if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
  }
  END {
    printf "%-6s %-12s %6s %8s %8s %8s\n", "proto", "server", "rounds", "p50_us", "p99_us", "mean_us"
    for (k = 1; k <= keys; k++) {
      key = order[k]
      split(key, part, "\t")
      m99 = median(p99, key, n[key])
      printf "%-6s %-12s %6d %8.1f %8.1f %8.1f\n", part[1], part[2], n[key],
        median(p50, key, n[key]), m99, median(mean, key, n[key])
      if (part[2] ~ /^valk/) valk[part[1]] = m99
      else if (!(part[1] in best) || m99 < best[part[1]]) best[part[1]] = m99
    }
    for (p in valk) {
      if (!(p in best)) continue
      printf "%s: valk p99 / best peer p99 = %.2f", p, valk[p] / best[p]
      # The same ratio taken in each round, where the servers ran minutes
      # apart at most: its median, and its range over the rounds.
      c = 0
      for (r = 1; r <= rounds_seen; r++)
        if (((p SUBSEP r) in round_valk) && ((p SUBSEP r) in round_best) && round_best[p, r] > 0)
          ratio[p, ++c] = round_valk[p, r] / round_best[p, r]
      if (c > 0) {
        lo = hi = ratio[p, 1]
        for (i = 2; i <= c; i++) { if (ratio[p, i] < lo) lo = ratio[p, i]; if (ratio[p, i] > hi) hi = ratio[p, i] }
        printf "; per round: median %.2f, %.2f to %.2f", median(ratio, p, c), lo, hi
      }
      printf "\n"
    }
  }' "$tsv"
