/* Tests for agent.http's run-time loading of libcurl, driven from C because a Lua spec lives
 * in one lua_State: opening the module loads nothing, each state loads libcurl on its first
 * request and unloads it when closed without disturbing another state, AGENT_LIBCURL names
 * the library, and a state that could not load it answers "unavailable" and tries again. */
#include "host.h"
#include "test.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#define LIBCURL "libcurl.so.4"
#define REFUSED_URL "http://127.0.0.1:1/" /* nothing listens on port 1: refused at once */

/* Whether libcurl is mapped into this process now (RTLD_NOLOAD opens only what is there). */
static int curl_mapped(void)
{
  void *h = dlopen(LIBCURL, RTLD_NOW | RTLD_NOLOAD);
  if (h)
    dlclose(h); /* balance the reference NOLOAD took */
  return h != NULL;
}

/* A bare state with agent.http in the global `http`. */
static lua_State *new_state(void)
{
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "agent.http", luaopen_agent_http, 0);
  lua_setglobal(L, "http");
  return L;
}

struct outcome {
  char code[32]; /* the failure code, "ok" for a response, "raised" when the call raised */
  char msg[512];
};

/* Sends one request to url in L. */
static struct outcome request(lua_State *L, const char *url)
{
  static const char chunk[] = "local res, msg, code = http.request{ url = ... }\n"
                              "return res and 'ok' or tostring(code), tostring(msg)";
  struct outcome o;
  int ok = luaL_loadstring(L, chunk) == LUA_OK;
  if (ok) {
    lua_pushstring(L, url);
    ok = lua_pcall(L, 1, 2, 0) == LUA_OK;
  }
  if (!ok) {
    lua_pushliteral(L, "raised");
    lua_insert(L, -2); /* stack: "raised" error */
  }
  snprintf(o.code, sizeof(o.code), "%s", lua_tostring(L, -2));
  snprintf(o.msg, sizeof(o.msg), "%s", lua_tostring(L, -1));
  lua_pop(L, 2);
  return o;
}

static void test_states_load_and_unload_independently(void)
{
  CHECK(!curl_mapped()); /* the test binary does not link libcurl, as agent no longer does */
  lua_State *a = new_state();
  CHECK(!curl_mapped()); /* opening the module loads nothing */
  struct outcome o = request(a, REFUSED_URL);
  CHECK_STR(o.code, "connect");
  CHECK(strstr(o.msg, "cannot connect: Connection refused") != NULL);
  CHECK(curl_mapped());

  lua_State *b = new_state();
  CHECK_STR(request(b, REFUSED_URL).code, "connect");
  lua_close(a); /* a's curl_global_cleanup and dlclose must leave b's libcurl working */
  CHECK(curl_mapped());
  CHECK_STR(request(b, REFUSED_URL).code, "connect");
  lua_close(b);
  CHECK(!curl_mapped()); /* every dlopen was balanced */
}

static void test_agent_libcurl_names_the_library(void)
{
  setenv("AGENT_LIBCURL", "/nonexistent/libcurl.so.4", 1);
  lua_State *L = new_state();
  struct outcome o = request(L, REFUSED_URL);
  CHECK_STR(o.code, "unavailable");
  CHECK_STR(o.msg, "http: cannot load libcurl (/nonexistent/libcurl.so.4: cannot open shared "
                   "object file: No such file or directory): install the libcurl4 package");
  CHECK(!curl_mapped());

  setenv("AGENT_LIBCURL", "libm.so.6", 1); /* a library, but not libcurl */
  o = request(L, REFUSED_URL);
  CHECK_STR(o.code, "unavailable");
  CHECK(strstr(o.msg, "undefined symbol: curl_global_init") != NULL);
  CHECK(!curl_mapped());

  unsetenv("AGENT_LIBCURL"); /* the same state tries again on its next request */
  CHECK_STR(request(L, REFUSED_URL).code, "connect");
  CHECK(curl_mapped());
  lua_close(L);
  CHECK(!curl_mapped());

  setenv("AGENT_LIBCURL", LIBCURL, 1); /* a name on the loader's path works like the default */
  L = new_state();
  CHECK_STR(request(L, REFUSED_URL).code, "connect");
  lua_close(L);
  unsetenv("AGENT_LIBCURL");
}

int main(void)
{
  unsetenv("AGENT_LIBCURL");
  test_states_load_and_unload_independently();
  test_agent_libcurl_names_the_library();
  return TEST_DONE();
}
