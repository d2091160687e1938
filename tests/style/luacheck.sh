#!/bin/sh
# Runs luacheck (.luacheckrc: Lua 5.4, no globals) over agent's own Lua: pipeline, personas,
# tests, benchmarks and the editor plugin. Skips (exit 77) only when luacheck is missing.
# usage: luacheck.sh SOURCE_DIR
set -u
if ! command -v luacheck >/dev/null 2>&1; then
  echo "luacheck is not installed (scripts/deps.sh installs lua-check): skipped"
  exit 77
fi
cd "$1" || exit 1
exec luacheck --no-color -q lua personas tests bench editors
