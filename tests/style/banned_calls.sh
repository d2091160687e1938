#!/bin/sh
# Fails when C sources use calls this project bans (unbounded or error-blind ones), or assign
# inside an `if` condition (`if ((fd = open(...)) < 0)`: one slip of `=` for `==` away from a
# bug the compiler cannot see, and two things to read at once).
# usage: banned_calls.sh SOURCE_DIR
set -u
root="$1"
files="$root/src/*.c $root/src/*.h $root/tools/*.c $root/tests/c/*.c $root/tests/fuzz/*.c"
status=0
pattern='(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atoll|gets)[[:space:]]*\('
# shellcheck disable=SC2086 # the globs expand here
hits=$(grep -nE "$pattern" $files 2>/dev/null |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)')
if [ -n "$hits" ]; then
  echo "banned calls (use snprintf, memcpy with a length, strtol...):"
  echo "$hits"
  status=1
fi

# An if's condition (it may span lines), with literals and comments blanked first, must not
# hold =, +=, |= and the like; ==, !=, <= and >= are comparisons.
# shellcheck disable=SC2086
assigns=$(awk '
  function strip(s) {
    gsub(/\\./, "__", s)
    gsub(/"[^"]*"/, "\"\"", s)
    gsub(/'"'"'[^'"'"']*'"'"'/, "__", s)
    gsub(/\/\*.*\*\//, "", s)
    sub(/\/\/.*/, "", s)
    return s
  }
  FNR == 1 { depth = 0; cond = "" }
  {
    line = strip($0)
    if (line ~ /^[[:space:]]*\*/) next
    if (depth == 0) {
      if (!match(line, /(^|[^A-Za-z0-9_])if *\(/)) next
      start = FNR
      line = substr(line, RSTART + RLENGTH - 1)
      cond = ""
    }
    for (i = 1; i <= length(line); i++) {
      ch = substr(line, i, 1)
      if (ch == "(") depth++
      else if (ch == ")") depth--
      cond = cond ch
      if (depth == 0) break
    }
    if (depth == 0 && cond ~ /([^=!<>]|^)=([^=]|$)/)
      print FILENAME ":" start ": " cond
  }' $files 2>/dev/null)
if [ -n "$assigns" ]; then
  echo "assignment inside an if condition (assign first, then test):"
  echo "$assigns"
  status=1
fi
[ "$status" = 0 ] && echo "no banned calls, no assignment inside an if"
exit "$status"
