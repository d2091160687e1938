/* agent.yaml: YAML text to Lua values through libyaml's event API. Values are built on the
 * Lua stack as events arrive (no intermediate tree, no recursion): core-schema scalars
 * (yaml_scalar.c), anchors and aliases sharing one Lua value under a cap on the nodes they
 * expand to, merge keys, and errors that name the line and column. */
#include "agent_limits.h"
#include "host.h"
#include "luax.h"
#include "util.h"
#include "yaml_scalar.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <yaml.h>

/* yaml_scalar.c works in long long; overflow to float must happen where Lua's would. */
_Static_assert(LUA_MAXINTEGER == LLONG_MAX, "lua_Integer must be a long long");

#define RUN_MT "agent.YamlRun"

/* Free stack slots made sure of for each open collection: its own three, a pending key, and
 * the temporaries of the handlers below (at most seven at once). */
#define STACK_PER_LEVEL 16

/* What a finished node was, as far as the enclosing node cares: keys must be scalars, and a
 * merge key takes a mapping or a sequence of mappings. */
enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_SEQ_OF_MAPS, NODE_MAP };

/* What an open collection expects next. */
enum want { WANT_ITEM, WANT_KEY, WANT_VALUE, WANT_MERGE };

/* One open sequence or mapping. Its Lua values sit on the stack from `base`:
 *   base: its anchor name or nil   base+1: its table   base+2 (mappings): merge sources or nil
 * and above them the pending key while a mapping waits for the value. */
struct frame {
  int base;
  enum want want;    /* WANT_ITEM for a sequence */
  lua_Integer items; /* sequence length so far */
  lua_Integer nodes; /* nodes in the subtree so far, each alias counted at its full size */
  int all_maps;      /* sequence: every item so far is a mapping */
  yaml_mark_t mark;  /* where it starts, for messages */
};

/* The C memory of one decode: libyaml's parser, its current event and the frame stack. A
 * Lua error (a failed allocation while a value is pushed) must not leak them, so they live
 * in a to-be-closed userdata whose __close releases whatever is still held the moment the
 * error leaves decode. */
struct yaml_run {
  yaml_parser_t parser;
  yaml_event_t event;
  int parser_live, event_live;
  struct frame *frames; /* owned; grown by doubling */
  size_t nframes, cap;
};

/* The state of one decode call (on the C stack; everything it points to is anchored). */
struct builder {
  lua_State *L;
  struct yaml_run *run;
  const char *text; /* the input, for the position of reader errors */
  size_t len;
  lua_Integer max_depth, max_alias_nodes;
  lua_Integer alias_nodes; /* nodes produced through aliases so far */
  int anchors;             /* stack index of the current document's anchors table */
};

/* ==== The userdata ======================================================================= */

static void release_event(struct yaml_run *run)
{
  if (run->event_live) {
    yaml_event_delete(&run->event);
    run->event_live = 0;
  }
}

/* Idempotent: called when a decode ends, and again by __close and __gc. */
static void release_run(struct yaml_run *run)
{
  release_event(run);
  if (run->parser_live) {
    yaml_parser_delete(&run->parser);
    run->parser_live = 0;
  }
  free(run->frames);
  run->frames = NULL;
  run->nframes = run->cap = 0;
}

/* __close(run) and __gc(run): releases the parser, its event and the frames. */
static int run_gc(lua_State *L)
{
  release_run(luaL_checkudata(L, 1, RUN_MT));
  return 0;
}

/* Pushes a run reading text (which the caller keeps alive on the stack). Returns NULL when
 * libyaml cannot allocate its parser. */
static struct yaml_run *push_run(lua_State *L, const char *text, size_t len)
{
  struct yaml_run *run = agent_pushbox(L, sizeof(*run), 0, RUN_MT);
  if (!yaml_parser_initialize(&run->parser))
    return NULL;
  run->parser_live = 1;
  yaml_parser_set_input_string(&run->parser, (const unsigned char *)text, len);
  return run;
}

static struct frame *push_frame(struct yaml_run *run)
{
  if (AGENT_RESERVE(run->frames, run->cap, run->nframes + 1))
    return NULL;
  return &run->frames[run->nframes++];
}

