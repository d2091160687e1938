#!/bin/sh
# Fails when a C file differs from what clang-format makes of it with the root .clang-format
# (src, include, tools, tests/c, tests/fuzz); prints the files and the first lines of each
# difference. Fix with: clang-format -i <file>. Skips (exit 77, which ctest shows as a skip)
# when clang-format is not installed; scripts/deps.sh installs it for the tests.
# usage: clang_format.sh SOURCE_DIR [CLANG_FORMAT]
set -u
root="$1"
cf="${2:-clang-format}"
if ! command -v "$cf" >/dev/null 2>&1; then
  echo "clang-format not found: style not checked (scripts/deps.sh test installs it)"
  exit 77
fi
diff_file=$(mktemp)
trap 'rm -f "$diff_file"' EXIT
status=0
for f in "$root"/src/*.c "$root"/src/*.h "$root"/include/*.h "$root"/tools/*.c \
  "$root"/tests/c/*.c "$root"/tests/c/*.h "$root"/tests/fuzz/*.c; do
  [ -e "$f" ] || continue
  # --assume-filename keeps the root .clang-format in force whatever the working directory
  if ! "$cf" --style=file --assume-filename="$f" <"$f" | diff -u "$f" - >"$diff_file" 2>&1; then
    echo "not clang-formatted: $f"
    sed -n '3,12p' "$diff_file"
    status=1
  fi
done
[ "$status" = 0 ] && echo "every C file is clang-formatted"
exit "$status"
