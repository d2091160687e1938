#!/bin/sh
# Configures and builds agent into a build directory (default ./build).
# usage: scripts/build.sh [BUILD_DIR] [cmake -D options...]
set -eu
cd "$(dirname "$0")/.."
dir="${1:-build}"
[ $# -gt 0 ] && shift
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" -- --no-print-directory >/dev/null
