/* Small helpers shared by the Lua bindings: the one failure convention every primitive uses.
 * Failures return  nil, "<op> '<subject>': <reason>", code  where code is errno or a tag. */
#ifndef AGENT_LUAX_H
#define AGENT_LUAX_H

#include <lauxlib.h>
#include <lua.h>

/* Pushes fail, "<op> '<subject>': strerror(err)", err. Returns 3 (values pushed). */
int agent_pusherrno(lua_State *L, const char *op, const char *subject, int err);

/* Pushes fail, "<op> '<subject>': <reason>", tag. Returns 3. */
int agent_pushfail(lua_State *L, const char *op, const char *subject, const char *reason,
                   const char *tag);

/* Reads an optional integer field of the table at idx; dflt when absent. Raises on a bad type. */
lua_Integer agent_optfield_int(lua_State *L, int idx, const char *field, lua_Integer dflt);

/* Reads an optional number field (seconds and the like). */
lua_Number agent_optfield_num(lua_State *L, int idx, const char *field, lua_Number dflt);

/* Reads an optional boolean field. */
int agent_optfield_bool(lua_State *L, int idx, const char *field, int dflt);

/* Installs funcs in a new table with a metatable named tname whose __index is the method
 * table `methods` and whose metamethods are `metamethods`. Leaves nothing on the stack. */
void agent_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                    const luaL_Reg *metamethods);

#endif
