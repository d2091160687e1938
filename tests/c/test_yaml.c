/* agent.yaml in C: the core-schema resolver (yaml_scalar.c) table by table, then the module
 * through a lua_State: every error path and every allocation failure must come back as a
 * message or a memory error, never a crash or a leak (run under valgrind and ASan). */
#include "host.h"
#include "test.h"
#include "yaml_scalar.h"

#include <math.h>
#include <stdlib.h>

#include <lauxlib.h>

/* ==== The resolver ========================================================================= */

struct scalar_case {
  const char *text;
  enum agent_yaml_type type;
  long long integer; /* INT */
  double number;     /* FLOAT (NAN: any NaN); BOOL: 0 or 1 */
};

static const struct scalar_case plain_cases[] = {
    {"", AGENT_YAML_NULL, 0, 0},
    {"~", AGENT_YAML_NULL, 0, 0},
    {"null", AGENT_YAML_NULL, 0, 0},
    {"NULL", AGENT_YAML_NULL, 0, 0},
    {"nul", AGENT_YAML_STR, 0, 0},
    {"True", AGENT_YAML_BOOL, 0, 1},
    {"FALSE", AGENT_YAML_BOOL, 0, 0},
    {"yes", AGENT_YAML_STR, 0, 0},
    {"0", AGENT_YAML_INT, 0, 0},
    {"-0", AGENT_YAML_INT, 0, 0},
    {"+12", AGENT_YAML_INT, 12, 0},
    {"0012", AGENT_YAML_INT, 12, 0},
    {"0o777", AGENT_YAML_INT, 511, 0},
    {"0o", AGENT_YAML_STR, 0, 0},
    {"0O7", AGENT_YAML_STR, 0, 0},
    {"0xDEADbeef", AGENT_YAML_INT, 0xDEADBEEFLL, 0},
    {"0x0000000000000000000001", AGENT_YAML_INT, 1, 0}, /* leading zeros are not bits */
    {"9223372036854775807", AGENT_YAML_INT, 9223372036854775807LL, 0},
    {"-9223372036854775808", AGENT_YAML_INT, -9223372036854775807LL - 1, 0},
    {"9223372036854775808", AGENT_YAML_FLOAT, 0, 9223372036854775808.0},
    {"0x7FFFFFFFFFFFFFFF", AGENT_YAML_INT, 9223372036854775807LL, 0},
    {"0x8000000000000000", AGENT_YAML_FLOAT, 0, 9223372036854775808.0},
    /* 2^64 + 2^11 + 1: just above half an ulp, so it rounds up to 2^64 + 2^12. Dropping the
     * last digit's bit would make it a tie and round down to 2^64. */
    {"0x10000000000000801", AGENT_YAML_FLOAT, 0, 18446744073709555712.0},
    {"0x10000000000000800", AGENT_YAML_FLOAT, 0, 18446744073709551616.0}, /* a tie: to even */
    {"18446744073709553665", AGENT_YAML_FLOAT, 0, 18446744073709555712.0},
    {"0o2000000000000000000000", AGENT_YAML_FLOAT, 0, 18446744073709551616.0},
    {"1.5", AGENT_YAML_FLOAT, 0, 1.5},
    {"-.25", AGENT_YAML_FLOAT, 0, -0.25},
    {"6.02e23", AGENT_YAML_FLOAT, 0, 6.02e23},
    {"1e-400", AGENT_YAML_FLOAT, 0, 0.0},
    {"+.inf", AGENT_YAML_FLOAT, 0, HUGE_VAL},
    {"-.INF", AGENT_YAML_FLOAT, 0, -HUGE_VAL},
    {".NaN", AGENT_YAML_FLOAT, 0, NAN},
    {"+.nan", AGENT_YAML_STR, 0, 0},
    {"1e+", AGENT_YAML_STR, 0, 0},
    {"--1", AGENT_YAML_STR, 0, 0},
    {"1 ", AGENT_YAML_STR, 0, 0},
    {"0x1p3", AGENT_YAML_STR, 0, 0}, /* strtod would take it; the core schema does not */
    {"infinity", AGENT_YAML_STR, 0, 0},
};

