#!/usr/bin/env bash
# The one entry point for building, running and testing valk.
#
#   ./dev.sh run     install what is missing, build, serve examples/hello.lisp
#                    on http://127.0.0.1:8080/ (Ctrl-C stops it)
#   ./dev.sh test    install what is missing, build, run the whole test suite:
#                    normal build (with the GC stress pass), then an
#                    ASan+UBSan build, then bounded fuzz runs
#   ./dev.sh build   build only (build/)
#   ./dev.sh deps    install the Debian packages only
#
# Environment: JOBS (parallel jobs, default: cores), FUZZ_SECONDS (per fuzz
# target, default 30), SKIP_ASAN=1 and SKIP_FUZZ=1 to shorten a local run.
set -euo pipefail
cd "$(dirname "$0")"

JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

PACKAGES=(build-essential cmake ninja-build ccache pkg-config clang libclang-rt-14-dev
  libuv1-dev libnghttp2-dev zlib1g-dev libssl-dev libhttp-parser-dev libedit-dev libgtest-dev
  libcurl4-openssl-dev libjemalloc-dev curl nghttp2-client openssl lua5.4 python3 python3-hpack
  python3-prometheus-client brotli libpq-dev libsqlite3-dev
  libhiredis-dev redis-server postgresql chromium valgrind libwslay-dev python3-websockets python3-h2)

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Node.js (the machine's, else Debian's) and playwright-core for the browser
# tests in tests/browser, pinned by its package-lock.json.
browser_deps() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
  fi
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "==> installing playwright-core for the browser tests"
    (cd tests/browser && npm ci --silent --no-audit --no-fund)
  fi
}

# configure_build DIR [cmake args...]
configure_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  echo "==> building $dir"
  cmake --build "$dir" -j "$JOBS"
}

PASSED=0  # tests and fuzz runs that passed, for the closing line

run_ctest() {
  local dir=$1
  shift
  echo "==> testing $dir"
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" -j "$JOBS" --output-on-failure "$@" 2>&1 | tee "$log"
  local n
  n=$(grep -oE 'tests passed, 0 tests failed out of [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
  rm -f "$log"
  PASSED=$((PASSED + ${n:-0}))
}

fuzz() {
  configure_build build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DVALK_FUZZ=ON -DVALK_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  for target in build-fuzz/tests/fuzz/fuzz_*; do
    [ -x "$target" ] || continue
    local name corpus
    name=$(basename "$target")
    corpus=tests/fuzz/${name#fuzz_}_corpus
    local work
    work=$(mktemp -d)
    echo "==> fuzzing $name for ${FUZZ_SECONDS}s"
    "$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="build-fuzz/" "$work" "$corpus" 2>&1 | tail -n 3
    rm -rf "$work"
    PASSED=$((PASSED + 1))
  done
}

case "${1:-}" in
  deps)
    deps
    ;;
  build)
    deps
    configure_build build
    ;;
  run)
    deps
    configure_build build
    echo "==> build/valk serve examples/hello.lisp   (try: curl http://127.0.0.1:8080/)"
    exec build/valk serve examples/hello.lisp
    ;;
  test)
    deps
    browser_deps
    configure_build build
    run_ctest build
    if [ "${SKIP_ASAN:-0}" != 1 ]; then
      configure_build build-asan -DVALK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
      ASAN_OPTIONS=detect_leaks=1 run_ctest build-asan -LE "gcstress|valgrind"
    fi
    if [ "${SKIP_FUZZ:-0}" != 1 ]; then
      fuzz
    fi
    echo "==> all tests passed"
    echo "valk: $PASSED passed, 0 failed"
    ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]
    ;;
esac
