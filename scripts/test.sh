#!/bin/sh
# The test command: installs what is missing, builds, runs every test (C units, Lua specs,
# end-to-end runs of the real binary) and a short smoke run of each benchmark.
#   scripts/test.sh              the whole suite (what CI runs)
#   scripts/test.sh --asan       the whole suite built with -fsanitize=address,undefined
#   scripts/test.sh --valgrind   the end-to-end tests with the binary under valgrind memcheck
#   scripts/test.sh -R REGEX     only the ctest tests matching REGEX
set -eu
cd "$(dirname "$0")/.."
mode=normal
filter=""
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) mode=asan ;;
    --valgrind) mode=valgrind ;;
    -R) shift; filter="$1" ;;
    *) echo "usage: $0 [--asan|--valgrind] [-R REGEX]" >&2; exit 2 ;;
  esac
  shift
done

extra=""
[ "$mode" = valgrind ] && extra="valgrind"
sh scripts/deps.sh test $extra

jobs=$(nproc)
case "$mode" in
  normal)
    sh scripts/build.sh build -DAGENT_WERROR=ON
    ctest --test-dir build -j"$jobs" --output-on-failure ${filter:+-R "$filter"}
    if [ -z "$filter" ] && [ -x bench/run.sh ]; then sh bench/run.sh --smoke build; fi ;;
  asan)
    sh scripts/build.sh build-asan -DAGENT_SANITIZE=ON -DAGENT_WERROR=ON
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan -j"$jobs" --output-on-failure ${filter:+-R "$filter"} ;;
  valgrind)
    sh scripts/build.sh build
    AGENT_VALGRIND=1 ctest --test-dir build -j"$jobs" --output-on-failure -R "${filter:-^e2e\\.}" ;;
esac
