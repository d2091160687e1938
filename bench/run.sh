#!/bin/sh
# Runs the benchmarks with a built agent and prints one line per figure.
#   bench/run.sh [--smoke] [BUILD_DIR] [-- bench.lua options, e.g. --only host,walk_select]
# --smoke: tiny inputs and few runs, to prove every benchmark runs (CI does this).
# BUILD_DIR defaults to build; bench/README.md explains the figures.
set -eu
cd "$(dirname "$0")/.."
smoke=""
if [ "${1:-}" = "--smoke" ]; then smoke="--smoke"; shift; fi
build="${1:-build}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -x "$build/bin/agent" ]; then
  echo "bench/run.sh: no $build/bin/agent; build first: cmake -S . -B $build && cmake --build $build" >&2
  exit 1
fi
exec "$build/bin/agent" lua bench/bench.lua $smoke "$@"
