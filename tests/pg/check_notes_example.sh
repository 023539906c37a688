#!/usr/bin/env bash
# examples/notes.lisp against the test PostgreSQL server: served over TLS
# (h2, HTTP/1.1) and cleartext (h2c, HTTP/1.1) by two `valk serve`
# processes of two workers each, which must all see the same notes.
#   check_notes_example.sh VALK SOURCE_DIR PG_DIR
# (PG_DIR: the directory of tests/pg/postgres.sh's server.)
set -euo pipefail
valk=$1
src=$2
export DATABASE_URL="host=$3 port=$(cat "$3/port") user=valk dbname=postgres"
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
"$valk" serve "$src/examples/notes.lisp" --port 0 --threads 2 \
  --tls-cert "$src/certs/dev.crt" --tls-key "$src/certs/dev.key" 2>"$work/tls.log" &
pids+=($!)
"$valk" serve "$src/examples/notes.lisp" --port 0 --threads 2 2>"$work/plain.log" &
pids+=($!)
tls="https://localhost:$(wait_for_port "$work/tls.log")"
plain="http://127.0.0.1:$(wait_for_port "$work/plain.log")"

fail() { echo "FAIL: $*" >&2; exit 1; }
# expect STATUS BODY-PATTERN CURL-ARGS...: the status and a body matching
# the (grep -E) pattern.
expect() {
  local status=$1 pattern=$2 out
  shift 2
  out=$(curl -sS --max-time 10 --cacert "$src/certs/ca.crt" -w '\n%{http_code} %{http_version}' "$@")
  local last=${out##*$'\n'} body=${out%$'\n'*}
  [ "${last%% *}" = "$status" ] || fail "curl $*: status ${last%% *}, not $status: $body"
  echo "$body" | grep -Eq "$pattern" || fail "curl $*: body '$body' does not match '$pattern'"
  echo "${last#* }"
}
json=(-H 'content-type: application/json')
[ "$(expect 201 '"text":"over h2"' --http2 "${json[@]}" -d '{"text":"over h2"}' "$tls/notes")" = 2 ] ||
  fail "not HTTP/2 over TLS"
expect 201 '"text":"over h1"' --http1.1 "${json[@]}" -d '{"text":"over h1"}' "$plain/notes" >/dev/null
expect 400 'non-blank' --http2-prior-knowledge "${json[@]}" -d '{"text":""}' "$plain/notes" >/dev/null
# Every request of each client goes to either worker of either server:
# all see both notes.
for _ in 1 2 3 4; do
  expect 200 '"over h2".*"over h1"' --http2-prior-knowledge "$plain/notes" >/dev/null
  expect 200 '"over h2".*"over h1"' --http1.1 "$tls/notes" >/dev/null
done
id=$(curl -sS --http1.1 "$plain/notes" | sed -n 's/^\[{"id":\([0-9]*\).*/\1/p')
expect 200 "\"id\":$id" --http2 "$tls/notes/$id" >/dev/null
expect 204 '' --http2-prior-knowledge -X DELETE "$plain/notes/$id" >/dev/null
expect 404 'no such note' --http2 "$tls/notes/$id" >/dev/null
expect 404 'no such note' --http1.1 "$plain/notes/x" >/dev/null
echo "notes example: ok"
