/* The host: lua_State life cycle, preloading of the C modules, the built-in scripts, and the
 * limits that keep a team's scripts from taking the process down (an accounting allocator
 * for a memory cap, a count hook for instruction and wall-clock budgets). Also the
 * `agent.host` module through which the Lua loader reaches these, and luaopen_agent. */
#include "agent.h"
#include "embedded.h"
#include "host.h"
#include "agent_limits.h"
#include "luax.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

/* ==== Per-state context ====================================================================
 * One struct per lua_State, living in a full userdata anchored in the registry. It wraps the
 * state's allocator (whoever created the state) so the host can count bytes and refuse
 * growth past a script's cap. Its __gc puts the original allocator back before the memory
 * holding the struct goes away. */

enum limit_kind { LIMIT_NONE = 0, LIMIT_MEMORY, LIMIT_INSTRUCTIONS, LIMIT_TIME };

/* What the limited call in progress may still spend; saved and restored around each call. */
struct budget {
  long long limit;        /* refuse growth past this `used`; 0 when no cap is active */
  long long cap;          /* the `memory` option of the call that set `limit`, for messages */
  long instructions_left; /* < 0: no instruction budget */
  double deadline_ms;     /* 0: no wall-clock budget */
  enum limit_kind hit;    /* the limit that stopped the call (sticky until it returns) */
  char spent_at[256];     /* "file:line:" where the budget ran out, told on every re-raise */
};

/* A growth the cap refused. Lua answers a failed allocation with an emergency collection and
 * one retry of the very same request; only when that retry fails too does it raise
 * LUA_ERRMEM. So a refusal is pending until the next request: its failed retry makes the
 * cap "hit", any successful growth means the collection made room and nothing was hit. */
struct refusal {
  const void *ptr;
  size_t osize, nsize;
  int pending;
};

struct agent_ctx {
  lua_Alloc orig_alloc;
  void *orig_ud;
  long long used; /* bytes allocated through the wrapper, minus bytes freed (may go below 0
                     in a state that allocated before the context was installed) */
  struct budget budget;
  struct refusal refused;
  char where[256]; /* last script position seen by the hook (for memory errors) */
};

static const char CTX_KEY = 'c'; /* registry key: its address */

/* volatile sig_atomic_t is the one thing a signal handler may set: the only process-wide
 * state in the program, by necessity. */
static volatile sig_atomic_t signal_pending = 0;

/* Whether growing by `grow` bytes takes `used` past `limit` (> 0). Unsigned arithmetic: the
 * distance between two long longs always fits, and `grow` may be any size_t. */
static int over_limit(long long used, long long limit, size_t grow)
{
  if (used >= limit)
    return 1;
  return grow > (unsigned long long)limit - (unsigned long long)used;
}

static void *accounting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  struct agent_ctx *ctx = ud;
  size_t old = ptr ? osize : 0;
  int grows = nsize > old;
  if (grows && ctx->budget.limit > 0 && over_limit(ctx->used, ctx->budget.limit, nsize - old)) {
    struct refusal *r = &ctx->refused;
    if (r->pending && r->ptr == ptr && r->osize == osize && r->nsize == nsize)
      ctx->budget.hit = LIMIT_MEMORY; /* the retry failed too: Lua raises LUA_ERRMEM now */
    *r = (struct refusal){ptr, osize, nsize, 1};
    return NULL;
  }
  void *p = ctx->orig_alloc(ctx->orig_ud, ptr, osize, nsize);
  if (p || nsize == 0)
    ctx->used += (long long)nsize - (long long)old;
  if (p && grows)
    ctx->refused.pending = 0;
  return p;
}

static struct agent_ctx *get_ctx(lua_State *L)
{
  void *ud = NULL;
  lua_Alloc f = lua_getallocf(L, &ud);
  if (f == accounting_alloc)
    return ud;
  return NULL;
}

