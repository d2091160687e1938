#!/bin/sh
# Fails when C sources use calls this project bans (unbounded or error-blind ones).
# usage: banned_calls.sh SOURCE_DIR
set -u
root="$1"
pattern='(^|[^A-Za-z0-9_])(sprintf|vsprintf|strcpy|strcat|strncpy|strtok|atoi|atol|atoll|gets)[[:space:]]*\('
hits=$(grep -nE "$pattern" "$root"/src/*.c "$root"/src/*.h "$root"/tools/*.c "$root"/tests/c/*.c "$root"/tests/fuzz/*.c 2>/dev/null |
  grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)')
if [ -n "$hits" ]; then
  echo "banned calls (use snprintf, memcpy with a length, strtol...):"
  echo "$hits"
  exit 1
fi
echo "no banned calls"
