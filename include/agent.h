/* agent.h: the public C embedding API of agent, a governance-panel runner built on Lua 5.4.
 *
 * A host owns one lua_State with every agent primitive preloaded (agent.fs, agent.http,
 * agent.yaml, agent.markdown, agent.rules, agent.sys, cjson) and the built-in Lua pipeline
 * on its search path. Run a CLI command with agent_host_run, or reach the state and call
 * the Lua API (`require "agent"`) yourself. See docs/embedding.md. */
#ifndef AGENT_H
#define AGENT_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: these functions are its whole interface,
 * so they alone stay visible when libagent is linked into a shared object. */
#if defined(__GNUC__) || defined(__clang__)
#define AGENT_API __attribute__((visibility("default")))
#else
#define AGENT_API
#endif

/* Exit statuses of agent_host_run (and of the agent binary). */
enum agent_status {
  AGENT_OK = 0,          /* done */
  AGENT_EFAIL = 1,       /* runtime failure: bad input file, I/O, network, provider */
  AGENT_EUSAGE = 2,      /* unknown command or flag, missing argument */
  AGENT_ESCRIPT = 3,     /* a team script (persona, template, module) failed */
  AGENT_EGATE = 4,       /* runbook written, but gates still fail (see its Gate report) */
  AGENT_EINCOMPLETE = 5, /* runbook written, but a persona gave no usable review */
  AGENT_EBLOCKED = 6,    /* runbook written, but a persona's verdict is BLOCK */
  AGENT_EINTERNAL = 70,  /* a bug in agent itself (traceback printed) */
  AGENT_EINT = 130,      /* interrupted by SIGINT */
  AGENT_ETERM = 143      /* interrupted by SIGTERM */
};

struct agent_host;

/* Creates a host: a fresh lua_State with the standard libraries, the agent primitives
 * preloaded and the script search path installed. Returns NULL when out of memory.
 * The caller owns the host and frees it with agent_host_free. */
AGENT_API struct agent_host *agent_host_new(void);

/* Runs one CLI command, exactly as the agent binary would: argv[0] is the program name,
 * argv[1..] the command and its flags. Output goes to stdout/stderr. Returns an
 * enum agent_status value. May be called several times on one host. */
AGENT_API int agent_host_run(struct agent_host *host, int argc, char **argv);

/* The host's Lua state, for calling the Lua API directly (`require "agent"`). Owned by the
 * host: valid until agent_host_free, never lua_close it yourself. */
AGENT_API lua_State *agent_host_state(struct agent_host *host);

/* Closes the Lua state and frees the host. NULL is allowed. */
AGENT_API void agent_host_free(struct agent_host *host);

/* Installs SIGINT/SIGTERM handlers that ask running work to stop (in-flight requests are
 * cancelled, agent_host_run returns AGENT_EINT/AGENT_ETERM). A second signal kills the
 * process. Optional: a host that handles signals itself need not call it. */
AGENT_API void agent_catch_signals(void);

/* The library version, "MAJOR.MINOR.PATCH". */
AGENT_API const char *agent_version(void);

/* The Lua module opener behind `require "agent"`: opens the agent API into any Lua 5.4
 * state and pushes its table. */
AGENT_API int luaopen_agent(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
