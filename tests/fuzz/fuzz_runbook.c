/* libFuzzer target for the runbook reader (lua/agent/runbook.lua, which is Lua): any bytes
 * through runbook.parse inside one agent host, then a Lua checker holds the result to the
 * contract (lines, sections, steps and problems in bounds and in order, the status where it
 * says it is) and checks that set_status rewrites the status word and nothing else. */
#include "agent.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* checker(runbook, text): raises with a description when the contract does not hold. */
static const char checker[] =
    "local runbook, text = ...\n"
    "local p, err = runbook.parse(text)\n"
    "if not p then\n"
    "  assert(type(err) == 'string' and err:find('^markdown: '), 'parse failed without a "
    "message')\n"
    "  return\n"
    "end\n"
    "local lines = p.lines\n"
    "local n = #lines\n"
    "local function within(l, what) assert(math.type(l) == 'integer' and l >= 1 and l <= n, what) "
    "end\n"
    "local prev = 0\n"
    "for _, s in ipairs(p.sections) do\n"
    "  within(s.line, 'section line')\n"
    "  assert(s.end_line >= s.line and s.end_line <= n, 'section end')\n"
    "  assert(s.line > prev, 'section order')\n"
    "  assert(s.level >= 1 and s.level <= 6 and type(s.title) == 'string', 'section shape')\n"
    "  prev = s.line\n"
    "end\n"
    "prev = 0\n"
    "for _, st in ipairs(p.steps) do\n"
    "  assert(runbook.OPS[st.op], 'step op')\n"
    "  within(st.line, 'step line')\n"
    "  assert(st.line > prev and st.end_line >= st.line and st.end_line <= n, 'step lines')\n"
    "  assert(st.path == nil or (type(st.path) == 'string' and st.path ~= ''), 'step path')\n"
    "  for _, b in ipairs(st.blocks or {}) do\n"
    "    assert(b.line > st.line and b.line <= st.end_line, 'block line')\n"
    "    assert(type(b.search) == 'string' and type(b.replace) == 'string', 'block parts')\n"
    "  end\n"
    "  if st.content then assert(st.content_line > st.line and st.content_line <= st.end_line + 1, "
    "'content line') end\n"
    "  prev = st.line\n"
    "end\n"
    "for _, pr in ipairs(p.problems) do\n"
    "  within(pr.line, 'problem line')\n"
    "  assert(type(pr.message) == 'string' and pr.message ~= '' and not pr.message:find('\\n'), "
    "'problem message')\n"
    "end\n"
    "if not p.status then\n"
    "  assert(runbook.set_status(text, 'ACCEPTED') == nil, 'set_status found a status parse did "
    "not')\n"
    "  return\n"
    "end\n"
    "within(p.status_line, 'status line')\n"
    "local line = lines[p.status_line]\n"
    "assert(line:sub(p.status_col, p.status_col + #p.status_raw - 1) == p.status_raw, 'status "
    "column')\n"
    "assert(p.status == p.status_raw:upper(), 'status word')\n"
    "local out = assert(runbook.set_status(text, 'ACCEPTED'))\n"
    "assert(#out == #text - #p.status_raw + 8, 'set_status changed more than the word')\n"
    "local at = out:find('ACCEPTED', 1, true)\n"
    "while at and out:sub(1, at - 1) .. p.status_raw .. out:sub(at + 8) ~= text do\n"
    "  at = out:find('ACCEPTED', at + 1, true)\n"
    "end\n"
    "assert(at, 'set_status changed bytes other than the status word')\n";

/* One host for the whole process: starting one per input would dominate the run, and the
 * parser keeps no state between calls. Freed at exit so leak checkers stay quiet. */
static struct agent_host *host;

static void free_host(void)
{
  agent_host_free(host);
  host = NULL;
}

static lua_State *state(void)
{
  if (host)
    return agent_host_state(host);
  host = agent_host_new();
  if (!host)
    abort();
  atexit(free_host);
  return agent_host_state(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  lua_State *L = state();
  int top = lua_gettop(L);
  if (luaL_loadbufferx(L, checker, sizeof(checker) - 1, "=checker", "t") != LUA_OK) {
    fprintf(stderr, "fuzz_runbook: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_getglobal(L, "require");
  lua_pushliteral(L, "agent.runbook");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_runbook: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_runbook: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, top);
  return 0;
}
