#!/bin/sh
# Fails when a Lua-callable C function (named in a luaL_Reg table, pushed with
# lua_pushcfunction/lua_pushcclosure, or a luaopen_ opener) is not directly preceded by its
# comment, whose text must show the call: "name(" or "name:" or "__gc(" and so on.
# usage: lua_signatures.sh SOURCE_DIR
set -u
root="$1"
fail=0
for f in "$root"/src/*.c; do
  out=$(awk '
    FNR == NR {
      line = $0
      while (match(line, /\{ *"[^"]+", *[a-z_0-9]+ *\}/)) {
        entry = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
        sub(/^\{ *"[^"]+", */, "", entry); sub(/ *\}$/, "", entry); callable[entry] = 1
      }
      if (match($0, /lua_push(cfunction|cclosure)\(L, *[a-z_0-9]+/)) {
        s = substr($0, RSTART, RLENGTH); sub(/.*, */, "", s); callable[s] = 1
      }
      next
    }
    /^ *\/\*/ { text = "" }
    { text = text " " $0 }
    /\*\/ *$/ { comment_end = FNR; prev_comment = text }
    /^(static )?int [a-z_0-9]+\(lua_State \*L\)$/ {
      name = $0; sub(/^(static )?int /, "", name); sub(/\(.*/, "", name)
      if (!(name in callable) && name !~ /^luaopen_/) next
      if (comment_end != FNR - 1)
        print FILENAME ":" FNR ": " name ": no comment right above"
      else if (prev_comment !~ /[a-z_0-9]+(\(|:)/)
        print FILENAME ":" FNR ": " name ": comment shows no signature"
    }
  ' "$f" "$f")
  if [ -n "$out" ]; then
    echo "$out"
    fail=1
  fi
done
[ "$fail" = 0 ] && echo "every Lua-callable C function has its signature comment"
exit "$fail"
