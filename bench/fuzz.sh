#!/bin/sh
# Runs each libFuzzer target (tests/fuzz/fuzz_<name>.c) for a set time, starting from a copy
# of its seed corpus (tests/fuzz/corpus/<name>/), and prints one line per target: runs,
# executions per second, coverage, corpus growth, crashes. Builds the targets first, with
# clang and the whole project instrumented, in their own build directory.
#   bench/fuzz.sh [-t SECONDS] [-b BUILD_DIR] [-j JOBS] [--merge] [TARGET...]
#     -t SECONDS   per target (default 60)
#     -b BUILD_DIR default build-fuzz
#     -j JOBS      libFuzzer workers per target (default 1; each gets SECONDS)
#     --merge      add the inputs that found new coverage to the seed corpus (set-cover)
#     TARGET       e.g. yaml runbook (default: every tests/fuzz/fuzz_*.c)
# A crash leaves its input as BUILD_DIR/fuzz-out/<target>/crash-*; replay it with
# BUILD_DIR/tests/fuzz/fuzz_<target> FILE, and once fixed copy it into the seed corpus so the
# ctest replay (fuzz.replay_<target>) keeps it fixed. Exit status 1 when any target crashed.
set -eu
cd "$(dirname "$0")/.."

seconds=60
build=build-fuzz
jobs=1
merge=0
while [ $# -gt 0 ]; do
  case "$1" in
    -t|-b|-j) [ $# -ge 2 ] || { echo "bench/fuzz.sh: $1 needs a value (see bench/fuzz.sh --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    -t) seconds="$2"; shift ;;
    -b) build="$2"; shift ;;
    -j) jobs="$2"; shift ;;
    --merge) merge=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench/fuzz.sh: unknown option '$1' (see bench/fuzz.sh --help)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done

targets="$*"
if [ -z "$targets" ]; then
  for f in tests/fuzz/fuzz_*.c; do
    name=${f#tests/fuzz/fuzz_}
    targets="$targets ${name%.c}"
  done
fi
for name in $targets; do
  if [ ! -f "tests/fuzz/fuzz_$name.c" ]; then
    echo "bench/fuzz.sh: no target tests/fuzz/fuzz_$name.c" >&2
    exit 2
  fi
done

command -v clang >/dev/null || { echo "bench/fuzz.sh: clang is needed for libFuzzer" >&2; exit 1; }
cmake -S . -B "$build" -DAGENT_FUZZ=ON -DCMAKE_C_COMPILER=clang >/dev/null
for name in $targets; do
  cmake --build "$build" -j"$(nproc)" --target "fuzz_$name" >/dev/null
done

# Leaks are checked by the replays under ASan and valgrind; here they would stop a run on the
# first input that leaves a host state's cache behind.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

bin=$(cd "$build/tests/fuzz" && pwd)
status=0
printf '%-12s %10s %9s %7s %7s %7s %s\n' target runs exec/s cov corpus new crashes
for name in $targets; do
  seeds="tests/fuzz/corpus/$name"
  out="$build/fuzz-out/$name"
  rm -rf "$out"
  mkdir -p "$out/corpus"
  [ -d "$seeds" ] && cp "$seeds"/* "$out/corpus/" 2>/dev/null || true
  before=$(ls "$out/corpus" | wc -l)
  log="$out/fuzz.log"
  if [ "$jobs" -gt 1 ]; then
    par="-jobs=$jobs -workers=$jobs"
  else
    par=""
  fi
  # in $out, where -jobs writes its fuzz-N.log files; shellcheck: $par is zero or two words
  # shellcheck disable=SC2086
  (cd "$out" && "$bin/fuzz_$name" $par -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=./ corpus >fuzz.log 2>&1) || true
  cat "$out"/fuzz-*.log >>"$log" 2>/dev/null || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s += $1} END {print s + 0}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  after=$(ls "$out/corpus" | wc -l)
  crashes=$(ls "$out" | grep -c -E '^(crash|leak|timeout|oom)-' || true)
  printf '%-12s %10s %9s %7s %7s %7s %s\n' "$name" "$runs" "$speed" "${cov:-?}" "$after" "$((after - before))" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    status=1
    ls "$out" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|  $out/|"
  fi
  if [ "$merge" = 1 ] && [ -d "$seeds" ]; then
    "$bin/fuzz_$name" -merge=1 "$seeds" "$out/corpus" >>"$log" 2>&1
  fi
done
exit $status
