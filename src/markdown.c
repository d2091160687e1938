/* agent.markdown: CommonMark (cmark 0.30) for the pipeline. parse() gives the heading tree,
 * the flat heading list and the code blocks with source line numbers; to_html() renders
 * without CMARK_OPT_UNSAFE. The walk is cmark's iterator plus an explicit section stack, so
 * nesting depth never reaches the C stack. */
#include "agent_limits.h"
#include "host.h"
#include "luax.h"
#include "markdown_source.h"
#include "md_arena.h"

#include <stdlib.h>
#include <string.h>

#include <cmark.h>
#include <lauxlib.h>

#define DOC_MT "agent.MarkdownDoc"

/* Raw HTML and dangerous URLs (javascript:, vbscript:, file:, most data:) are suppressed
 * unless CMARK_OPT_UNSAFE is given, which it never is: rule files and model output are
 * untrusted. VALIDATE_UTF8 makes the HTML valid UTF-8 whatever the input. */
#define HTML_OPTIONS (CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8)

/* parse() keeps the source bytes as they are, so code block text stays verbatim. */
#define PARSE_OPTIONS CMARK_OPT_DEFAULT

#define HEADING_LEVELS 6

/* cmark's C memory for one call: the document tree, an iterator over it, rendered HTML. A
 * Lua error (a failed allocation while results are built) must not leak them, so they live
 * in a to-be-closed userdata whose __close frees what is still held the moment the error
 * leaves the call. parse allocates the tree and the iterator in the arena; to_html uses
 * cmark's default allocator (malloc). */
struct md_doc {
  cmark_node *root;
  cmark_iter *iter;
  char *html;
  struct md_arena arena;
};

/* Idempotent: called when a call ends, and again by __close and __gc. */
static void release_doc(struct md_doc *d)
{
  if (d->arena.active) {
    agent_md_arena_end(&d->arena); /* the tree and the iterator with it */
  } else {
    if (d->iter)
      cmark_iter_free(d->iter);
    if (d->root)
      cmark_node_free(d->root);
  }
  free(d->html);
  memset(d, 0, sizeof(*d));
}

/* Parses text into d->root, in d's arena. */
static void parse_in_arena(struct md_doc *d, const char *text, size_t len)
{
  cmark_parser *parser = cmark_parser_new_with_mem(PARSE_OPTIONS, agent_md_arena_begin(&d->arena));
  cmark_parser_feed(parser, text, len);
  d->root = cmark_parser_finish(parser);
  cmark_parser_free(parser);
}

/* __close(doc) and __gc(doc): frees the tree, the iterator and the HTML. */
static int doc_gc(lua_State *L)
{
  release_doc(luaL_checkudata(L, 1, DOC_MT));
  return 0;
}

static struct md_doc *push_doc(lua_State *L)
{
  return agent_pushbox(L, sizeof(struct md_doc), 0, DOC_MT);
}

/* Checks (text [, {max_bytes=}]) and the input cap. Returns the text, or NULL after pushing
 * nil, the message and "toobig". */
static const char *check_input(lua_State *L, size_t *len)
{
  const char *text = luaL_checklstring(L, 1, len);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer max = agent_optfield_int(L, 2, "max_bytes", AGENT_MARKDOWN_INPUT_MAX);
  /* the line index holds 32-bit offsets (markdown_source.h) */
  luaL_argcheck(L, max >= 0 && max <= (lua_Integer)AGENT_MD_OFFSET_MAX, 2,
                "max_bytes must be 0..4294967295");
  lua_settop(L, 2);
  if ((lua_Integer)*len <= max)
    return text;
  luaL_pushfail(L);
  lua_pushfstring(L, "markdown: input of %I bytes is over the limit of %I bytes (max_bytes)",
                  (lua_Integer)*len, max);
  lua_pushliteral(L, "toobig");
  return NULL;
}

/* ==== parse =============================================================================== */

/* One heading whose section is still open (its end is the next heading at its level or
 * above). Its table sits on the Lua stack at `idx`; at most six are open at once. */
struct open_section {
  int level;
  int idx;
  lua_Integer body_line;
  lua_Integer children;
};