/* ctx:__gc(): hands the state back its own allocator; the struct's memory goes next. */
static int ctx_gc(lua_State *L)
{
  struct agent_ctx *ctx = luaL_checkudata(L, 1, "agent.Context");
  if (lua_getallocf(L, NULL) == accounting_alloc)
    lua_setallocf(L, ctx->orig_alloc, ctx->orig_ud);
  return 0;
}

/* Creates the context once per state and swaps in the accounting allocator. */
static struct agent_ctx *install_ctx(lua_State *L)
{
  struct agent_ctx *ctx = get_ctx(L);
  if (ctx)
    return ctx;
  ctx = lua_newuserdatauv(L, sizeof(*ctx), 0);
  memset(ctx, 0, sizeof(*ctx));
  ctx->budget.instructions_left = -1;
  if (luaL_newmetatable(L, "agent.Context")) {
    lua_pushcfunction(L, ctx_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &CTX_KEY); /* anchored for the state's lifetime */
  ctx->orig_alloc = lua_getallocf(L, &ctx->orig_ud);
  lua_setallocf(L, accounting_alloc, ctx);
  return ctx;
}

/* ==== Limited calls ========================================================================
 * host.call_limited runs a function under a memory cap, an instruction budget and a
 * wall-clock budget. The count hook checks the budgets every AGENT_HOOK_INTERVAL
 * instructions; coroutines created inside inherit the hook. Once a budget is spent the hook
 * fires on every instruction, so a script that catches the error with pcall is stopped
 * again at its next instruction. The hook runs between VM instructions only: time spent
 * inside one C function (a pathological string.find) is not cut short (docs/security.md). */

/* Whether the budget is spent: already, by this interval's instructions, or by the clock.
 * b->hit says which. */
static int budget_spent(struct budget *b)
{
  if (b->hit == LIMIT_INSTRUCTIONS || b->hit == LIMIT_TIME)
    return 1;
  if (b->instructions_left >= 0) {
    b->instructions_left -= AGENT_HOOK_INTERVAL;
    if (b->instructions_left < 0) {
      b->hit = LIMIT_INSTRUCTIONS;
      return 1;
    }
  }
  if (b->deadline_ms > 0 && agent_monotonic_ms() > b->deadline_ms) {
    b->hit = LIMIT_TIME;
    return 1;
  }
  return 0;
}

/* The count hook of limited calls: notes the script's line for messages, then raises when a
 * budget is spent (re-armed to fire on every instruction from then on) or a signal came. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
  struct agent_ctx *ctx = get_ctx(L);
  if (!ctx)
    return;
  struct budget *b = &ctx->budget;
  if (b->limit > 0 && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
    snprintf(ctx->where, sizeof(ctx->where), "%s:%d:", ar->short_src, ar->currentline);
  if (!budget_spent(b)) {
    if (signal_pending)
      luaL_error(L, "interrupted");
    return;
  }
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
  /* Once spent, the budget is raised again at every instruction until the limited call
   * returns, wherever that instruction is (a script's pcall wrapper, a coroutine): name the
   * place where it ran out each time, not the place of the re-raise. */
  if (!b->spent_at[0]) {
    luaL_where(L, 0);
    snprintf(b->spent_at, sizeof(b->spent_at), "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pushfstring(L, "%s%s", b->spent_at,
                  b->hit == LIMIT_TIME ? "time budget exceeded" : "instruction budget exceeded");
  lua_error(L);
}

/* traceback_handler(err) -> err with a traceback appended: the message handler of limited
 * calls. It runs before the stack unwinds, so the traceback shows where the script failed. */
static int traceback_handler(lua_State *L)
{
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static const char *limit_name(enum limit_kind k)
{
  switch (k) {
  case LIMIT_MEMORY:
    return "memory";
  case LIMIT_INSTRUCTIONS:
    return "instructions";
  case LIMIT_TIME:
    return "time";
  default:
    return "error";
  }
}

/* The options of one call, as asked for: 0 (or less) means "no limit of this kind". */
struct limits {
  lua_Integer memory, instructions;
  lua_Number time_ms;
};

/* The budget a call with these limits starts with: each limit no looser than what the
 * enclosing call (`outer`) has left, so nesting never buys more. */
static struct budget narrow(const struct budget *outer, const struct limits *want, long long used)
{
  struct budget b = {0, 0, -1, 0, LIMIT_NONE, ""};
  if (want->memory > 0) {
    b.cap = want->memory;
    b.limit = used > 0 && want->memory > LLONG_MAX - used ? LLONG_MAX : used + want->memory;
  }
  if (outer->limit > 0 && (b.limit == 0 || outer->limit < b.limit)) {
    b.limit = outer->limit;
    b.cap = outer->cap;
  }
  if (want->instructions > 0)
    b.instructions_left = want->instructions > LONG_MAX ? LONG_MAX : (long)want->instructions;
  if (outer->instructions_left >= 0 &&
      (b.instructions_left < 0 || outer->instructions_left < b.instructions_left))
    b.instructions_left = outer->instructions_left;
  if (want->time_ms > 0)
    b.deadline_ms = agent_monotonic_ms() + want->time_ms;
  if (outer->deadline_ms > 0 && (b.deadline_ms == 0 || outer->deadline_ms < b.deadline_ms))
    b.deadline_ms = outer->deadline_ms;
  return b;
}

/* Puts the enclosing call's budget back after an inner one, less the instructions the inner
 * one spent (its time was spent on the same clock, its memory is still counted in `used`). */
static void restore(struct agent_ctx *ctx, const struct budget *outer, long spent)
{
  ctx->budget = *outer;
  if (outer->instructions_left >= 0)
    ctx->budget.instructions_left =
        outer->instructions_left > spent ? outer->instructions_left - spent : 0;
  ctx->refused.pending = 0;
}

/* Pushes false, message, kind, traceback for a call that failed with status; err is the
 * error value (with the handler's traceback), memory_hit whether the cap stopped it. */
static int push_failure(lua_State *L, int status, const struct budget *spent, int memory_hit,
                        const char *where)
{
  const char *err = lua_tostring(L, -1);
  lua_pushboolean(L, 0); /* like pcall: false, not fail */
  if (memory_hit && spent->cap > 0) {
    lua_pushfstring(L, "%s memory cap of %I bytes exceeded",
                    where[0] ? where : "?:", (lua_Integer)spent->cap);
  } else {
    /* the handler appended a traceback: split it off for the caller */
    const char *tb = err ? strstr(err, "\nstack traceback:") : NULL;
    if (tb)
      lua_pushlstring(L, err, (size_t)(tb - err));
    else
      lua_pushstring(L, err ? err : "error object is not a string");
  }
  enum limit_kind kind = memory_hit || status == LUA_ERRMEM ? LIMIT_MEMORY : spent->hit;
  lua_pushstring(L, limit_name(kind));
  lua_pushvalue(L, -4); /* the full message with traceback */
  return 4;
}

/* host.call_limited(opts, fn, ...) -> true, ... | false, message, kind, traceback
 * opts: {memory = bytes, instructions = n, time_ms = ms}; kind is "error", "memory",
 * "instructions" or "time". Nested calls never get more than the outer call has left. */
static int host_call_limited(lua_State *L)
{
  struct agent_ctx *ctx = get_ctx(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  struct limits want = {
      agent_optfield_int(L, 1, "memory", AGENT_SCRIPT_MEMORY_MAX),
      agent_optfield_int(L, 1, "instructions", AGENT_SCRIPT_INSTRUCTIONS_MAX),
      agent_optfield_num(L, 1, "time_ms", AGENT_SCRIPT_TIME_MS),
  };
  luaL_argcheck(L, ctx != NULL, 1, "no agent context in this state");

  struct budget outer = ctx->budget, start = narrow(&outer, &want, ctx->used);
  lua_Hook hook = lua_gethook(L);
  int mask = lua_gethookmask(L), count = lua_gethookcount(L);
  ctx->budget = start;
  ctx->refused.pending = 0;
  ctx->where[0] = '\0';
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, AGENT_HOOK_INTERVAL);

  int nargs = lua_gettop(L) - 2;
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, 2); /* stack: opts handler fn args... */
  int status = lua_pcall(L, nargs, LUA_MULTRET, 2);

  struct budget spent = ctx->budget;
  int memory_hit = spent.hit == LIMIT_MEMORY || (status == LUA_ERRMEM && ctx->refused.pending);
  lua_sethook(L, hook, mask, count);
  restore(ctx, &outer,
          start.instructions_left >= 0 ? start.instructions_left - spent.instructions_left : 0);
  /* LUA_MULTRET may have filled the stack: make room for what is pushed below */
  luaL_checkstack(L, 4, "too many results");
  if (status == LUA_OK) {
    lua_pushboolean(L, 1);
    lua_replace(L, 2); /* handler slot becomes `true` */
    return lua_gettop(L) - 1;
  }
  return push_failure(L, status, &spent, memory_hit, ctx->where); /* stack: opts handler err */
}

/* host.limit_hit() -> kind | nil: the budget that stopped the current limited call, so
 * sandbox wrappers of pcall can re-raise instead of swallowing it. A memory refusal counts
 * once Lua's retry after its emergency collection failed too (a LUA_ERRMEM is on its way);
 * a refusal the collection recovered from is no hit. */
static int host_limit_hit(lua_State *L)
{
  struct agent_ctx *ctx = get_ctx(L);
  if (!ctx || ctx->budget.hit == LIMIT_NONE)
    return 0;
  lua_pushstring(L, limit_name(ctx->budget.hit));
  return 1;
}

/* host.memory() -> bytes allocated through the host since the context was installed. */
static int host_memory(lua_State *L)
{
  struct agent_ctx *ctx = get_ctx(L);
  lua_pushinteger(L, ctx ? (lua_Integer)ctx->used : 0);
  return 1;
}

/* ==== Built-in scripts ==================================================================== */

static const struct agent_embedded *find_embedded(const char *path)
{
  for (size_t i = 0; i < agent_embedded_count; i++)
    if (strcmp(agent_embedded_files[i].path, path) == 0)
      return &agent_embedded_files[i];
  return NULL;
}

/* host.builtin(path) -> source | nil: a built-in file by its source-tree path. */
static int host_builtin(lua_State *L)
{
  const struct agent_embedded *e = find_embedded(luaL_checkstring(L, 1));
  if (!e)
    return 0;
  lua_pushlstring(L, e->data, e->size);
  return 1;
}

/* host.builtins(prefix) -> {path...}: built-in files whose path starts with prefix, sorted. */
static int host_builtins(lua_State *L)
{
  size_t plen;
  const char *prefix = luaL_checklstring(L, 1, &plen);
  lua_newtable(L);
  lua_Integer n = 0;
  for (size_t i = 0; i < agent_embedded_count; i++) {
    if (strncmp(agent_embedded_files[i].path, prefix, plen) == 0) {
      lua_pushstring(L, agent_embedded_files[i].path);
      lua_rawseti(L, -2, ++n);
    }
  }
  return 1;
}

/* host.interrupted() -> "SIGINT" | "SIGTERM" | nil */
static int host_interrupted(lua_State *L)
{
  int sig = agent_signal_pending();
  if (!sig)
    return 0;
  lua_pushstring(L, sig == SIGINT ? "SIGINT" : "SIGTERM");
  return 1;
}

static const char SHARE_KEY = 's';

/* host.share_dir() -> path | nil: the installed built-ins (bin/../share/agent), if any. */
static int host_share_dir(lua_State *L)
{
  lua_rawgetp(L, LUA_REGISTRYINDEX, &SHARE_KEY);
  return 1;
}

static const luaL_Reg host_funcs[] = {
    {"call_limited", host_call_limited},
    {"limit_hit", host_limit_hit},
    {"memory", host_memory},
    {"builtin", host_builtin},
    {"builtins", host_builtins},
    {"interrupted", host_interrupted},
    {"share_dir", host_share_dir},
    {NULL, NULL},
};

/* luaopen_agent_host(L) -> the agent.host table (built-in Lua only: loader.lua keeps it from
 * team scripts). */
int luaopen_agent_host(lua_State *L)
{
  luaL_newlib(L, host_funcs);
  lua_pushstring(L, AGENT_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, LUA_RELEASE);
  lua_setfield(L, -2, "lua_version");
  return 1;
}

/* ==== Opening a state ===================================================================== */

static const luaL_Reg preloads[] = {
    {"agent.fs", luaopen_agent_fs},
    {"agent.http", luaopen_agent_http},
    {"agent.yaml", luaopen_agent_yaml},
    {"agent.markdown", luaopen_agent_markdown},
    {"agent.rules", luaopen_agent_rules},
    {"agent.sys", luaopen_agent_sys},
    {"agent.host", luaopen_agent_host},
    {"cjson", luaopen_cjson},
    {NULL, NULL},
};

void agent_open_state(lua_State *L, const char *share_dir)
{
  install_ctx(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE); /* stack: preload */
  for (const luaL_Reg *m = preloads; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 1);
  if (share_dir)
    lua_pushstring(L, share_dir);
  else
    lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &SHARE_KEY);

