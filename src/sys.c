/* agent.sys: the process and clock facts the pipeline needs (monotonic clock, wall time,
 * environment, terminals, process id, random ids, sleep). */
#include "host.h"
#include "luax.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

/* sys.clock() -> milliseconds (float) from a monotonic clock; for durations only. */
static int sys_clock(lua_State *L)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec * 1e3 + (lua_Number)ts.tv_nsec / 1e6);
  return 1;
}

/* sys.time() -> seconds since the epoch (float), for timestamps. */
static int sys_time(lua_State *L)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* sys.getenv(name) -> string | nil */
static int sys_getenv(lua_State *L)
{
  const char *v = getenv(luaL_checkstring(L, 1));
  if (!v)
    return 0;
  lua_pushstring(L, v);
  return 1;
}

/* sys.isatty(stream) -> boolean; stream is "stdin", "stdout", "stderr" or a descriptor. */
static int sys_isatty(lua_State *L)
{
  int fd;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    fd = (int)luaL_checkinteger(L, 1);
  } else {
    static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
    fd = luaL_checkoption(L, 1, NULL, names);
  }
  lua_pushboolean(L, isatty(fd));
  return 1;
}

/* sys.pid() -> integer */
static int sys_pid(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

/* sys.random_id([bytes = 8]) -> lower-case hex string of 2*bytes characters (1..64 bytes),
 * from the kernel's random source. Raises only for a bad size. */
static int sys_random_id(lua_State *L)
{
  lua_Integer n = luaL_optinteger(L, 1, 8);
  luaL_argcheck(L, n >= 1 && n <= 64, 1, "size must be 1..64 bytes");
  unsigned char raw[64];
  size_t got = 0;
  while (got < (size_t)n) {
    ssize_t r = getrandom(raw + got, (size_t)n - got, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return agent_pusherrno(L, "random_id", "getrandom", errno);
    }
    got += (size_t)r;
  }
  static const char hex[] = "0123456789abcdef";
  char out[129];
  for (lua_Integer i = 0; i < n; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  lua_pushlstring(L, out, (size_t)n * 2);
  return 1;
}

/* sys.sleep(ms) -> true | nil, "sleep: interrupted"; returns early when a signal arrives. */
static int sys_sleep(lua_State *L)
{
  lua_Number ms = luaL_checknumber(L, 1);
  if (ms > 0) {
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (lua_Number)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) != 0) {
      if (errno != EINTR || agent_signal_pending()) {
        luaL_pushfail(L);
        lua_pushliteral(L, "sleep: interrupted");
        return 2;
      }
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg sys_funcs[] = {
  {"clock", sys_clock},
  {"time", sys_time},
  {"getenv", sys_getenv},
  {"isatty", sys_isatty},
  {"pid", sys_pid},
  {"random_id", sys_random_id},
  {"sleep", sys_sleep},
  {NULL, NULL},
};

int luaopen_agent_sys(lua_State *L)
{
  luaL_newlib(L, sys_funcs);
  return 1;
}