static struct frame *top_frame(struct builder *b)
{
  return b->run->nframes ? &b->run->frames[b->run->nframes - 1] : NULL;
}

/* ==== Messages ============================================================================ */

/* Pushes "yaml: line L, column C: <problem>" (libyaml's marks are 0-based). fmt takes what
 * lua_pushfstring takes. Returns -1, so handlers can `return fail(...)`. */
static int fail(struct builder *b, yaml_mark_t mark, const char *fmt, ...)
{
  lua_State *L = b->L;
  lua_pushfstring(L, "yaml: line %I, column %I: ", (lua_Integer)mark.line + 1,
                  (lua_Integer)mark.column + 1);
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return -1;
}

/* A one-line form of a scalar for messages: its first line, at most AGENT_EXCERPT_MAX bytes
 * cut at a character boundary, then "..." when that is not all of it. */
static const char *excerpt(const char *s, size_t len, char *buf, size_t size)
{
  int cut = 0;
  size_t n = agent_excerpt(s, len, AGENT_EXCERPT_MAX, &cut);
  snprintf(buf, size, "%.*s%s", (int)n, s, cut ? "..." : "");
  return buf;
}

/* The key at idx as text for a "duplicate key" message; raises nothing. */
static const char *key_text(lua_State *L, int idx, char *buf, size_t size)
{
  size_t len;
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    const char *s = lua_tolstring(L, idx, &len);
    return excerpt(s, len, buf, size);
  }
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
    else
      snprintf(buf, size, "%.14g", (double)lua_tonumber(L, idx));
    return buf;
  case LUA_TBOOLEAN:
    return lua_toboolean(L, idx) ? "true" : "false";
  default:
    return "null";
  }
}

/* libyaml gives reader errors (bad UTF-8, control characters) as a byte offset; this turns
 * it into the line and column (in characters, as libyaml counts them) other errors carry. */
static yaml_mark_t offset_mark(const char *text, size_t len, size_t offset)
{
  yaml_mark_t m = {offset, 0, 0};
  size_t i = agent_bom_length(text, len);
  if (offset > len)
    offset = len;
  for (; i < offset; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '\n' || (c == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
      m.line++;
      m.column = 0;
    } else if ((c & 0xC0) != 0x80 && c != '\r') {
      m.column++; /* one per character: UTF-8 continuation bytes do not count */
    }
  }
  return m;
}

/* Pushes the message for the error libyaml's parser stopped on. Returns -1. */
static int parser_error(struct builder *b)
{
  yaml_parser_t *p = &b->run->parser;
  const char *problem = p->problem ? p->problem : "malformed document";
  if (p->error == YAML_MEMORY_ERROR) {
    lua_pushliteral(b->L, "yaml: out of memory");
    return -1;
  }
  if (p->error == YAML_READER_ERROR) {
    yaml_mark_t m = offset_mark(b->text, b->len, p->problem_offset);
    if (p->problem_value == -1)
      return fail(b, m, "%s", problem);
    char value[16];
    snprintf(value, sizeof(value), "#x%02X", (unsigned)p->problem_value);
    return fail(b, m, "%s (%s)", problem, value);
  }
  if (p->context)
    return fail(b, p->problem_mark, "%s (%s at line %I, column %I)", problem, p->context,
                (lua_Integer)p->context_mark.line + 1, (lua_Integer)p->context_mark.column + 1);
  return fail(b, p->problem_mark, "%s", problem);
}

/* ==== Scalars ============================================================================= */

#define RESOLVE (-1) /* no tag that decides: resolve a plain scalar by the core schema */

/* The type an explicit tag demands, or RESOLVE. Quoted and block scalars are strings. Tags
 * outside the core schema (!!timestamp, !local) are ignored, as if absent. */
