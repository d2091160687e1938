/* agent.markdown in C: the source-line facts (markdown_source.c) table by table, then the
 * module through a lua_State, where every allocation failure must end in a memory error and
 * never a crash or a leaked cmark tree (run under valgrind and ASan). */
#include "host.h"
#include "markdown_source.h"
#include "test.h"

#include <stdlib.h>

#include <lauxlib.h>

/* ==== Lines ================================================================================ */

/* A string literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

static void test_count_lines(void)
{
  static const struct {
    const char *text;
    size_t len, lines;
  } cases[] = {
      {LIT(""), 0},
      {LIT("a"), 1},
      {LIT("a\n"), 1},
      {LIT("a\nb"), 2},
      {LIT("a\r\nb\r\n"), 2},
      {LIT("a\rb\r"), 2},
      {LIT("\n\n"), 2},
      {LIT("\r\r\n\n"), 3},
      {LIT("\xEF\xBB\xBF"), 0},
      {LIT("\xEF\xBB\xBFx\n"), 1},
      {LIT("x\0y\n"), 1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK_INT(agent_md_count_lines(cases[i].text, cases[i].len), cases[i].lines);
}

/* Every line of text, in order, as "line|line|...". */
static void joined_lines(const char *text, char *out, size_t size)
{
  size_t len = strlen(text), n = agent_md_count_lines(text, len);
  agent_md_offset starts[16];
  agent_md_index_lines(text, len, starts, n);
  out[0] = '\0';
  size_t used = 0;
  for (size_t i = 1; i <= n; i++) {
    size_t b, e;
    agent_md_line(text, starts, i, &b, &e);
    used += (size_t)snprintf(out + used, size - used, "%s%.*s", i > 1 ? "|" : "", (int)(e - b),
                             text + b);
  }
}

static void test_index_lines(void)
{
  char buf[128];
  joined_lines("a\r\nbb\rccc\n\ndd", buf, sizeof(buf));
  CHECK_STR(buf, "a|bb|ccc||dd");
  joined_lines("\xEF\xBB\xBF# t\r\n\r\nx", buf, sizeof(buf));
  CHECK_STR(buf, "# t||x");
  joined_lines("a\r\r\n", buf, sizeof(buf));
  CHECK_STR(buf, "a|");
}

/* ==== Headings and fences ================================================================== */

static void test_atx(void)
{
  CHECK(agent_md_is_atx("# x", 3, 0));
  CHECK(agent_md_is_atx("#", 1, 0));
  CHECK(agent_md_is_atx("#\tx", 3, 0));
  CHECK(agent_md_is_atx("> ###### x", 10, 2));
  CHECK(!agent_md_is_atx("####### x", 9, 0));
  CHECK(!agent_md_is_atx("#x", 2, 0));
  CHECK(!agent_md_is_atx("Title", 5, 0));
}

struct fence_case {
  const char *line;
  size_t col;
  const char *info, *literal;
  size_t want;
  char fence_char;
};

static void test_fence_length(void)
{
  static const struct fence_case cases[] = {
      {"```", 0, "", "x\n", 3, '`'},
      {"````markdown", 0, "markdown", "```c\n", 4, '`'},
      {"  ~~~~~  ", 2, "", "", 5, '~'},
      {"> ```", 2, "", "q\n", 3, '`'},
      {"    code", 4, "", "code\n", 0, 0},
      {"    ```", 4, "", "```\n", 0, 0},     /* indented code starting with backticks */
      {"    ``` x", 4, "", "``` x\n", 0, 0}, /* not an opening fence: text after, no info */
      {"````", 0, "", "```\n", 4, '`'},      /* content differs from the opening line */
      {"``", 0, "", "", 0, 0},
      {"~~~ a", 0, "a", "``` a\n", 3, '~'},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const struct fence_case *c = &cases[i];
    char ch = 0;
    size_t n = agent_md_fence_length(c->line, strlen(c->line), c->col, c->info, c->literal, &ch);
    CHECK_INT(n, c->want);
    if (c->want)
      CHECK_INT(ch, c->fence_char);
  }
}