struct md_parse {
  lua_State *L;
  cmark_iter *iter;
  const char *text;
  const agent_md_offset *starts; /* line index: agent_md_index_lines */
  lua_Integer nlines;
  int sections, headings, blocks; /* stack indexes of the three result arrays */
  lua_Integer nsections, nheadings, nblocks;
  struct open_section open[HEADING_LEVELS];
  int nopen;
  /* A fence cut short by its container ends on one of two lines; the next code block tells
   * which (see settle_pending). 0 when none is waiting. */
  lua_Integer pending_block, pending_unclosed_end;
};

/* The bytes of line n; an empty line for a number outside the document, should cmark ever
 * count a line this index does not have. */
static void line_bytes(const struct md_parse *p, lua_Integer n, const char **s, size_t *len)
{
  size_t b = 0, e = 0;
  if (n >= 1 && n <= p->nlines)
    agent_md_line(p->text, p->starts, (size_t)n, &b, &e);
  *s = p->text + b;
  *len = e - b;
}

/* cmark's 1-based start column of a node as a 0-based byte offset. */
static size_t start_offset(cmark_node *node)
{
  int col = cmark_node_get_start_column(node);
  return col > 0 ? (size_t)col - 1 : 0;
}

/* cmark's literal or info string, "" where it has none. */
static const char *or_empty(const char *s)
{
  return s ? s : "";
}

static void set_int(lua_State *L, const char *field, lua_Integer v)
{
  lua_pushinteger(L, v);
  lua_setfield(L, -2, field);
}

/* Pushes source lines first..last joined by "\n" (CRLF and CR read as "\n"), or "". */
static void push_lines(const struct md_parse *p, lua_Integer first, lua_Integer last)
{
  lua_State *L = p->L;
  if (first < 1)
    first = 1;
  if (last > p->nlines)
    last = p->nlines;
  if (first > last) {
    lua_pushliteral(L, "");
    return;
  }
  size_t b = p->starts[first - 1], e, ignored;
  agent_md_line(p->text, p->starts, (size_t)last, &ignored, &e);
  if (!memchr(p->text + b, '\r', e - b)) {
    lua_pushlstring(L, p->text + b, e - b); /* the common case: one slice of the source */
    return;
  }
  luaL_Buffer buf;
  luaL_buffinit(L, &buf);
  for (lua_Integer n = first; n <= last; n++) {
    const char *s;
    size_t len;
    line_bytes(p, n, &s, &len);
    luaL_addlstring(&buf, s, len);
    if (n < last)
      luaL_addchar(&buf, '\n');
  }
  luaL_pushresult(&buf);
}

/* Ends the innermost open section at end_line: sets end_line and text, drops it from the
 * stack (it stays reachable from the result arrays). */
static void close_section(struct md_parse *p, lua_Integer end_line)
{
  struct open_section *s = &p->open[--p->nopen];
  lua_State *L = p->L;
  if (end_line < s->body_line - 1)
    end_line = s->body_line - 1; /* a heading's section never ends before its own line */
  set_int(L, "end_line", end_line);
  push_lines(p, s->body_line, end_line);
  lua_setfield(L, -2, "text");
  lua_pop(L, 1);
}

/* The last line of a heading. ATX headings have one line. cmark 0.30 reports a setext
 * heading as ending where the block after it began, so its underline is found in the source:
 * the first underline-like line after the first, before that reported end. */
static lua_Integer heading_last_line(const struct md_parse *p, cmark_node *node, lua_Integer line)
{
  const char *s;
  size_t len;
  size_t col = start_offset(node);
  line_bytes(p, line, &s, &len);
  if (agent_md_is_atx(s, len, col))
    return line;
  size_t quotes = agent_md_count_quotes(s, len, col);
  lua_Integer reported = cmark_node_get_end_line(node);
  for (lua_Integer n = line + 1; n <= reported && n <= p->nlines; n++) {
    line_bytes(p, n, &s, &len);
    if (agent_md_is_setext_underline(s, len, col, quotes))
      return n;
  }
  return reported < line ? line : reported;
}

/* Pushes the plain text of a heading: its text and code spans, line breaks as spaces,
 * inline HTML left out. Walks the heading's inlines with the main iterator, leaving it on
 * the heading's exit; nothing but the buffer touches the stack meanwhile. */
