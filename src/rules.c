/* agent.rules: the frontmatter of rule files (rules.frontmatter), glob matchers (rules.glob)
 * and the choice of rules for a set of paths (rules.select). The logic is plain C in
 * frontmatter.c and glob.c; this binding converts values, calls agent.yaml for the YAML,
 * normalises what teams write (`globs` lists, `alwaysApply` strings) and words failures. */
#include "agent_limits.h"
#include "frontmatter.h"
#include "glob.h"
#include "host.h"
#include "luax.h"
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>

#define GLOB_MT "agent.Glob"
#define INDEX_MT "agent.GlobIndex"

/* ==== Messages ============================================================================ */

/* Pushes s[0..n) for quoting in a one-line message: its first line, at most
 * AGENT_GLOB_EXCERPT_MAX bytes cut at a character boundary, then "..." if that is not all. */
static const char *push_subject(lua_State *L, const char *s, size_t n)
{
  int cut = 0;
  lua_pushlstring(L, s, agent_excerpt(s, n, AGENT_GLOB_EXCERPT_MAX, &cut));
  if (cut) {
    lua_pushliteral(L, "...");
    lua_concat(L, 2);
  }
  return lua_tostring(L, -1);
}

/* Pushes fail, "frontmatter: line N: <problem>" and returns 2. */
static int fm_fail(lua_State *L, long line, const char *fmt, ...)
{
  luaL_pushfail(L);
  lua_pushfstring(L, "frontmatter: line %I: ", (lua_Integer)line);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return 2;
}

/* Reads the decimal number at s[*i] into *v and moves *i past it; 0 when there is none (or
 * it is past LONG_MAX: no line number is). */
static int read_number(const char *s, size_t n, size_t *i, long *v)
{
  long long x;
  size_t used = agent_scan_decimal(s + *i, n - *i, LONG_MAX, &x);
  *i += used;
  *v = (long)x;
  return used > 0;
}

/* Pushes s with every "line N, column" turned into "line N+offset, column": libyaml names
 * lines of the block (in its "while parsing ... at line N, column C" context), the user needs
 * lines of the file. Quoted parts ('...', how agent.yaml quotes keys) are copied as they are,
 * so a key that happens to read "line 5, column" keeps its name. */
static void push_shifted_lines(lua_State *L, const char *s, size_t n, long offset)
{
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n;) {
    long v;
    size_t j = i + 5;
    if (s[i] == '\'') {
      const char *close = memchr(s + i + 1, '\'', n - i - 1);
      size_t end = close ? (size_t)(close - s) + 1 : n;
      luaL_addlstring(&b, s + i, end - i);
      i = end;
    } else if (n - i > 5 && memcmp(s + i, "line ", 5) == 0 && read_number(s, n, &j, &v) &&
               n - j >= 8 && memcmp(s + j, ", column", 8) == 0) {
      lua_pushfstring(L, "line %I", (lua_Integer)(v + offset));
      luaL_addvalue(&b);
      i = j;
    } else {
      luaL_addchar(&b, s[i++]);
    }
  }
  luaL_pushresult(&b);
}

/* Turns agent.yaml's "yaml: line L, column C: problem" about the block that starts on file
 * line first into nil, "frontmatter: line L': problem". Columns are dropped: the pre-pass
 * may have added a quote before them. */
static int yaml_fail(lua_State *L, const char *msg, long first)
{
  size_t n = strlen(msg), i = 11;
  long line;
  if (n > 11 && memcmp(msg, "yaml: line ", 11) == 0 && read_number(msg, n, &i, &line)) {
    if (n - i > 9 && memcmp(msg + i, ", column ", 9) == 0) {
      long col;
      i += 9;
      read_number(msg, n, &i, &col);
    }
    if (n - i >= 2 && msg[i] == ':' && msg[i + 1] == ' ')
      i += 2;
    push_shifted_lines(L, msg + i, n - i, first - 1);
    return fm_fail(L, line + first - 1, "%s", lua_tostring(L, -1));
  }
  if (strncmp(msg, "yaml: ", 6) == 0)
    msg += 6;
  return fm_fail(L, first, "%s", msg);
}