static int scalar_type(const char *tag, yaml_scalar_style_t style)
{
  static const struct {
    const char *tag;
    enum agent_yaml_type type;
  } core[] = {
      {YAML_STR_TAG, AGENT_YAML_STR},     {YAML_NULL_TAG, AGENT_YAML_NULL},
      {YAML_BOOL_TAG, AGENT_YAML_BOOL},   {YAML_INT_TAG, AGENT_YAML_INT},
      {YAML_FLOAT_TAG, AGENT_YAML_FLOAT},
  };
  if (tag && strcmp(tag, "!") == 0)
    return AGENT_YAML_STR; /* the non-specific tag: "not resolved", so a string */
  for (size_t i = 0; tag && i < sizeof(core) / sizeof(core[0]); i++)
    if (strcmp(tag, core[i].tag) == 0)
      return (int)core[i].type;
  return style == YAML_PLAIN_SCALAR_STYLE ? RESOLVE : AGENT_YAML_STR;
}

/* Pushes the Lua value of the current scalar event. Returns 0, or -1 with a message. */
static int push_scalar(struct builder *b, const yaml_event_t *ev)
{
  const char *s = (const char *)ev->data.scalar.value;
  size_t len = ev->data.scalar.length;
  int want = scalar_type((const char *)ev->data.scalar.tag, ev->data.scalar.style);
  struct agent_yaml_scalar v;
  int r = 0;
  if (want == RESOLVE) {
    r = agent_yaml_resolve(s, len, &v);
  } else {
    r = agent_yaml_resolve_as((enum agent_yaml_type)want, s, len, &v);
    if (r == 0) {
      char buf[64];
      return fail(b, ev->start_mark, "invalid !!%s value '%s'",
                  agent_yaml_type_name((enum agent_yaml_type)want),
                  excerpt(s, len, buf, sizeof(buf)));
    }
  }
  if (r < 0)
    return fail(b, ev->start_mark, "out of memory");
  switch (v.type) {
  case AGENT_YAML_NULL:
    lua_pushlightuserdata(b->L, NULL); /* yaml.null, the same value as cjson.null */
    break;
  case AGENT_YAML_BOOL:
    lua_pushboolean(b->L, v.boolean);
    break;
  case AGENT_YAML_INT:
    lua_pushinteger(b->L, (lua_Integer)v.integer);
    break;
  case AGENT_YAML_FLOAT:
    lua_pushnumber(b->L, (lua_Number)v.number);
    break;
  case AGENT_YAML_STR:
    lua_pushlstring(b->L, s, len);
    break;
  }
  return 0;
}

/* A merge key is the plain, untagged scalar `<<`; a quoted "<<" is an ordinary key. */
static int is_merge_key(const yaml_event_t *ev)
{
  return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
         ev->data.scalar.length == 2 && memcmp(ev->data.scalar.value, "<<", 2) == 0;
}

static void push_anchor(lua_State *L, const yaml_char_t *anchor)
{
  if (anchor)
    lua_pushstring(L, (const char *)anchor);
  else
    lua_pushnil(L);
}

/* ==== Finished nodes ====================================================================== */

/* stack: name value -> name value; anchors[name] = {value, size, kind}. */
static void register_anchor(lua_State *L, int anchors, enum node_kind kind, lua_Integer size)
{
  int value = lua_gettop(L);
  lua_pushvalue(L, value - 1);
  lua_createtable(L, 3, 0); /* stack: name value name record */
  lua_pushvalue(L, value);
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, size);
  lua_rawseti(L, -2, 2);
  lua_pushinteger(L, kind);
  lua_rawseti(L, -2, 3);
  lua_rawset(L, anchors);
}

/* A key has arrived (on top). It must be a scalar, not NaN, and new in this mapping. Keys
 * that merge keys bring in are not in the table yet, so an explicit key always wins. */
