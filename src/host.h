/* Internal host interface: the module openers, preloading, and the per-state context
 * (allocator accounting, script limits) that host.c keeps in the registry. */
#ifndef AGENT_HOST_H
#define AGENT_HOST_H

#include <lua.h>

/* The objects are built with -fvisibility=hidden. The public modules' openers stay visible
 * beside agent.h's API: they are Lua's names for agent.so's submodules (the all-in-one
 * loader finds `require "agent.http"` there; package.loadlib opens a second instance).
 * agent.host, for the built-in Lua only, stays hidden. */
#define AGENT_LUA_OPENER __attribute__((visibility("default")))

/* One opener per C module (src/<module>.c). */
AGENT_LUA_OPENER int luaopen_agent_fs(lua_State *L);
AGENT_LUA_OPENER int luaopen_agent_http(lua_State *L);
AGENT_LUA_OPENER int luaopen_agent_yaml(lua_State *L);
AGENT_LUA_OPENER int luaopen_agent_markdown(lua_State *L);
AGENT_LUA_OPENER int luaopen_agent_rules(lua_State *L);
AGENT_LUA_OPENER int luaopen_agent_sys(lua_State *L);
int luaopen_agent_host(lua_State *L);
int luaopen_cjson(lua_State *L);

/* Installs the per-state context, every opener in package.preload, and the script loader
 * (lua/agent/loader.lua, which adds the search-path searcher). share_dir is the installed
 * built-ins directory or NULL. Raises on failure; call under lua_pcall. */
void agent_open_state(lua_State *L, const char *share_dir);

/* The signal received (SIGINT/SIGTERM) since agent_catch_signals, or 0. */
int agent_signal_pending(void);

#endif