static void check_scalar(const struct scalar_case *c, const struct agent_yaml_scalar *v)
{
  if (v->type != c->type)
    fprintf(stderr, "  for \"%s\"\n", c->text);
  CHECK_INT(v->type, c->type);
  if (c->type == AGENT_YAML_INT)
    CHECK_INT(v->integer, c->integer);
  if (c->type == AGENT_YAML_BOOL)
    CHECK_INT(v->boolean, (int)c->number);
  if (c->type == AGENT_YAML_FLOAT) {
    if (isnan(c->number))
      CHECK(isnan(v->number));
    else
      CHECK(v->number == c->number);
  }
}

static void test_plain_scalars(void)
{
  for (size_t i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
    const struct scalar_case *c = &plain_cases[i];
    struct agent_yaml_scalar v;
    CHECK_INT(agent_yaml_resolve(c->text, strlen(c->text), &v), 0);
    check_scalar(c, &v);
  }
}

/* The resolver reads exactly len bytes: what follows in memory must not extend a number. */
static void test_unterminated_input(void)
{
  struct agent_yaml_scalar v;
  CHECK_INT(agent_yaml_resolve("1.5e3", 3, &v), 0);
  CHECK_INT(v.type, AGENT_YAML_FLOAT);
  CHECK(v.number == 1.5);
  CHECK_INT(agent_yaml_resolve("12345", 2, &v), 0);
  CHECK_INT(v.integer, 12);
  CHECK_INT(agent_yaml_resolve("truex", 4, &v), 0);
  CHECK_INT(v.type, AGENT_YAML_BOOL);
}

/* Floats longer than the resolver's stack buffer go through a heap copy. */
static void test_long_float(void)
{
  char text[400];
  text[0] = '1';
  memset(text + 1, '0', 300);
  memcpy(text + 301, ".5e-290", 8); /* (10^300 + 0.5) * 10^-290: 1e10 to the nearest double */
  struct agent_yaml_scalar v;
  CHECK_INT(agent_yaml_resolve(text, strlen(text), &v), 0);
  CHECK_INT(v.type, AGENT_YAML_FLOAT);
  CHECK(v.number == 1e10);
  memset(text, '9', 399);
  text[399] = '\0'; /* a 399-digit integer: past long long, and past double too */
  CHECK_INT(agent_yaml_resolve(text, strlen(text), &v), 0);
  CHECK_INT(v.type, AGENT_YAML_FLOAT);
  CHECK(isinf(v.number) && v.number > 0);
}

struct tagged_case {
  enum agent_yaml_type want;
  const char *text;
  int ok;
  enum agent_yaml_type type;
};

static void test_tagged_scalars(void)
{
  static const struct tagged_case cases[] = {
      {AGENT_YAML_STR, "0x10", 1, AGENT_YAML_STR},
      {AGENT_YAML_INT, "0x10", 1, AGENT_YAML_INT},
      {AGENT_YAML_INT, "1.0", 0, AGENT_YAML_STR},
      {AGENT_YAML_INT, "99999999999999999999", 1, AGENT_YAML_FLOAT}, /* past long long */
      {AGENT_YAML_FLOAT, "3", 1, AGENT_YAML_FLOAT},
      {AGENT_YAML_FLOAT, "0o7", 0, AGENT_YAML_STR},
      {AGENT_YAML_BOOL, "False", 1, AGENT_YAML_BOOL},
      {AGENT_YAML_BOOL, "no", 0, AGENT_YAML_STR},
      {AGENT_YAML_NULL, "", 1, AGENT_YAML_NULL},
      {AGENT_YAML_NULL, "none", 0, AGENT_YAML_STR},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct agent_yaml_scalar v;
    CHECK_INT(agent_yaml_resolve_as(cases[i].want, cases[i].text, strlen(cases[i].text), &v),
              cases[i].ok);
    CHECK_INT(v.type, cases[i].type);
  }
  struct agent_yaml_scalar v;
  agent_yaml_resolve_as(AGENT_YAML_FLOAT, "3", 1, &v);
  CHECK(v.number == 3.0);
  CHECK_STR(agent_yaml_type_name(AGENT_YAML_INT), "int");
}

/* ==== The module through a lua_State ======================================================= */

static lua_State *new_state(struct alloc_limit *lim)
{
  lim->left = -1;
  lim->refused = 0;
  lua_State *L = lua_newstate(limited_alloc, lim);
  luaL_requiref(L, "agent.yaml", luaopen_agent_yaml, 0);
  return L; /* stack: yaml */
}

/* Calls yaml.decode_all(text) under lua_pcall, allowing `allocations` inside the call (-1:
 * any number; the call itself is set up unlimited, outside the protection of pcall). Returns
 * the status and leaves the results. */