/* ==== rules.frontmatter =================================================================== */

/* Pushes require("agent.yaml").decode. */
static void push_yaml_decode(lua_State *L)
{
  luaL_requiref(L, "agent.yaml", luaopen_agent_yaml, 0);
  lua_getfield(L, -1, "decode");
  lua_remove(L, -2);
  if (!lua_isfunction(L, -1))
    luaL_error(L, "agent.yaml has no decode function");
}

/* Whether the value at idx is yaml.null (== cjson.null, the NULL light userdata). */
static int is_null(lua_State *L, int idx)
{
  return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == NULL;
}

/* Decodes the block yaml[0..n) (file lines from `first`) after the leniency pre-pass.
 * Leaves the meta table and returns 1, or leaves nil, msg and returns 0. */
static int decode_meta(lua_State *L, const char *yaml, size_t n, long first)
{
  push_yaml_decode(L);
  size_t need = agent_frontmatter_lenient(yaml, n, NULL, 0);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, need);
  agent_frontmatter_lenient(yaml, n, p, need);
  luaL_pushresultsize(&b, need);
  lua_call(L, 1, 2); /* stack: value msg */
  if (lua_isnil(L, -2)) {
    const char *msg = lua_tostring(L, -1);
    yaml_fail(L, msg ? msg : "yaml: decoding failed", first);
    return 0;
  }
  lua_pop(L, 1);
  if (is_null(L, -1)) {
    lua_pop(L, 1); /* yaml.null: only comments, or nothing */
    lua_newtable(L);
    return 1;
  }
  if (lua_type(L, -1) != LUA_TTABLE || lua_rawlen(L, -1) > 0) {
    const char *got = lua_istable(L, -1) ? "list" : luaL_typename(L, -1);
    fm_fail(L, first, "expected a mapping of keys, got a %s", got);
    return 0;
  }
  return 1;
}

/* The file line of a top-level key of the block, or the block's first line. */
static long key_line(const char *yaml, size_t n, long first, const char *key)
{
  long k = agent_frontmatter_key_line(yaml, n, key);
  return k > 0 ? first + k - 1 : first;
}

/* Appends the globs of the string at idx to the array at `out` (*k items so far). */
static void add_glob_items(lua_State *L, int idx, int out, lua_Integer *k)
{
  idx = lua_absindex(L, idx);
  size_t len, pos = 0, off, n;
  const char *s = lua_tolstring(L, idx, &len);
  while (agent_frontmatter_next_glob(s, len, &pos, &off, &n)) {
    lua_pushlstring(L, s + off, n);
    lua_rawseti(L, out, ++*k);
  }
}

static lua_Unsigned count_pairs(lua_State *L, int t)
{
  lua_Unsigned n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    n++;
  }
  return n;
}

/* meta.globs as people write it (a list, one comma-separated string, list items holding
 * commas, quoted items, null) becomes an array of trimmed strings. 0 for a value that is
 * none of those (nil, msg pushed). */
static int normalise_globs(lua_State *L, int meta, long line)
{
  int t = lua_getfield(L, meta, "globs"); /* stack: value */
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return 1;
  }
  int value = lua_gettop(L);
  lua_newtable(L); /* stack: value out */
  int out = value + 1;
  lua_Integer k = 0;
  int ok = 1;
  if (t == LUA_TSTRING) {
    add_glob_items(L, value, out, &k);
  } else if (t == LUA_TTABLE) {
    lua_Unsigned n = lua_rawlen(L, value);
    ok = count_pairs(L, value) == n; /* a mapping is not a list of globs */
    for (lua_Unsigned i = 1; i <= n && ok; i++) {
      int it = lua_rawgeti(L, value, (lua_Integer)i); /* stack: value out item */
      if (it == LUA_TSTRING || it == LUA_TNUMBER)     /* `- 2024` is a file name too */
        add_glob_items(L, -1, out, &k);
      else
        ok = is_null(L, -1);
      lua_pop(L, 1);
    }
  } else {
    ok = is_null(L, value);
  }
  if (!ok) {
    fm_fail(L, line, "'globs' must be a string or a list of strings");
    return 0;
  }
  lua_setfield(L, meta, "globs");
  lua_pop(L, 1);
  return 1;
}

