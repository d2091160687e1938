/* Tests for the host's signal handling through the public API (agent.h): a signal received
 * between two runs must not end the next run, the handler SA_RESETHAND removed is put back,
 * a signal during a run still ends that run with 130, and a script stuck inside one C call
 * (out of the budget hook's reach) is killed by a second SIGINT; a signal already received
 * cuts sys.sleep short. */
#include "agent.h"
#include "test.h"

#include <lauxlib.h>
#include <lualib.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The fake CLI's main: raises SIGINT in the middle of the run when its first argument
 * says so, then returns 0 as a command that finished would. */
static int fake_main(lua_State *L)
{
  lua_rawgeti(L, 1, 1);
  if (strcmp(luaL_optstring(L, -1, ""), "signal") == 0)
    raise(SIGINT);
  lua_pushinteger(L, 0);
  return 1;
}

/* Makes require "agent.cli" return {main = fake_main} in the host's state. */
static void install_fake_cli(struct agent_host *h)
{
  lua_State *L = agent_host_state(h);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_newtable(L);
  lua_pushcfunction(L, fake_main);
  lua_setfield(L, -2, "main");
  lua_setfield(L, -2, "agent.cli");
  lua_pop(L, 1);
}

static int run(struct agent_host *h, const char *arg)
{
  char *argv[] = {(char *)"agent", (char *)arg, NULL};
  return agent_host_run(h, 2, argv);
}

static int handler_installed(int sig)
{
  struct sigaction cur;
  return sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN;
}

static void test_signal_between_runs(void)
{
  agent_catch_signals();
  struct agent_host *h = agent_host_new();
  CHECK(h != NULL);
  if (!h)
    return;
  install_fake_cli(h);
  CHECK_INT(run(h, "ok"), AGENT_OK);
  raise(SIGINT); /* between runs: the handler notes it, SA_RESETHAND resets SIGINT */
  CHECK(!handler_installed(SIGINT));
  CHECK_INT(run(h, "ok"), AGENT_OK); /* not this run's signal */
  CHECK(handler_installed(SIGINT));  /* re-armed, so the next SIGINT is caught, not fatal */
  CHECK_INT(run(h, "signal"), AGENT_EINT);
  CHECK_INT(run(h, "ok"), AGENT_OK);
  CHECK_INT(run(h, "ok"), AGENT_OK);
  agent_host_free(h);
}

/* In a child: a limited call spending its time inside string.find, where no hook runs. */
static void stuck_child(int ready_fd)
{
  agent_catch_signals();
  struct agent_host *h = agent_host_new();
  if (!h)
    _exit(99);
  lua_State *L = agent_host_state(h);
  static const char code[] = "local host = require 'agent.host'\n"
                             "local s = ('a'):rep(5000)\n"
                             "return host.call_limited({time_ms = 100}, function()\n"
                             "  return string.find(s, '.-.-.-b') end)\n";
  if (luaL_loadstring(L, code) != LUA_OK)
    _exit(98);
  if (write(ready_fd, "r", 1) != 1)
    _exit(97);
  lua_call(L, 0, 0); /* minutes of work: only a signal ends it */
  _exit(0);
}

/* waitpid for up to ms milliseconds; 1 with *status when the child ended. */
static int wait_ms(pid_t pid, int *status, int ms)
{
  for (int waited = 0; waited <= ms; waited += 10) {
    if (waitpid(pid, status, WNOHANG) == pid)
      return 1;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static void test_second_signal_kills_a_stuck_script(void)
{
  int fds[2];
  CHECK(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    stuck_child(fds[1]);
  }
  close(fds[1]);
  char c;
  CHECK(read(fds[0], &c, 1) == 1);
  close(fds[0]);
  int status = 0;
  struct timespec settle = {0, 200 * 1000 * 1000};
  nanosleep(&settle, NULL);
  kill(pid, SIGINT);
  /* The first signal is only noted: nothing runs the hook while string.find works. */
  CHECK(!wait_ms(pid, &status, 300));
  kill(pid, SIGINT);
  int ended = wait_ms(pid, &status, 5000);
  CHECK(ended);
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
}

/* A signal already received cuts a sleep short at once; the failure carries its code. */
static void test_pending_signal_cuts_sleep(void)
{
  agent_catch_signals();
  struct agent_host *h = agent_host_new();
  CHECK(h != NULL);
  if (!h)
    return;
  lua_State *L = agent_host_state(h);
  raise(SIGINT);
  static const char code[] = "local sys = require 'agent.sys'\n"
                             "local t = sys.clock()\n"
                             "local ok, msg, code = sys.sleep(60000)\n"
                             "return ok, msg, code, sys.clock() - t\n";
  CHECK(luaL_dostring(L, code) == LUA_OK);
  CHECK(lua_isnil(L, -4));
  CHECK_STR(lua_tostring(L, -3), "sleep: interrupted");
  CHECK_STR(lua_tostring(L, -2), "interrupted");
  CHECK(lua_tonumber(L, -1) < 1000);
  agent_host_free(h);
}

int main(void)
{
  test_second_signal_kills_a_stuck_script();
  test_signal_between_runs();
  test_pending_signal_cuts_sleep();
  return TEST_DONE();
}
