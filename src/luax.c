/* Shared binding helpers: failure pushing, raw option-table readers, userdata classes and
 * to-be-closed boxes (see luax.h for the conventions they carry). */
#include "luax.h"

#include <math.h>
#include <string.h>

int agent_pusherrno(lua_State *L, const char *op, const char *subject, int err)
{
  luaL_pushfail(L);
  lua_pushfstring(L, "%s '%s': %s", op, subject, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

int agent_pushfail(lua_State *L, const char *op, const char *subject, const char *reason,
                   const char *tag)
{
  luaL_pushfail(L);
  lua_pushfstring(L, "%s '%s': %s", op, subject, reason);
  lua_pushstring(L, tag);
  return 3;
}

int agent_rawfield(lua_State *L, int idx, const char *field)
{
  idx = lua_absindex(L, idx);
  lua_pushstring(L, field);
  return lua_rawget(L, idx);
}

int agent_opterror(lua_State *L, int idx, const char *field, const char *what)
{
  return luaL_argerror(L, idx, lua_pushfstring(L, "option '%s' %s", field, what));
}

/* Pushes opts[field] (raw) and returns 1, or pushes nothing and returns 0 when there is no
 * options table or the field is nil. */
static int push_option(lua_State *L, int idx, const char *field)
{
  if (lua_isnoneornil(L, idx))
    return 0;
  if (agent_rawfield(L, idx, field) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);
  return 0;
}

lua_Integer agent_optfield_int(lua_State *L, int idx, const char *field, lua_Integer dflt)
{
  if (!push_option(L, idx, field))
    return dflt;
  int isnum = 0;
  lua_Integer v = lua_tointegerx(L, -1, &isnum);
  if (!isnum)
    agent_opterror(L, idx, field, "must be an integer");
  lua_pop(L, 1);
  return v;
}

lua_Number agent_optfield_num(lua_State *L, int idx, const char *field, lua_Number dflt)
{
  if (!push_option(L, idx, field))
    return dflt;
  int isnum = 0;
  lua_Number v = lua_tonumberx(L, -1, &isnum);
  if (!isnum || isnan(v))
    agent_opterror(L, idx, field, "must be a number");
  lua_pop(L, 1);
  return v;
}

int agent_optfield_bool(lua_State *L, int idx, const char *field, int dflt)
{
  if (!push_option(L, idx, field))
    return dflt;
  if (!lua_isboolean(L, -1))
    agent_opterror(L, idx, field, "must be a boolean");
  int v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int agent_closed_error(lua_State *L, const char *type)
{
  return luaL_error(L, "attempt to use a closed %s", type);
}

void agent_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                    const luaL_Reg *metamethods)
{
  luaL_newmetatable(L, tname); /* stack: mt */
  luaL_setfuncs(L, metamethods, 0);
  if (methods) {
    lua_newtable(L); /* stack: mt methods */
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

void *agent_pushbox(lua_State *L, size_t size, int nuv, const char *tname)
{
  void *p = lua_newuserdatauv(L, size, nuv);
  memset(p, 0, size);
  luaL_setmetatable(L, tname);
  lua_toclose(L, -1);
  return p;
}
