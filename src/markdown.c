/* agent.markdown: placeholder opener until the module lands (tracked in issue 2). */
#include "host.h"

#include <lauxlib.h>

int luaopen_agent_markdown(lua_State *L)
{
  lua_newtable(L);
  return 1;
}