static int take_key(struct builder *b, struct frame *f, yaml_mark_t mark, enum node_kind kind,
                    int merge_key)
{
  lua_State *L = b->L;
  if (kind != NODE_SCALAR)
    return fail(b, mark, "a mapping key must be a scalar, not an alias to a %s",
                kind == NODE_MAP ? "mapping" : "sequence");
  if (merge_key) {
    lua_pop(L, 1);
    f->want = WANT_MERGE;
    return 0;
  }
  if (lua_type(L, -1) == LUA_TNUMBER && isnan(lua_tonumber(L, -1)))
    return fail(b, mark, "a mapping key cannot be .nan");
  lua_pushvalue(L, -1);
  if (lua_rawget(L, f->base + 1) != LUA_TNIL) {
    char buf[64];
    return fail(b, mark, "duplicate key '%s'", key_text(L, -2, buf, sizeof(buf)));
  }
  lua_pop(L, 1); /* stack: key, until its value arrives */
  f->want = WANT_VALUE;
  return 0;
}

/* The value of a `<<` key (on top): a mapping, or a sequence of mappings, is queued as merge
 * sources in order; they are applied when the mapping ends (apply_merges). */
static int take_merge(struct builder *b, struct frame *f, yaml_mark_t mark, enum node_kind kind)
{
  lua_State *L = b->L;
  if (kind != NODE_MAP && kind != NODE_SEQ_OF_MAPS)
    return fail(b, mark, "a merge key '<<' needs a mapping or a sequence of mappings");
  int sources = f->base + 2;
  if (lua_isnil(L, sources)) {
    lua_newtable(L);
    lua_replace(L, sources);
  }
  lua_Integer n = (lua_Integer)lua_rawlen(L, sources);
  if (kind == NODE_MAP) {
    lua_rawseti(L, sources, n + 1);
  } else {
    lua_Integer items = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= items; i++) {
      lua_rawgeti(L, -1, i);
      lua_rawseti(L, sources, ++n);
    }
    lua_pop(L, 1);
  }
  f->want = WANT_KEY;
  return 0;
}

/* Copies into the mapping every key of the merge sources it does not have yet, sources in
 * order, so keys of the mapping itself win, then earlier sources over later ones. */
static void apply_merges(lua_State *L, int map, int sources)
{
  if (lua_isnil(L, sources))
    return;
  lua_Integer n = (lua_Integer)lua_rawlen(L, sources);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, sources, i);
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* stack: source key value */
      lua_pushvalue(L, -2);
      if (lua_rawget(L, map) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, map); /* stack: source key */
      } else {
        lua_pop(L, 2);
      }
    }
    lua_pop(L, 1);
  }
}

/* A node is finished: its value is on top, with its anchor slot below it when anchor_slot is
 * set (a name, or nil for a collection without one). Records the anchor, then hands the value
 * to the enclosing collection, or leaves it as the document's root. */
static int complete(struct builder *b, yaml_mark_t mark, enum node_kind kind, lua_Integer size,
                    int anchor_slot, int merge_key)
{
  lua_State *L = b->L;
  if (anchor_slot) {
    if (!lua_isnil(L, -2))
      register_anchor(L, b->anchors, kind, size);
    lua_remove(L, -2); /* stack: value */
  }
  struct frame *f = top_frame(b);
  if (!f)
    return 0;
  f->nodes += size;
  switch (f->want) {
  case WANT_ITEM:
    f->all_maps = f->all_maps && kind == NODE_MAP;
    lua_rawseti(L, f->base + 1, ++f->items);
    return 0;
  case WANT_KEY:
    return take_key(b, f, mark, kind, merge_key);
  case WANT_VALUE:
    lua_rawset(L, f->base + 1); /* stack: key value */
    f->want = WANT_KEY;
    return 0;
  case WANT_MERGE:
    return take_merge(b, f, mark, kind);
  }
  return 0;
}

/* ==== Event handlers ======================================================================
 * Each takes what it needs from the current event onto the Lua stack, deletes the event, and
 * only then does the table work. A push that fails to allocate raises with the event still
 * held by the run, whose __gc frees it. */

static int on_scalar(struct builder *b)
{
  yaml_event_t *ev = &b->run->event;
  yaml_mark_t mark = ev->start_mark;
  int merge_key = is_merge_key(ev);
  int anchored = ev->data.scalar.anchor != NULL;
  if (anchored)
    lua_pushstring(b->L, (const char *)ev->data.scalar.anchor);
  if (push_scalar(b, ev) < 0)
    return -1;
  release_event(b->run);
  return complete(b, mark, NODE_SCALAR, 1, anchored, merge_key);
}

