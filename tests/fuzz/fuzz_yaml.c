/* libFuzzer target for agent.yaml: any bytes through the core-schema resolver and through
 * yaml.decode / yaml.decode_all (default caps, and small ones so deep and alias-heavy inputs
 * reach them). Aborts when a result breaks the module's contract. */
#include "host.h"
#include "yaml_scalar.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void violated(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_yaml: %s: %s\n", what, detail ? detail : "");
  abort();
}

/* The resolver must read only its len bytes (ASan sees an overread) and agree with itself:
 * an explicit tag accepts a text exactly when untagged resolution reads it as that type
 * (ints past long long read as floats; every int is also a valid !!float but 0o/0x ones). */
static void fuzz_resolver(const char *s, size_t len)
{
  struct agent_yaml_scalar plain, as_null, as_bool, as_int, as_float;
  if (agent_yaml_resolve(s, len, &plain) != 0)
    violated("resolve", "failed without memory pressure");
  int null_ok = agent_yaml_resolve_as(AGENT_YAML_NULL, s, len, &as_null) == 1;
  int bool_ok = agent_yaml_resolve_as(AGENT_YAML_BOOL, s, len, &as_bool) == 1;
  int int_ok = agent_yaml_resolve_as(AGENT_YAML_INT, s, len, &as_int) == 1;
  int float_ok = agent_yaml_resolve_as(AGENT_YAML_FLOAT, s, len, &as_float) == 1;
  if (null_ok != (plain.type == AGENT_YAML_NULL) || bool_ok != (plain.type == AGENT_YAML_BOOL))
    violated("resolve_as", "null/bool tags disagree with resolve");
  if (int_ok && as_int.type != plain.type)
    violated("resolve_as", "!!int gives another type than resolve");
  if (plain.type == AGENT_YAML_INT && (!int_ok || as_int.integer != plain.integer))
    violated("resolve_as", "!!int refuses an int");
  if (plain.type == AGENT_YAML_FLOAT && !int_ok && !float_ok)
    violated("resolve_as", "a float is neither !!int nor !!float");
  if (float_ok && plain.type != AGENT_YAML_FLOAT && plain.type != AGENT_YAML_INT)
    violated("resolve_as", "!!float accepts a non-number");
}

/* Runs decode_all(text, opts) then decode(text, opts) (opts: the table at index 2, or nil)
 * and checks: a success is a table of documents; a failure is nil and "yaml: ..."; decode
 * reads a prefix, so it succeeds whenever decode_all does. */
static void fuzz_decode(lua_State *L, const char *text, size_t len)
{
  lua_getfield(L, 1, "decode_all");
  lua_pushlstring(L, text, len);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 2, 2, 0) != LUA_OK)
    violated("decode_all raised", lua_tostring(L, -1));
  int all_ok = lua_istable(L, -2);
  const char *msg = lua_isstring(L, -1) ? lua_tostring(L, -1) : "";
  if (!all_ok && (!lua_isnil(L, -2) || strncmp(msg, "yaml: ", 6) != 0))
    violated("decode_all", "neither documents nor nil, \"yaml: ...\"");
  lua_Integer docs = all_ok ? (lua_Integer)lua_rawlen(L, -2) : 0;
  lua_pop(L, 2);

  lua_getfield(L, 1, "decode");
  lua_pushlstring(L, text, len);
  lua_pushvalue(L, 2);
  if (lua_pcall(L, 2, 2, 0) != LUA_OK)
    violated("decode raised", lua_tostring(L, -1));
  if (all_ok && lua_isnil(L, -2))
    violated("decode failed where decode_all succeeded", lua_tostring(L, -1));
  if (all_ok && docs == 0 && !(lua_islightuserdata(L, -2) && !lua_touserdata(L, -2)))
    violated("decode", "an empty stream is not yaml.null");
  lua_pop(L, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  fuzz_resolver(text, size < 64 ? size : 64);

  lua_State *L = luaL_newstate();
  if (!L)
    return 0;
  luaL_requiref(L, "agent.yaml", luaopen_agent_yaml, 0); /* stack: yaml */
  lua_pushnil(L);                                        /* stack: yaml opts */
  fuzz_decode(L, text, size);
  lua_newtable(L);
  lua_pushinteger(L, 8);
  lua_setfield(L, -2, "max_depth");
  lua_pushinteger(L, 50);
  lua_setfield(L, -2, "max_alias_nodes");
  lua_replace(L, 2);
  fuzz_decode(L, text, size);
  lua_close(L);
  return 0;
}
