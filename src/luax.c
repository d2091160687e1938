/* Shared binding helpers: failure pushing, option-table readers, userdata classes. */
#include "luax.h"

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

lua_Integer agent_optfield_int(lua_State *L, int idx, const char *field, lua_Integer dflt)
{
  if (lua_isnoneornil(L, idx))
    return dflt;
  lua_getfield(L, idx, field);
  lua_Integer v = dflt;
  if (!lua_isnil(L, -1)) {
    int isnum = 0;
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum)
      luaL_error(L, "option '%s' must be an integer", field);
  }
  lua_pop(L, 1);
  return v;
}

lua_Number agent_optfield_num(lua_State *L, int idx, const char *field, lua_Number dflt)
{
  if (lua_isnoneornil(L, idx))
    return dflt;
  lua_getfield(L, idx, field);
  lua_Number v = dflt;
  if (!lua_isnil(L, -1)) {
    int isnum = 0;
    v = lua_tonumberx(L, -1, &isnum);
    if (!isnum)
      luaL_error(L, "option '%s' must be a number", field);
  }
  lua_pop(L, 1);
  return v;
}

int agent_optfield_bool(lua_State *L, int idx, const char *field, int dflt)
{
  if (lua_isnoneornil(L, idx))
    return dflt;
  lua_getfield(L, idx, field);
  int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void agent_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                    const luaL_Reg *metamethods)
{
  luaL_newmetatable(L, tname);     /* stack: mt */
  luaL_setfuncs(L, metamethods, 0);
  lua_newtable(L);                 /* stack: mt methods */
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");  /* mt.__index = methods */
  lua_pop(L, 1);
}