/* Trims blanks and one level of surrounding quotes: `"true"` inside a string is true too. */
static const char *trim_unquote(const char *s, size_t *n)
{
  for (int pass = 0; pass < 2; pass++) {
    while (*n > 0 && agent_is_blank(*s)) {
      s++;
      (*n)--;
    }
    while (*n > 0 && agent_is_blank(s[*n - 1]))
      (*n)--;
    if (pass == 0 && *n >= 2 && (*s == '"' || *s == '\'') && s[*n - 1] == *s) {
      s++;
      *n -= 2;
    }
  }
  return s;
}

/* Whether s[0..n) is one of the NULL-terminated words, ignoring ASCII case. */
static int is_word(const char *s, size_t n, const char *const *words)
{
  for (; *words; words++) {
    size_t wn = strlen(*words), i = 0;
    while (i < n && i < wn && agent_ascii_lower(s[i]) == (*words)[i])
      i++;
    if (i == n && i == wn)
      return 1;
  }
  return 0;
}

/* meta.alwaysApply becomes a boolean: people write true, "true", True, yes, 1. Anything that
 * is not clearly true or false is an error rather than a silent false. */
static int normalise_always(lua_State *L, int meta, long line)
{
  static const char *const yes[] = {"true", "yes", "on", "1", NULL};
  static const char *const no[] = {"false", "no", "off", "0", "", NULL};
  int t = lua_getfield(L, meta, "alwaysApply");
  int v = -1;
  if (t == LUA_TNIL || t == LUA_TBOOLEAN) {
    lua_pop(L, 1);
    return 1;
  }
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    size_t n;
    const char *s = trim_unquote(lua_tolstring(L, -1, &n), &n);
    v = is_word(s, n, yes) ? 1 : is_word(s, n, no) ? 0 : -1;
  } else if (is_null(L, -1)) {
    v = 0;
  }
  if (v < 0) {
    const char *shown = luaL_typename(L, -1);
    if (lua_type(L, -1) == LUA_TSTRING)
      shown = lua_pushfstring(L, "'%s'", push_subject(L, lua_tostring(L, -1), lua_rawlen(L, -1)));
    fm_fail(L, line, "'alwaysApply' must be true or false, not %s", shown);
    return 0;
  }
  lua_pushboolean(L, v);
  lua_setfield(L, meta, "alwaysApply");
  lua_pop(L, 1);
  return 1;
}

/* rules.frontmatter(text) -> meta, body, body_line | nil, "frontmatter: line N: problem"
 * meta is {} without frontmatter; globs becomes an array, alwaysApply a boolean. */
static int rules_frontmatter(lua_State *L)
{
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_settop(L, 1);
  struct agent_frontmatter fm;
  if (agent_frontmatter_split(text, len, &fm) < 0)
    return fm_fail(L, 1, "the opening '---' is never closed by '---' or '...'");
  if (!fm.found) {
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 1);
    return 3;
  }
  const char *yaml = text + fm.yaml_off;
  if (!decode_meta(L, yaml, fm.yaml_len, fm.yaml_line))
    return 2;
  /* stack: text meta */
  if (!normalise_globs(L, 2, key_line(yaml, fm.yaml_len, fm.yaml_line, "globs")) ||
      !normalise_always(L, 2, key_line(yaml, fm.yaml_len, fm.yaml_line, "alwaysApply")))
    return 2;
  lua_pushlstring(L, text + fm.body_off, len - fm.body_off);
  lua_pushinteger(L, fm.body_line);
  return 3;
}

/* ==== rules.glob ========================================================================== */

