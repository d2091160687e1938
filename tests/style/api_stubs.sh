#!/bin/sh
# Every function a C module registers (its luaL_Reg tables, metamethods aside) must be
# documented in docs/api/<module>.lua, so the API reference cannot drift from the code.
# usage: api_stubs.sh SOURCE_DIR
set -u
root="$1"
status=0
for src in "$root"/src/*.c; do
  mod=$(sed -n 's/^int luaopen_agent_\([a-z_]*\)(lua_State \*L)$/\1/p' "$src" | head -n 1)
  [ -n "$mod" ] || continue
  [ "$mod" = host ] && continue # internal: never exposed to scripts or embedders
  stub="$root/docs/api/$mod.lua"
  if [ ! -f "$stub" ]; then
    echo "src/$(basename "$src"): no docs/api/$mod.lua"
    status=1
    continue
  fi
  for name in $(grep -oE '^[[:space:]]*\{"[a-z_][a-z0-9_]*",' "$src" | sed -E 's/^[[:space:]]*\{"([a-z0-9_]*)",/\1/' | grep -v '^__' | sort -u); do
    if ! grep -qE "[.:]$name[[:space:]]*\(|function[[:space:]]+[A-Za-z_.:]*[.:]$name\(|[.:]$name[[:space:]]*=" "$stub"; then
      echo "docs/api/$mod.lua: '$name' is registered in src/$(basename "$src") but not documented"
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "every registered function is documented"
exit $status
