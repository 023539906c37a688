#!/usr/bin/env bash
# http/request over TLS to an nginx upstream answering "Hello, World!"
# from its config: valk's own HTTP/1.1 client (:version :http1) beside
# libcurl over HTTP/1.1 (the same, with a user in the URL, which sends
# the request through libcurl) and libcurl over HTTP/2 (the default, as
# ALPN agrees). Per mode: requests/s of one `valk run` script making
# REQUESTS (20 000) requests, CONCURRENCY (64) at a time, and its CPU per
# request (user and system µs). nginx on CPU 0, valk on CPU 1.
#   ROUNDS=3 bench/serve/outgoing_tls.sh build/valk
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-20000}
CONCURRENCY=${CONCURRENCY:-64}
one_argument "$@"
valk=$1
require_tools "nginx python3" nginx taskset python3

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

port=$(free_port)
upstream_port=$port  # nginx_on's template names an upstream; this one has none
nginx_on upstream "$port" 0 "$(nginx_listen_flags h2)" \
  "ssl_certificate $PWD/certs/dev.crt; ssl_certificate_key $PWD/certs/dev.key;
   keepalive_timeout 600;
   location / { default_type text/plain; return 200 'Hello, World!'; }"

for _ in $(seq 50); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cat >"$work/calls.lisp" <<'LISP'
;; REQUESTS requests to URL, CONCURRENCY fibers each asking in turn.
(def url (getenv "URL"))
(def opts (merge {:ca-file (getenv "CA")}
                 (when (= (getenv "MODE") "h1") {:version :http1})))
(def n (parse-long (getenv "REQUESTS")))
(def c (parse-long (getenv "CONCURRENCY")))
(def left (atom n))
(defn worker []
  (loop []
    (when (>= (swap! left dec) 0)
      (let [r (await (http/get url opts))]
        (when-not (= 200 (:status r)) (throw (ex-info "not 200" {:status (:status r)}))))
      (recur))))
(def started (now-ms))
(await (all (map (fn [_] (spawn worker)) (range c))))
(println "seconds" (/ (- (now-ms) started) 1000.0))
LISP

echo "outgoing TLS, $REQUESTS requests, $CONCURRENCY at a time"
printf '%-5s %-10s %9s %7s %7s\n' round client req/s usr_us sys_us
for round in $(seq "$ROUNDS"); do
  for mode in own-h1 curl-h1 curl-h2; do
    case $mode in
      own-h1) m=h1 url=https://localhost:$port/ ;;
      curl-h1) m=h1 url=https://u:p@localhost:$port/ ;;
      curl-h2) m=h2 url=https://localhost:$port/ ;;
    esac
    /usr/bin/time -f "%U %S" -o "$work/time" env MODE=$m URL=$url CA="$PWD/certs/ca.crt" \
      REQUESTS="$REQUESTS" CONCURRENCY="$CONCURRENCY" \
      taskset -c 1 "$valk" run "$work/calls.lisp" >"$work/out" 2>&1 ||
      { cat "$work/out" >&2; exit 1; }
    read -r usr sys <"$work/time"
    secs=$(sed -n 's/^seconds \(.*\)/\1/p' "$work/out")
    awk -v r="$round" -v m="$mode" -v n="$REQUESTS" -v t="$secs" -v u="$usr" -v s="$sys" \
      'BEGIN { printf "%-5s %-10s %9.0f %7.2f %7.2f\n", r, m, n / t, u * 1e6 / n, s * 1e6 / n }' |
      tee -a "$work/runs"
  done
done
echo "medians over $ROUNDS rounds:"
print_medians "$work/runs" "9.0f 7.2f"
