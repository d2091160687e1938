/* libFuzzer target for agent.markdown: any bytes through markdown.parse and markdown.to_html,
 * then a Lua checker holds the result to the contract (line order and bounds, section text
 * equal to the source lines, tree equal to the flat list, fence shapes, UTF-8 HTML). */
#include "host.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* checker(markdown, text): raises with a description when the contract does not hold. */
static const char checker[] =
    "local md, text = ...\n"
    "local doc = assert(md.parse(text))\n"
    "local t = text:gsub('^\\239\\187\\191', ''):gsub('\\r\\n', '\\n'):gsub('\\r', '\\n')\n"
    "local lines = {}\n"
    "for l in (t:sub(-1) == '\\n' and t or t .. '\\n'):gmatch('([^\\n]*)\\n') do\n"
    "  lines[#lines + 1] = l\n"
    "end\n"
    "if t == '' then lines = {} end\n"
    "local function span(a, b) return table.concat(lines, '\\n', a, b) end\n"
    "local prev\n"
    "for _, h in ipairs(doc.headings) do\n"
    "  assert(h.level >= 1 and h.level <= 6, 'level')\n"
    "  assert(h.line >= 1 and h.body_line > h.line, 'heading lines')\n"
    "  assert(h.end_line >= h.body_line - 1, 'section end')\n"
    "  assert(h.end_line <= #lines, 'heading past the end')\n"
    "  assert(not prev or h.line >= prev.body_line, 'heading order')\n"
    "  local want = h.body_line <= h.end_line and span(h.body_line, h.end_line) or ''\n"
    "  assert(h.text == want, 'section text')\n"
    "  for _, c in ipairs(h.children) do\n"
    "    assert(c.level > h.level and c.line > h.line and c.end_line <= h.end_line, 'child')\n"
    "  end\n"
    "  prev = h\n"
    "end\n"
    "local flat = {}\n"
    "local function visit(list)\n"
    "  for _, s in ipairs(list) do flat[#flat + 1] = s; visit(s.children) end\n"
    "end\n"
    "visit(doc.sections)\n"
    "assert(#flat == #doc.headings, 'tree size')\n"
    "for i = 1, #flat do assert(rawequal(flat[i], doc.headings[i]), 'tree order') end\n"
    "local last\n"
    "for _, b in ipairs(doc.code_blocks) do\n"
    "  assert(b.line >= 1 and b.end_line >= b.line and b.end_line <= #lines, 'block lines')\n"
    "  assert(not last or b.line > last.end_line, 'block order')\n"
    "  local shape = b.fence:match('^`+$') or b.fence:match('^~+$')\n"
    "  assert(b.fence == '' or (shape and #b.fence >= 3), 'fence')\n"
    "  assert(b.fence ~= '' or b.info == '', 'info without fence')\n"
    "  assert(b.lang == b.info:match('^[^ \\t]*'), 'lang')\n"
    "  last = b\n"
    "end\n"
    "local html = assert(md.to_html(text))\n"
    "assert(utf8.len(html), 'html is not UTF-8')\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  lua_State *L = luaL_newstate();
  if (!L)
    return 0;
  luaL_openlibs(L);
  if (luaL_loadbufferx(L, checker, sizeof(checker) - 1, "=checker", "t") != LUA_OK) {
    fprintf(stderr, "fuzz_markdown: %s\n", lua_tostring(L, -1));
    abort();
  }
  luaL_requiref(L, "agent.markdown", luaopen_agent_markdown, 0);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "fuzz_markdown: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_close(L);
  return 0;
}
