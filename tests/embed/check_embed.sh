#!/usr/bin/env bash
# Installs libvalk from the build tree into a temporary prefix, builds
# examples/embed against the installed CMake package, runs the host program
# and checks its output. Also checks that pkg-config finds valk.pc.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples/embed" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
# check NAME EXPECTED COMMAND...: runs the command and compares its output.
check() {
  local name=$1 expected=$2 out
  shift 2
  out=$("$@")
  echo "$out"
  if [ "$out" != "$expected" ]; then
    echo "unexpected $name output; expected:" >&2
    echo "$expected" >&2
    exit 1
  fi
}
check host $'sum: 42\nHello, embedder!\nerror type: type-error' \
  bash -c "cd / && '$work/build/host'"
check web_host $'Lisp says the answer is 42\nfrom C++\nvalk_requests_total{protocol="http1"} 3\nvalk_workers 1' \
  "$work/build/web_host" "$source_dir/examples/embed/web_app.lisp"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs valk | grep -q -- "-lvalk"
echo "embed example ok"