/* An alias is the anchored Lua value itself (tables are shared, not copied). Each use counts
 * the anchored node's full size against max_alias_nodes, so a "billion laughs" document
 * stops after a bounded amount of work instead of handing callers an exponential tree. */
static int on_alias(struct builder *b)
{
  lua_State *L = b->L;
  yaml_mark_t mark = b->run->event.start_mark;
  lua_pushstring(L, (const char *)b->run->event.data.alias.anchor);
  release_event(b->run);
  const char *name = lua_tostring(L, -1);
  lua_pushvalue(L, -1);
  int t = lua_rawget(L, b->anchors); /* stack: name record */
  if (t == LUA_TNIL)
    return fail(b, mark, "undefined alias '*%s'", name);
  if (t != LUA_TTABLE) /* anchored on a collection still open around this alias */
    return fail(b, mark, "alias '*%s' refers to a node that contains it", name);
  lua_rawgeti(L, -1, 2);
  lua_rawgeti(L, -2, 3);
  lua_Integer size = lua_tointeger(L, -2);
  enum node_kind kind = (enum node_kind)lua_tointeger(L, -1);
  lua_pop(L, 2);
  if (size > b->max_alias_nodes - b->alias_nodes)
    return fail(b, mark, "aliases expand to more than %I nodes (max_alias_nodes)",
                b->max_alias_nodes);
  b->alias_nodes += size;
  lua_rawgeti(L, -1, 1);
  lua_replace(L, -3);
  lua_pop(L, 1); /* stack: value */
  return complete(b, mark, kind, size, 0, 0);
}

