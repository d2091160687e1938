/* agent.yaml: placeholder opener until the module lands (tracked in issue 2). */
#include "host.h"

#include <lauxlib.h>

int luaopen_agent_yaml(lua_State *L)
{
  lua_newtable(L);
  return 1;
}