struct glob_ud {
  struct agent_glob *g; /* owned; NULL once collected */
};

/* The glob caps of the options table at idx: bytes_key and alts_key, each at least 1 (a 0 in
 * the result takes agent_limits.h's default). */
static struct agent_glob_limits glob_limits(lua_State *L, int idx, const char *bytes_key,
                                            const char *alts_key)
{
  lua_Integer bytes = agent_optfield_int(L, idx, bytes_key, AGENT_GLOB_PATTERN_MAX);
  lua_Integer alts = agent_optfield_int(L, idx, alts_key, AGENT_GLOB_BRACE_MAX);
  if (bytes < 1)
    agent_opterror(L, idx, bytes_key, "must be at least 1");
  if (alts < 1)
    agent_opterror(L, idx, alts_key, "must be at least 1");
  return (struct agent_glob_limits){(size_t)bytes, (size_t)alts};
}

/* Compiles a pattern under the caps lim. Returns the program, or NULL with the failure
 * message pushed. Raises only when out of memory, with nothing allocated. The caller owns
 * the program. */
static struct agent_glob *compile(lua_State *L, const char *pat, size_t len,
                                  const struct agent_glob_limits *lim)
{
  struct agent_glob *g = NULL;
  char err[128];
  int rc = agent_glob_compile_with(pat, len, lim, &g, err, sizeof(err));
  if (rc == AGENT_GLOB_ENOMEM)
    luaL_error(L, "glob: out of memory");
  if (rc != AGENT_GLOB_OK) {
    lua_pushfstring(L, "glob '%s': %s", push_subject(L, pat, len), err);
    lua_remove(L, -2);
  }
  return g;
}

/* rules.glob(pattern [, {max_bytes=, max_alternatives=}])
 *   -> agent.Glob | nil, "glob '<pattern>': <reason>" */
static int rules_glob(lua_State *L)
{
  size_t len;
  const char *pat = luaL_checklstring(L, 1, &len);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  struct agent_glob_limits lim = glob_limits(L, 2, "max_bytes", "max_alternatives");
  lua_settop(L, 1);
  struct glob_ud *ud = lua_newuserdatauv(L, sizeof(*ud), 1);
  ud->g = NULL;
  luaL_setmetatable(L, GLOB_MT); /* from here the program is collected with the userdata */
  ud->g = compile(L, pat, len, &lim);
  if (!ud->g) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1); /* the pattern, for __tostring */
  return 1;
}

/* The program of the glob at arg 1; NULL only after __gc (a finalizer may still reach a
 * collected matcher), which raises "attempt to use a closed glob". */
static struct agent_glob *check_glob(lua_State *L)
{
  struct glob_ud *ud = luaL_checkudata(L, 1, GLOB_MT);
  if (!ud->g)
    agent_closed_error(L, "glob");
  return ud->g;
}

/* m:match(path) -> boolean; also m(path) */
static int glob_match(lua_State *L)
{
  struct agent_glob *g = check_glob(L);
  size_t len;
  const char *path = luaL_checklstring(L, 2, &len);
  lua_pushboolean(L, agent_glob_match(g, path, len));
  return 1;
}

/* tostring(m) -> "agent.Glob('<pattern>')" */
static int glob_tostring(lua_State *L)
{
  luaL_checkudata(L, 1, GLOB_MT);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "agent.Glob('%s')", lua_tostring(L, -1));
  return 1;
}

/* m:__gc(): frees the program. */
static int glob_gc(lua_State *L)
{
  struct glob_ud *ud = luaL_checkudata(L, 1, GLOB_MT);
  agent_glob_free(ud->g);
  ud->g = NULL;
  return 0;
}

/* ==== rules.select ======================================================================== */

struct index_ud {
  struct agent_glob_index *ix; /* owned */
};

/* index:__close() and index:__gc(): frees the index; idempotent. */
static int index_close(lua_State *L)
{
  struct index_ud *ud = luaL_checkudata(L, 1, INDEX_MT);
  agent_glob_index_free(ud->ix);
  ud->ix = NULL;
  return 0;
}