static int on_collection_start(struct builder *b, int is_map)
{
  lua_State *L = b->L;
  yaml_event_t *ev = &b->run->event;
  yaml_mark_t mark = ev->start_mark;
  struct frame *parent = top_frame(b);
  if (parent && parent->want == WANT_KEY)
    return fail(b, mark, "a mapping key must be a scalar, not a %s",
                is_map ? "mapping" : "sequence");
  if ((lua_Integer)b->run->nframes >= b->max_depth)
    return fail(b, mark, "nesting deeper than %I levels (max_depth)", b->max_depth);
  if (!lua_checkstack(L, STACK_PER_LEVEL)) {
    lua_settop(L, b->anchors); /* make room for the message */
    return fail(b, mark, "nesting too deep for the Lua stack");
  }
  push_anchor(L, is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
  release_event(b->run);
  int base = lua_gettop(L);
  if (!lua_isnil(L, base)) { /* open: an alias to it from inside would make a cycle */
    lua_pushvalue(L, base);
    lua_pushboolean(L, 0);
    lua_rawset(L, b->anchors);
  }
  lua_newtable(L);
  if (is_map)
    lua_pushnil(L); /* merge sources, made on the first `<<` */
  struct frame *f = push_frame(b->run);
  if (!f)
    return fail(b, mark, "out of memory");
  *f = (struct frame){base, is_map ? WANT_KEY : WANT_ITEM, 0, 1, 1, mark};
  return 0;
}

static int on_collection_end(struct builder *b)
{
  lua_State *L = b->L;
  release_event(b->run);
  struct frame f = b->run->frames[--b->run->nframes];
  enum node_kind kind = f.all_maps ? NODE_SEQ_OF_MAPS : NODE_SEQ;
  if (f.want != WANT_ITEM) {
    apply_merges(L, f.base + 1, f.base + 2);
    kind = NODE_MAP;
  }
  lua_settop(L, f.base + 1); /* stack: anchor table */
  return complete(b, f.mark, kind, f.nodes, 1, 0);
}

/* Parses until the stream ends (all) or the first document is complete. Leaves the array of
 * documents (all) or the first document's value on top and returns 0, or leaves a message
 * on top and returns -1. A stream without documents gives {} or yaml.null. */
static int build(struct builder *b, int all)
{
  lua_State *L = b->L;
  lua_Integer ndocs = 0;
  if (all)
    lua_newtable(L);
  int docs = lua_gettop(L);
  for (;;) {
    if (!yaml_parser_parse(&b->run->parser, &b->run->event))
      return parser_error(b);
    b->run->event_live = 1;
    int rc = 0;
    switch (b->run->event.type) {
    case YAML_SCALAR_EVENT:
      rc = on_scalar(b);
      break;
    case YAML_ALIAS_EVENT:
      rc = on_alias(b);
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      rc = on_collection_start(b, b->run->event.type == YAML_MAPPING_START_EVENT);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      rc = on_collection_end(b);
      break;
    case YAML_DOCUMENT_START_EVENT:
      release_event(b->run);
      lua_newtable(L); /* anchors belong to one document */
      lua_replace(L, b->anchors);
      break;
    case YAML_DOCUMENT_END_EVENT:
      release_event(b->run);
      if (!all)
        return 0; /* stack: root */
      lua_rawseti(L, docs, ++ndocs);
      break;
    case YAML_STREAM_END_EVENT:
      release_event(b->run);
      if (!all)
        lua_pushlightuserdata(L, NULL);
      return 0;
    default:
      release_event(b->run);
      break;
    }
    if (rc < 0)
      return -1;
  }
}

/* decode and decode_all: (text [, opts]) -> result | nil, msg [, "toobig"] */
static int decode(lua_State *L, int all)
{
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  struct builder b = {L, NULL, text, len, 0, 0, 0, 0};
  b.max_depth = agent_optfield_int(L, 2, "max_depth", AGENT_YAML_DEPTH_MAX);
  b.max_alias_nodes = agent_optfield_int(L, 2, "max_alias_nodes", AGENT_YAML_ALIAS_NODES_MAX);
  lua_Integer max_bytes = agent_optfield_int(L, 2, "max_bytes", AGENT_YAML_INPUT_MAX);
  luaL_argcheck(L, b.max_depth >= 1, 2, "max_depth must be at least 1");
  /* half the range keeps the node counts that add alias sizes from overflowing */
  luaL_argcheck(L, b.max_alias_nodes >= 0 && b.max_alias_nodes <= LUA_MAXINTEGER / 2, 2,
                "max_alias_nodes must be 0 or more");
  luaL_argcheck(L, max_bytes >= 0, 2, "max_bytes must be 0 or more");
  lua_settop(L, 2);
  if ((lua_Integer)len > max_bytes) {
    luaL_pushfail(L);
    lua_pushfstring(L, "yaml: input of %I bytes is over the limit of %I bytes (max_bytes)",
                    (lua_Integer)len, max_bytes);
    lua_pushliteral(L, "toobig");
    return 3;
  }
  b.run = push_run(L, text, len); /* slot 3 */
  lua_newtable(L);                /* slot 4: anchors */
  b.anchors = lua_gettop(L);
  int rc = -1;
  if (b.run)
    rc = build(&b, all);
  else
    lua_pushliteral(L, "yaml: out of memory");
  release_run(lua_touserdata(L, 3));
  if (rc < 0) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

/* yaml.decode(text [, {max_depth=, max_alias_nodes=, max_bytes=}]) -> value | nil, msg [, code] */
static int yaml_decode(lua_State *L)
{
  return decode(L, 0);
}

/* yaml.decode_all(text [, opts]) -> {value...} | nil, msg [, code] (every document) */
static int yaml_decode_all(lua_State *L)
{
  return decode(L, 1);
}

static const luaL_Reg yaml_funcs[] = {
    {"decode", yaml_decode},
    {"decode_all", yaml_decode_all},
    {NULL, NULL},
};

static const luaL_Reg run_metamethods[] = {{"__close", run_gc}, {"__gc", run_gc}, {NULL, NULL}};

/* luaopen_agent_yaml(L) -> the agent.yaml table with yaml.null (the lightuserdata NULL,
 * cjson.null's value); registers the decode box. */
int luaopen_agent_yaml(lua_State *L)
{
  agent_newclass(L, RUN_MT, NULL, run_metamethods);
  luaL_newlib(L, yaml_funcs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  return 1;
}
