#!/bin/sh
# The symbols agent exports: agent.so only luaopen_agent and the public submodules' openers
# (nm -D), and libagent.a exactly agent.h's API and those openers with default visibility,
# everything else hidden, so neither clashes with an embedder's names (walk_tree,
# ignore_match...). Usage: exports.sh BUILD SRC
set -eu
build=$1
src=$2
fail=0

openers=$(sed -n 's/^AGENT_LUA_OPENER int \([a-z_]*\)(.*/\1/p' "$src/src/host.h")
want_so=$(printf '%s\n' luaopen_agent $openers | sort | tr '\n' ' ')
so=$(nm -D --defined-only "$build/agent.so" | awk '{print $3}' | sort | tr '\n' ' ')
if [ "$so" != "$want_so" ]; then
  echo "agent.so exports $so; expected $want_so" >&2
  fail=1
fi

# The API: every function declared AGENT_API in agent.h, and the openers.
want=$( (sed -n 's/^AGENT_API .*[ *]\([a-z_]*\)(.*/\1/p' "$src/include/agent.h"
  printf '%s\n' $openers) | sort -u | tr '\n' ' ')
got=$(readelf -sW "$build/lib/libagent.a" |
  awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" && $4 == "FUNC" {print $8}' |
  sort -u | tr '\n' ' ')
if [ -z "$want" ] || [ "$got" != "$want" ]; then
  echo "libagent.a visible functions differ from agent.h's API:" >&2
  echo "  agent.h: $want" >&2
  echo "  visible: $got" >&2
  fail=1
fi
[ "$fail" = 0 ] && echo "agent.so: $so; libagent.a: $got"
exit "$fail"