/* Pushes a to-be-closed index of the strings of the array at `paths`. The index copies each
 * string while it is on the stack, and matches and reports (why.path) from its copies only:
 * the caller's array may change while select runs (a __gc metamethod runs Lua during any
 * allocation), and a string it lets go of may be collected, but the copies stay as they were
 * read until the index is closed. */
static struct agent_glob_index *push_index(lua_State *L, int paths)
{
  lua_Unsigned n = lua_rawlen(L, paths);
  struct index_ud *ud = agent_pushbox(L, sizeof(*ud), 0, INDEX_MT);
  ud->ix = agent_glob_index_new((size_t)n);
  if (!ud->ix)
    luaL_error(L, "select: out of memory");
  for (lua_Unsigned i = 1; i <= n; i++) {
    if (lua_rawgeti(L, paths, (lua_Integer)i) != LUA_TSTRING)
      luaL_argerror(L, paths,
                    lua_pushfstring(L, "paths[%I] is a %s, not a string", (lua_Integer)i,
                                    luaL_typename(L, -1)));
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (agent_glob_index_add(ud->ix, s, len))
      luaL_error(L, "select: out of memory");
    lua_pop(L, 1);
  }
  if (agent_glob_index_build(ud->ix))
    luaL_error(L, "select: out of memory");
  return ud->ix;
}

struct selection {
  int rules, paths, selected, why, problems; /* stack slots */
  struct agent_glob_index *ix;
  int use_index;
  struct agent_glob_limits lim; /* for every rule's globs */
};

static void append(lua_State *L, int array)
{
  lua_rawseti(L, array, (lua_Integer)lua_rawlen(L, array) + 1);
}

/* Records that a glob of rules[i] is malformed. Expects the glob and the message on top;
 * pops the message. */
static void add_problem(lua_State *L, const struct selection *s, lua_Integer i)
{
  lua_createtable(L, 0, 3); /* stack: glob msg problem */
  lua_pushinteger(L, i);
  lua_setfield(L, -2, "rule");
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "glob");
  lua_pushvalue(L, -2);
  lua_setfield(L, -2, "error");
  append(L, s->problems);
  lua_pop(L, 1);
}

/* Tries the globs of rules[i] (at `rule`) until one matches a path, when `want` is set, and
 * compiles all of them to report malformed ones. Returns the position of the first matching
 * path (in the paths array, from 0) and leaves the matching glob on the stack, or returns
 * -1 and leaves nothing. */
static long match_rule(lua_State *L, const struct selection *s, lua_Integer i, int rule, int want)
{
  long found = -1;
  if (agent_rawfield(L, rule, "globs") == LUA_TNIL) { /* stack: globs */
    lua_pop(L, 1);
    return -1;
  }
  if (!lua_istable(L, -1))
    luaL_argerror(
        L, s->rules,
        lua_pushfstring(L, "rules[%I].globs is a %s, not a table", i, luaL_typename(L, -1)));
  lua_Unsigned n = lua_rawlen(L, -1);
  for (lua_Unsigned j = 1; j <= n; j++) {
    if (lua_rawgeti(L, -1, (lua_Integer)j) != LUA_TSTRING) /* stack: globs glob */
      luaL_argerror(L, s->rules,
                    lua_pushfstring(L, "rules[%I].globs[%I] is a %s, not a string", i,
                                    (lua_Integer)j, luaL_typename(L, -1)));
    size_t len;
    const char *pat = lua_tolstring(L, -1, &len);
    struct agent_glob *g = compile(L, pat, len, &s->lim);
    if (!g) {
      add_problem(L, s, i); /* stack: globs glob msg -> globs glob */
    } else if (want && found < 0) {
      found = s->use_index ? agent_glob_index_first(s->ix, g) : agent_glob_index_scan(s->ix, g);
      agent_glob_free(g);
      if (found >= 0) {
        lua_insert(L, -2); /* stack: glob globs; the winner stays below */
        continue;
      }
    } else {
      agent_glob_free(g);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1); /* the globs table */
  return found;
}

/* Decides one rule: selected with why = {always=true} or {glob=, path=}, or left out. */
static void select_rule(lua_State *L, const struct selection *s, lua_Integer i)
{
  int rule = lua_gettop(L);
  int t = agent_rawfield(L, rule, "alwaysApply");
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_argerror(L, s->rules,
                  lua_pushfstring(L, "rules[%I].alwaysApply is a %s, not a boolean", i,
                                  luaL_typename(L, -1)));
  int always = lua_toboolean(L, -1);
  lua_pop(L, 1);
  long pos = match_rule(L, s, i, rule, !always); /* stack: rule [glob] */
  if (!always && pos < 0)
    return;
  lua_createtable(L, 0, 2);
  if (always) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "always");
  } else {
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "glob");
    size_t len;
    const char *path = agent_glob_index_path(s->ix, pos, &len); /* the copy that matched */
    lua_pushlstring(L, path, len);
    lua_setfield(L, -2, "path");
  }
  append(L, s->why);
  if (pos >= 0)
    lua_pop(L, 1); /* the glob */
  lua_pushvalue(L, rule);
  append(L, s->selected);
}

