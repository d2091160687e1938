#!/bin/sh
# tools/embed.c: a path with a quote, a backslash or a '?' becomes a valid C literal naming
# the same bytes, and a failure (a missing input) leaves neither OUTPUT.c nor OUTPUT.c.tmp.
# Usage: embed.sh AGENT_EMBED SRC CC
set -eu
embed=$1
src=$2
cc=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/in/we\"ird\\dir"
printf 'return "x??="\n' >"$dir/in/we\"ird\\dir/a?.lua"
printf 'plain\n' >"$dir/in/b.lua"

"$embed" "$dir/out.c" "$dir/in" 'we"ird\dir/a?.lua' b.lua
cat >"$dir/check.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "embedded.h"
int main(void)
{
  const struct agent_embedded *f = agent_embedded_files;
  int ok = agent_embedded_count == 2 && strcmp(f[0].path, "we\"ird\\dir/a?.lua") == 0 &&
           f[0].size == 14 && memcmp(f[0].data, "return \"x?\?=\"\n", 14) == 0 &&
           strcmp(f[1].path, "b.lua") == 0;
  puts(ok ? "embedded paths and bytes intact" : "embedded table differs");
  return !ok;
}
C
"$cc" -std=c11 -Wall -Werror -I"$src/src" -o "$dir/check" "$dir/check.c" "$dir/out.c"
"$dir/check"

if "$embed" "$dir/bad.c" "$dir/in" b.lua missing.lua 2>"$dir/err"; then
  echo "a missing input did not fail" >&2
  exit 1
fi
grep -q "missing.lua" "$dir/err"
if [ -e "$dir/bad.c" ] || [ -e "$dir/bad.c.tmp" ]; then
  echo "a failed run left output behind" >&2
  exit 1
fi
echo "a failed run leaves nothing behind"