static void test_closing_fence(void)
{
  CHECK(agent_md_is_closing_fence("```", 3, '`', 3));
  CHECK(agent_md_is_closing_fence("`````  ", 7, '`', 4));
  CHECK(agent_md_is_closing_fence("> > ~~~", 7, '~', 3));
  CHECK(agent_md_is_closing_fence("   ```\t", 7, '`', 3));
  CHECK(!agent_md_is_closing_fence("``", 2, '`', 3));
  CHECK(!agent_md_is_closing_fence("```` x", 6, '`', 3));
  CHECK(!agent_md_is_closing_fence("~~~", 3, '`', 3));
  CHECK(!agent_md_is_closing_fence("- ```", 5, '`', 3));
}

static void test_setext_underline(void)
{
  CHECK(agent_md_is_setext_underline("===", 3, 0, 0));
  CHECK(agent_md_is_setext_underline("   -  ", 6, 0, 0));
  CHECK(agent_md_is_setext_underline("> ---", 5, 2, 1));
  CHECK(agent_md_is_setext_underline("  ===", 5, 2, 0)); /* in a list item */
  CHECK(!agent_md_is_setext_underline("    ===", 7, 0, 0));
  CHECK(!agent_md_is_setext_underline("---", 3, 2, 1)); /* lazy: outside the quote */
  CHECK(!agent_md_is_setext_underline("= =", 3, 0, 0));
  CHECK(!agent_md_is_setext_underline("==-", 3, 0, 0));
  CHECK(!agent_md_is_setext_underline("text", 4, 0, 0));
  CHECK_INT(agent_md_count_quotes("> > x", 5, 4), 2);
  CHECK_INT(agent_md_count_quotes("a > b", 5, 0), 0);
}

/* ==== The module through a lua_State ======================================================= */

/* A document with every kind of thing parse builds, and CRLF lines so section text is
 * assembled in a buffer rather than sliced. */
static const char sweep_doc[] = "# Title\r\n\r\nIntro with *em*.\r\n\r\n## Code\r\n\r\n"
                                "````md\r\n```c\r\nx\r\n```\r\n````\r\n\r\n    indented\r\n\r\n"
                                "Setext\r\n------\r\n> ```\r\n> q\r\n```\r\nopen\r\n";

/* Calls markdown.<fn>(sweep_doc), allowing `allocations` inside lua_pcall (-1: any). */
static int call(lua_State *L, struct alloc_limit *lim, const char *fn, long allocations)
{
  lua_getfield(L, 1, fn);
  lua_pushlstring(L, sweep_doc, sizeof(sweep_doc) - 1);
  lim->left = allocations;
  int status = lua_pcall(L, 1, 2, 0);
  lim->left = -1;
  return status;
}

static void check_parse_result(lua_State *L)
{
  lua_getfield(L, -2, "headings");
  CHECK_INT(lua_rawlen(L, -1), 3);
  lua_rawgeti(L, -1, 3);
  lua_getfield(L, -1, "title");
  CHECK_STR(lua_tostring(L, -1), "Setext");
  lua_getfield(L, -5, "code_blocks");
  CHECK_INT(lua_rawlen(L, -1), 4);
  lua_rawgeti(L, -1, 1);
  lua_getfield(L, -1, "fence");
  CHECK_STR(lua_tostring(L, -1), "````");
}

/* Runs fn allowing 0, 1, 2... allocations until a run needs no more. */
static void sweep(const char *fn)
{
  int memerrs = 0, done = 0;
  for (long n = 0; n < 20000 && !done; n++) {
    struct alloc_limit lim = {-1, 0};
    lua_State *L = lua_newstate(limited_alloc, &lim);
    luaL_requiref(L, "agent.markdown", luaopen_agent_markdown, 0);
    int status = call(L, &lim, fn, n);
    if (status == LUA_ERRMEM) {
      memerrs++;
    } else {
      CHECK_INT(status, LUA_OK);
      if (!lim.refused) {
        done = 1;
        if (strcmp(fn, "parse") == 0)
          check_parse_result(L);
        else
          CHECK(strstr(lua_tostring(L, -2), "<h2>Code</h2>") != NULL);
      }
    }
    lua_close(L);
  }
  CHECK(done);
  CHECK(memerrs > 0);
  printf("markdown.%s: %d runs ended in a memory error, then one succeeded\n", fn, memerrs);
}

int main(void)
{
  test_count_lines();
  test_index_lines();
  test_atx();
  test_fence_length();
  test_closing_fence();
  test_setext_underline();
  sweep("parse");
  sweep("to_html");
  return TEST_DONE();
}