/* rules.select(rules, paths [, {index=true, max_glob_bytes=, max_glob_alternatives=}])
 *   -> selected, why, problems
 * selected: the rules (in input order) with alwaysApply == true or a glob matching a path;
 * why[k]: {always=true} or {glob=, path=} (the bytewise-first path that glob matches);
 * problems: {rule=i, glob=, error=} for each malformed glob. index=false tries every path
 * for every glob: the same answer, slowly, for tests and benchmarks. */
static int rules_select(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3))
    luaL_checktype(L, 3, LUA_TTABLE);
  struct selection s = {.rules = 1,
                        .paths = 2,
                        .use_index = agent_optfield_bool(L, 3, "index", 1),
                        .lim = glob_limits(L, 3, "max_glob_bytes", "max_glob_alternatives")};
  lua_settop(L, 3);
  s.ix = push_index(L, 2); /* slot 4 */
  lua_newtable(L);
  s.selected = lua_gettop(L);
  lua_newtable(L);
  s.why = lua_gettop(L);
  lua_newtable(L);
  s.problems = lua_gettop(L);
  lua_Unsigned n = lua_rawlen(L, 1);
  for (lua_Unsigned i = 1; i <= n; i++) {
    if (lua_rawgeti(L, 1, (lua_Integer)i) != LUA_TTABLE)
      luaL_argerror(L, 1,
                    lua_pushfstring(L, "rules[%I] is a %s, not a table", (lua_Integer)i,
                                    luaL_typename(L, -1)));
    select_rule(L, &s, (lua_Integer)i);
    lua_pop(L, 1);
  }
  return 3;
}

/* ==== The module ========================================================================== */

static const luaL_Reg rules_funcs[] = {
    {"frontmatter", rules_frontmatter},
    {"glob", rules_glob},
    {"select", rules_select},
    {NULL, NULL},
};

static const luaL_Reg glob_methods[] = {
    {"match", glob_match},
    {NULL, NULL},
};

static const luaL_Reg glob_metamethods[] = {
    {"__call", glob_match},
    {"__tostring", glob_tostring},
    {"__gc", glob_gc},
    {NULL, NULL},
};

static const luaL_Reg index_metamethods[] = {
    {"__close", index_close}, {"__gc", index_close}, {NULL, NULL}};

/* luaopen_agent_rules(L) -> the agent.rules table; registers the Glob and GlobIndex classes. */
int luaopen_agent_rules(lua_State *L)
{
  agent_newclass(L, GLOB_MT, glob_methods, glob_metamethods);
  agent_newclass(L, INDEX_MT, NULL, index_metamethods);
  luaL_newlib(L, rules_funcs);
  return 1;
}