static void push_title(struct md_parse *p, cmark_node *heading)
{
  luaL_Buffer buf;
  luaL_buffinit(p->L, &buf);
  cmark_event_type ev;
  while ((ev = cmark_iter_next(p->iter)) != CMARK_EVENT_DONE) {
    cmark_node *n = cmark_iter_get_node(p->iter);
    if (n == heading)
      break;
    if (ev != CMARK_EVENT_ENTER)
      continue;
    switch (cmark_node_get_type(n)) {
    case CMARK_NODE_TEXT:
    case CMARK_NODE_CODE:
      luaL_addstring(&buf, or_empty(cmark_node_get_literal(n)));
      break;
    case CMARK_NODE_SOFTBREAK:
    case CMARK_NODE_LINEBREAK:
      luaL_addchar(&buf, ' ');
      break;
    default:
      break;
    }
  }
  luaL_pushresult(&buf);
}

static void on_heading(struct md_parse *p, cmark_node *node)
{
  lua_State *L = p->L;
  int level = cmark_node_get_heading_level(node);
  lua_Integer line = cmark_node_get_start_line(node);
  lua_Integer body_line = heading_last_line(p, node, line) + 1;
  while (p->nopen > 0 && p->open[p->nopen - 1].level >= level)
    close_section(p, line - 1);

  lua_createtable(L, 0, 7);
  push_title(p, node);
  lua_setfield(L, -2, "title");
  set_int(L, "level", level);
  set_int(L, "line", line);
  set_int(L, "body_line", body_line);
  lua_newtable(L);
  lua_setfield(L, -2, "children");

  lua_pushvalue(L, -1);
  lua_rawseti(L, p->headings, ++p->nheadings);
  lua_pushvalue(L, -1);
  if (p->nopen > 0) { /* stack: section section */
    struct open_section *parent = &p->open[p->nopen - 1];
    lua_getfield(L, parent->idx, "children");
    lua_insert(L, -2);
    lua_rawseti(L, -2, ++parent->children);
    lua_pop(L, 1);
  } else {
    lua_rawseti(L, p->sections, ++p->nsections);
  }
  p->open[p->nopen++] = (struct open_section){level, lua_gettop(L), body_line, 0};
}

static void set_block_end(struct md_parse *p, lua_Integer block, lua_Integer end_line)
{
  lua_rawgeti(p->L, p->blocks, block);
  set_int(p->L, "end_line", end_line);
  lua_pop(p->L, 1);
}

/* A fence whose container ended right after its content ends either there (unclosed) or on
 * the next line, if that line looks like a closing fence. It is a closing fence unless a new
 * code block opens on it: a line cannot both close one fence and open another. */
static void settle_pending(struct md_parse *p, lua_Integer next_block_line)
{
  if (!p->pending_block)
    return;
  lua_Integer candidate = p->pending_unclosed_end + 1;
  set_block_end(p, p->pending_block,
                next_block_line == candidate ? p->pending_unclosed_end : candidate);
  p->pending_block = 0;
}

/* The last line of a code block. cmark 0.30 reports the line that closed the block, which
 * for indented code (and for a fence its container cut short) is a later line; the literal
 * says how many lines the content had. */
static lua_Integer code_block_end(struct md_parse *p, cmark_node *node, lua_Integer line,
                                  size_t fence, char fence_char, int *pending)
{
  lua_Integer lines = 0, reported = cmark_node_get_end_line(node);
  for (const char *s = or_empty(cmark_node_get_literal(node)); *s; s++)
    lines += *s == '\n';
  *pending = 0;
  if (!fence) /* indented: content from its first line, trailing blank lines dropped */
    return lines > 0 ? line + lines - 1 : line;
  lua_Integer unclosed_end = line + lines;
  if (reported <= unclosed_end || unclosed_end + 1 > p->nlines)
    return unclosed_end;
  const char *s;
  size_t len;
  line_bytes(p, unclosed_end + 1, &s, &len);
  if (!agent_md_is_closing_fence(s, len, fence_char, fence))
    return unclosed_end;
  *pending = 1;
  return unclosed_end + 1;
}