  const char *loader = "lua/agent/loader.lua";
  const struct agent_embedded *e = find_embedded(loader);
  if (!e)
    luaL_error(L, "built-in %s is missing from this build", loader);
  if (luaL_loadbufferx(L, e->data, e->size, "@lua/agent/loader.lua", "t") != LUA_OK)
    lua_error(L);
  lua_call(L, 0, 0); /* installs the search-path searcher */
}

/* Drops relative entries ("./?.lua", "./?.so") from package.path/cpath: a repo must not be
 * able to plant modules or shared objects that agent would load from the working
 * directory. Only for states the host created; agent.so leaves its host's paths alone. */
static void strip_relative_paths(lua_State *L)
{
  static const char *const fields[] = {"path", "cpath"};
  lua_getglobal(L, "package");
  for (size_t f = 0; f < 2; f++) {
    lua_getfield(L, -1, fields[f]);
    const char *s = lua_tostring(L, -1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int first = 1;
    while (s && *s) {
      const char *end = strchr(s, ';');
      size_t len = end ? (size_t)(end - s) : strlen(s);
      if (len > 0 && s[0] == '/') {
        if (!first)
          luaL_addchar(&b, ';');
        luaL_addlstring(&b, s, len);
        first = 0;
      }
      s += len + (end ? 1 : 0);
    }
    luaL_pushresult(&b);
    lua_setfield(L, -3, fields[f]);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* ==== The host ============================================================================ */

struct agent_host {
  lua_State *L;
  char share_dir[PATH_MAX];
};

/* Finds bin/../share/agent beside the running binary: the same layout in the build tree
 * and in any install prefix, so no environment variable is needed. */
static void find_share_dir(char *out, size_t size)
{
  out[0] = '\0';
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0)
    return;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash)
    return;
  *slash = '\0';
  char candidate[PATH_MAX];
  if ((size_t)snprintf(candidate, sizeof(candidate), "%s/../share/agent", exe) >= sizeof(candidate))
    return;
  struct stat st;
  if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode) && realpath(candidate, exe))
    snprintf(out, size, "%s", exe);
}

