/* Small helpers shared by the Lua bindings: the one failure convention every primitive uses,
 * option tables read as plain data, and the one way a C resource becomes a Lua handle.
 * Failures return  nil, "<op> '<subject>': <reason>", code  where code is errno or a tag;
 * misuse raises through luaL_argerror ("bad argument #2 to 'walk' (...)"). */
#ifndef AGENT_LUAX_H
#define AGENT_LUAX_H

#include <lauxlib.h>
#include <lua.h>

/* Pushes fail, "<op> '<subject>': strerror(err)", err. Returns 3 (values pushed). */
int agent_pusherrno(lua_State *L, const char *op, const char *subject, int err);

/* Pushes fail, "<op> '<subject>': <reason>", tag. Returns 3. */
int agent_pushfail(lua_State *L, const char *op, const char *subject, const char *reason,
                   const char *tag);

/* Option tables and other plain-data inputs are read with raw access: an __index metamethod
 * would run Lua in the middle of a C function, which can drop (and let the collector free)
 * strings the C side is still using. Each reader takes the table at stack index idx, which
 * may be none or nil (then every option has its default), and raises through luaL_argerror
 * with argument number idx when a value has the wrong type. */

/* Pushes t[field] read raw and returns its type; t is the table at idx. */
int agent_rawfield(lua_State *L, int idx, const char *field);

/* An optional integer option; dflt when absent. */
lua_Integer agent_optfield_int(lua_State *L, int idx, const char *field, lua_Integer dflt);

/* An optional number option (seconds, milliseconds). NaN is refused. */
lua_Number agent_optfield_num(lua_State *L, int idx, const char *field, lua_Number dflt);

/* An optional boolean option. */
int agent_optfield_bool(lua_State *L, int idx, const char *field, int dflt);

/* Raises "bad argument #idx to '<f>' (option '<field>' <what>)". */
int agent_opterror(lua_State *L, int idx, const char *field, const char *what);

/* Raises "attempt to use a closed <type>", the error of every method called on a handle
 * that was released (liolib's wording for files). */
int agent_closed_error(lua_State *L, const char *type);

/* Registers the metatable tname (the "agent.<Type>" names of the registry) with the given
 * metamethods and, when methods is non-NULL, an __index table of methods apart from them,
 * so `h:__gc()` is never callable. Leaves nothing on the stack. */
void agent_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                    const luaL_Reg *metamethods);

/* Pushes a zeroed full userdata of size bytes (with nuv user values) whose metatable is
 * tname, marked to-be-closed: its __close releases the C resource it holds when the calling
 * C function returns or raises, not at some later collection. tname must have __close (and
 * __gc, for a box that ends up referenced elsewhere); the box stays on the stack until the
 * function returns. */
void *agent_pushbox(lua_State *L, size_t size, int nuv, const char *tname);

#endif