static int decode_all(lua_State *L, struct alloc_limit *lim, long allocations, const char *text,
                      size_t len)
{
  lua_getfield(L, 1, "decode_all");
  lua_pushlstring(L, text, len);
  lim->left = allocations;
  int status = lua_pcall(L, 1, 2, 0);
  lim->left = -1;
  return status;
}

/* Each input must fail with a message starting with `want`. */
static void test_error_paths(void)
{
  static const struct {
    const char *text;
    const char *want;
  } cases[] = {
      {"a: [1, 2\n", "yaml: line 2, column 1: did not find expected ','"},
      {"a: 1\na: 2\n", "yaml: line 2, column 1: duplicate key 'a'"},
      {"a: &x [1]\nb: *y\n", "yaml: line 2, column 4: undefined alias '*y'"},
      {"&a {k: *a}", "yaml: line 1, column 8: alias '*a' refers to a node that contains it"},
      {"{[1]: 2}", "yaml: line 1, column 2: a mapping key must be a scalar"},
      {"a: \xc0\xaf\n", "yaml: line 1, column 4: invalid"},
      {"x: !!int y", "yaml: line 1, column 4: invalid !!int value 'y'"},
      {"<<: [1]", "yaml: line 1, column 5: a merge key '<<' needs a mapping"},
      {"--- 1\n--- [\n", "yaml: line 3, column 1: "},
  };
  struct alloc_limit lim;
  lua_State *L = new_state(&lim);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    CHECK_INT(decode_all(L, &lim, -1, cases[i].text, strlen(cases[i].text)), LUA_OK);
    CHECK(lua_isnil(L, -2));
    const char *msg = lua_tostring(L, -1);
    CHECK(msg && strncmp(msg, cases[i].want, strlen(cases[i].want)) == 0);
    if (msg && strncmp(msg, cases[i].want, strlen(cases[i].want)) != 0)
      fprintf(stderr, "  got \"%s\"\n", msg);
    lua_settop(L, 1);
  }
  /* deep nesting stops at the cap while the parser and frames are live */
  char deep[3000];
  memset(deep, '[', sizeof(deep));
  CHECK_INT(decode_all(L, &lim, -1, deep, sizeof(deep)), LUA_OK);
  CHECK_STR(lua_tostring(L, -1),
            "yaml: line 1, column 257: nesting deeper than 256 levels (max_depth)");
  lua_close(L);
}

/* A document that exercises every path that allocates: anchors, aliases, merge keys,
 * nested collections, several documents and tagged scalars. */
static const char sweep_doc[] = "base: &b {x: 1, y: [a, b]}\n"
                                "list: [*b, *b, !!str 3, 0x10, .inf]\n"
                                "merged:\n  <<: [*b, {z: 3}]\n  y: own\n"
                                "---\n- text\n- {k: v}\n";

/* Runs decode_all on sweep_doc allowing 0, 1, 2... allocations, until it succeeds. Each run
 * must end in a memory error or in the right result; leaks show under valgrind and ASan. */
static void test_allocation_failures(void)
{
  int memerrs = 0, done = 0;
  for (long n = 0; n < 20000 && !done; n++) {
    struct alloc_limit lim;
    lua_State *L = new_state(&lim);
    int status = decode_all(L, &lim, n, sweep_doc, sizeof(sweep_doc) - 1);
    if (status == LUA_ERRMEM) {
      memerrs++;
    } else {
      CHECK_INT(status, LUA_OK);
      CHECK(lua_istable(L, -2));
      if (!lim.refused) { /* no allocation was refused: the full, correct result */
        done = 1;
        CHECK_INT(lua_rawlen(L, -2), 2);
        lua_rawgeti(L, -2, 1);
        lua_getfield(L, -1, "merged");
        lua_getfield(L, -1, "x");
        CHECK_INT(lua_tointeger(L, -1), 1);
        lua_getfield(L, -2, "y");
        CHECK_STR(lua_tostring(L, -1), "own");
      }
    }
    lua_close(L);
  }
  CHECK(done);
  CHECK(memerrs > 10);
  printf("allocation failures: %d runs ended in a memory error, then one succeeded\n", memerrs);
}

int main(void)
{
  test_plain_scalars();
  test_unterminated_input();
  test_long_float();
  test_tagged_scalars();
  test_error_paths();
  test_allocation_failures();
  return TEST_DONE();
}