static void on_code_block(struct md_parse *p, cmark_node *node)
{
  lua_State *L = p->L;
  lua_Integer line = cmark_node_get_start_line(node);
  settle_pending(p, line);
  const char *info = or_empty(cmark_node_get_fence_info(node));
  const char *literal = or_empty(cmark_node_get_literal(node));
  const char *s;
  size_t len;
  line_bytes(p, line, &s, &len);
  char fence_char = '`';
  size_t col = start_offset(node);
  size_t fence = agent_md_fence_length(s, len, col, info, literal, &fence_char);
  int pending;
  lua_Integer end_line = code_block_end(p, node, line, fence, fence_char, &pending);

  lua_createtable(L, 0, 6);
  lua_pushstring(L, info);
  lua_setfield(L, -2, "info");
  lua_pushlstring(L, info, strcspn(info, " \t"));
  lua_setfield(L, -2, "lang");
  lua_pushstring(L, literal);
  lua_setfield(L, -2, "text");
  set_int(L, "line", line);
  set_int(L, "end_line", end_line);
  lua_pushlstring(L, fence ? s + col : "", fence); /* "" for indented code */
  lua_setfield(L, -2, "fence");
  lua_rawseti(L, p->blocks, ++p->nblocks);
  if (pending) {
    p->pending_block = p->nblocks;
    p->pending_unclosed_end = end_line - 1;
  }
}

/* Visits every heading and code block in document order. Paragraphs are skipped whole:
 * neither can be inside one. */
static void walk(struct md_parse *p)
{
  cmark_event_type ev;
  while ((ev = cmark_iter_next(p->iter)) != CMARK_EVENT_DONE) {
    if (ev != CMARK_EVENT_ENTER)
      continue;
    cmark_node *node = cmark_iter_get_node(p->iter);
    switch (cmark_node_get_type(node)) {
    case CMARK_NODE_HEADING:
      on_heading(p, node);
      break;
    case CMARK_NODE_CODE_BLOCK:
      on_code_block(p, node);
      break;
    case CMARK_NODE_PARAGRAPH:
      cmark_iter_reset(p->iter, node, CMARK_EVENT_EXIT);
      break;
    default:
      break;
    }
  }
  settle_pending(p, 0);
  while (p->nopen > 0)
    close_section(p, p->nlines);
}

/* markdown.parse(text [, {max_bytes=}]) -> {sections=, headings=, code_blocks=} | nil, msg, code */
static int markdown_parse(lua_State *L)
{
  size_t len;
  const char *text = check_input(L, &len);
  if (!text)
    return 3;
  struct md_doc *d = push_doc(L); /* slot 3 */
  parse_in_arena(d, text, len);
  d->iter = d->root ? cmark_iter_new(d->root) : NULL;
  if (!d->iter)
    return luaL_error(L, "markdown: out of memory");

  struct md_parse p;
  memset(&p, 0, sizeof(p));
  p.L = L;
  p.iter = d->iter;
  p.text = text;
  size_t nlines = agent_md_count_lines(text, len);
  agent_md_offset *starts = lua_newuserdatauv(L, (nlines + 1) * sizeof(*starts), 0); /* slot 4 */
  agent_md_index_lines(text, len, starts, nlines);
  p.starts = starts;
  p.nlines = (lua_Integer)nlines;

  lua_createtable(L, 0, 3); /* slot 5: the result */
  lua_newtable(L);
  p.sections = lua_gettop(L);
  lua_newtable(L);
  p.headings = lua_gettop(L);
  lua_newtable(L);
  p.blocks = lua_gettop(L);
  walk(&p);
  lua_setfield(L, 5, "code_blocks");
  lua_setfield(L, 5, "headings");
  lua_setfield(L, 5, "sections");
  release_doc(d);
  return 1;
}

/* markdown.to_html(text [, {max_bytes=}]) -> html | nil, msg, code */
static int markdown_to_html(lua_State *L)
{
  size_t len;
  const char *text = check_input(L, &len);
  if (!text)
    return 3;
  struct md_doc *d = push_doc(L);
  d->root = cmark_parse_document(text, len, HTML_OPTIONS);
  d->html = d->root ? cmark_render_html(d->root, HTML_OPTIONS) : NULL;
  if (!d->html)
    return luaL_error(L, "markdown: out of memory");
  lua_pushstring(L, d->html);
  release_doc(d);
  return 1;
}

static const luaL_Reg markdown_funcs[] = {
    {"parse", markdown_parse},
    {"to_html", markdown_to_html},
    {NULL, NULL},
};

static const luaL_Reg doc_metamethods[] = {{"__close", doc_gc}, {"__gc", doc_gc}, {NULL, NULL}};

/* luaopen_agent_markdown(L) -> the agent.markdown table; registers the document box. */
int luaopen_agent_markdown(lua_State *L)
{
  agent_newclass(L, DOC_MT, NULL, doc_metamethods);
  luaL_newlib(L, markdown_funcs);
  return 1;
}
