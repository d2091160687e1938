/* The agent CLI: argv in, exit status out. Everything else happens in the host and the
 * Lua pipeline (lua/agent/cli.lua). */
#include "agent.h"

#include <stdio.h>

int main(int argc, char **argv)
{
  agent_catch_signals();
  struct agent_host *host = agent_host_new();
  if (!host) {
    fputs("agent: cannot start (out of memory or broken build)\n", stderr);
    return AGENT_EFAIL;
  }
  int status = agent_host_run(host, argc, argv);
  agent_host_free(host);
  return status;
}
