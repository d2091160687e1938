/* A minimal C host embedding agent (see docs/embedding.md): runs one CLI command, then uses
 * the same Lua state to call the Lua API directly. The test suite builds and runs it.
 * Build against an install:  cc embed.c $(pkg-config --cflags --libs agent) -o embed */
#include <agent.h>

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>

int main(void)
{
  struct agent_host *host = agent_host_new();
  if (!host) {
    fputs("embed: cannot create the agent host\n", stderr);
    return 1;
  }

  /* 1. Run a command exactly as the CLI would. */
  char arg0[] = "agent", arg1[] = "--version";
  char *argv[] = {arg0, arg1, NULL};
  int status = agent_host_run(host, 2, argv);
  if (status != AGENT_OK) {
    fprintf(stderr, "embed: agent --version exited with %d\n", status);
    agent_host_free(host);
    return 1;
  }

  /* 2. Call the Lua API in the host's state: hash a string with agent.sys.sha256. */
  lua_State *L = agent_host_state(host);
  const char *chunk = "local agent = require 'agent'\n"
                      "return agent.version, agent.sys.sha256('abc')";
  if (luaL_dostring(L, chunk) != LUA_OK) {
    fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
    agent_host_free(host);
    return 1;
  }
  printf("library %s, lua sees %s, sha256(abc) = %s\n", agent_version(), lua_tostring(L, -2),
         lua_tostring(L, -1));
  lua_pop(L, 2);

  agent_host_free(host);
  return 0;
}