static int open_host_state(lua_State *L)
{
  const char *share = lua_touserdata(L, 1);
  luaL_openlibs(L);
  strip_relative_paths(L);
  agent_open_state(L, share && *share ? share : NULL);
  return 0;
}

struct agent_host *agent_host_new(void)
{
  struct agent_host *h = calloc(1, sizeof(*h));
  if (!h)
    return NULL;
  h->L = luaL_newstate();
  if (!h->L) {
    free(h);
    return NULL;
  }
  find_share_dir(h->share_dir, sizeof(h->share_dir));
  lua_pushcfunction(h->L, open_host_state);
  lua_pushlightuserdata(h->L, h->share_dir);
  if (lua_pcall(h->L, 1, 0, 0) != LUA_OK) { /* no memory, or a build without its scripts */
    lua_close(h->L);
    free(h);
    return NULL;
  }
  return h;
}

/* run_cli(args) -> exit status: cli.main(args) inside the state, under lua_pcall from
 * agent_host_run; every error that escapes it is a bug in agent. */
static int run_cli(lua_State *L)
{
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "agent.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}

static void arm_signals(int only_reset);

int agent_host_run(struct agent_host *h, int argc, char **argv)
{
  lua_State *L = h->L;
  /* A signal that came before this run asked an earlier one to stop, not this one. Our
   * handler is the only thing that sets the flag, so a set flag also says agent_catch_signals
   * was called: put back the handler SA_RESETHAND took away after that first signal. */
  if (signal_pending) {
    signal_pending = 0;
    arm_signals(1);
  }
  int base = lua_gettop(L);
  lua_pushcfunction(L, traceback_handler);
  lua_pushcfunction(L, run_cli);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, base + 1);
  int code;
  if (status != LUA_OK) {
    fprintf(stderr, "agent: internal error: %s\n", lua_tostring(L, -1));
    code = AGENT_EINTERNAL;
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : AGENT_EINTERNAL;
  }
  lua_settop(L, base);
  int sig = agent_signal_pending();
  if (sig)
    code = sig == SIGINT ? AGENT_EINT : AGENT_ETERM;
  return code;
}

lua_State *agent_host_state(struct agent_host *h)
{
  return h->L;
}

void agent_host_free(struct agent_host *h)
{
  if (!h)
    return;
  lua_close(h->L);
  free(h);
}

const char *agent_version(void)
{
  return AGENT_VERSION;
}

/* ==== Signals ============================================================================= */

static void on_signal(int sig)
{
  signal_pending = sig;
}

/* Installs on_signal for SIGINT and SIGTERM; with only_reset, only where the disposition is
 * back to the default (an embedder's own handler installed since is left alone). */
static void arm_signals(int only_reset)
{
  static const int signals[] = {SIGINT, SIGTERM};
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND; /* a second signal takes the default action: exit now */
  for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
    struct sigaction cur;
    if (only_reset && (sigaction(signals[i], NULL, &cur) != 0 || cur.sa_handler != SIG_DFL))
      continue;
    sigaction(signals[i], &sa, NULL);
  }
}

void agent_catch_signals(void)
{
  arm_signals(0);
}

int agent_signal_pending(void)
{
  return (int)signal_pending;
}

/* ==== require "agent" from a stock Lua 5.4 ================================================ */

/* luaopen_agent(L) -> the agent module: lua/agent/init.lua, the same file `require "agent"`
 * finds inside the binary, with every C module preloaded. */
int luaopen_agent(lua_State *L)
{
  agent_open_state(L, NULL);
  const struct agent_embedded *e = find_embedded("lua/agent/init.lua");
  if (!e)
    return luaL_error(L, "built-in lua/agent/init.lua is missing from this build");
  if (luaL_loadbufferx(L, e->data, e->size, "@lua/agent/init.lua", "t") != LUA_OK)
    return lua_error(L);
  lua_pushliteral(L, "agent");
  lua_call(L, 1, 1);
  return 1;
}
