/* Frontmatter of rule files in plain C: the fence splitter (pandoc's rule: `---` on the
 * first line, closed by `---` or `...`), the leniency pre-pass that quotes what real .mdc
 * files leave unquoted, and the comma splitting of `globs` values. Contracts in the header. */
#include "frontmatter.h"

#include "util.h"

#include <string.h>

/* ==== Lines =============================================================================== */

struct line {
  const char *s;
  size_t n; /* without the '\n' and a CR before it */
  int nl;   /* 1 when a '\n' ended the line */
};

static int next_line(const char *text, size_t len, size_t *pos, struct line *ln)
{
  if (*pos >= len)
    return 0;
  const char *s = text + *pos;
  const char *nl = memchr(s, '\n', len - *pos);
  size_t n = nl ? (size_t)(nl - s) : len - *pos;
  *pos += n + (nl != NULL);
  ln->nl = nl != NULL;
  if (n > 0 && s[n - 1] == '\r')
    n--;
  ln->s = s;
  ln->n = n;
  return 1;
}

/* A fence line: the three-character marker, then nothing but blanks. */
static int is_fence(const struct line *ln, const char *marker)
{
  if (ln->n < 3 || memcmp(ln->s, marker, 3) != 0)
    return 0;
  for (size_t i = 3; i < ln->n; i++)
    if (!agent_is_blank(ln->s[i]))
      return 0;
  return 1;
}

int agent_frontmatter_split(const char *text, size_t len, struct agent_frontmatter *fm)
{
  memset(fm, 0, sizeof(*fm));
  fm->body_line = 1;
  size_t pos = agent_bom_length(text, len);
  struct line ln;
  if (!next_line(text, len, &pos, &ln) || !is_fence(&ln, "---"))
    return 0; /* no frontmatter: all of it is body */
  fm->found = 1;
  fm->yaml_off = pos;
  fm->yaml_line = 2;
  long lineno = 1;
  for (size_t start = pos; next_line(text, len, &pos, &ln); start = pos) {
    lineno++;
    if (is_fence(&ln, "---") || is_fence(&ln, "...")) {
      fm->yaml_len = start - fm->yaml_off;
      fm->body_off = pos;
      fm->body_line = lineno + 1;
      return 0;
    }
  }
  return -1;
}

/* ==== Scanning YAML-ish values ============================================================ */

/* With s[0] a quote: the index just past the closing quote, or 0 when it does not close on
 * this line. Double quotes take backslash escapes; single quotes double themselves. */
static size_t quoted_end(const char *s, size_t n)
{
  char q = s[0];
  for (size_t i = 1; i < n; i++) {
    if (q == '"' && s[i] == '\\') {
      i++;
    } else if (s[i] == q) {
      if (q == '\'' && i + 1 < n && s[i + 1] == '\'')
        i++;
      else
        return i + 1;
    }
  }
  return 0;
}

/* Where a value's comment starts, or n: a '#' after a blank, outside quoted scalars (which
 * start a value or follow one of `[{,:`). */
static size_t comment_start(const char *s, size_t n)
{
  char prev = 0; /* the last non-blank character seen */
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if ((c == '"' || c == '\'') && (prev == 0 || memchr("[{,:", prev, 4))) {
      size_t e = quoted_end(s + i, n - i);
      if (!e)
        return n;
      i += e - 1;
      prev = c;
      continue;
    }
    if (c == '#' && i > 0 && agent_is_blank(s[i - 1]))
      return i;
    if (!agent_is_blank(c))
      prev = c;
  }
  return n;
}

/* One item of a comma-separated list starting at s[*pos]: commas inside `{}`, `[]` or a
 * quoted item, or escaped with a backslash, do not split. Sets the trimmed item and moves
 * *pos past its comma. 0 when the list is done (*pos > n). */
static int split_item(const char *s, size_t n, size_t *pos, size_t *off, size_t *len)
{
  size_t i = *pos;
  if (i > n)
    return 0;
  while (i < n && agent_is_blank(s[i]))
    i++;
  size_t start = i, depth = 0;
  while (i < n) {
    char c = s[i];
    size_t e = (c == '"' || c == '\'') && i == start ? quoted_end(s + i, n - i) : 0;
    if (e != 0) {
      i += e;
      continue;
    }
    if (c == '\\' && i + 1 < n) {
      i += 2;
      continue;
    }
    if (c == '{' || c == '[')
      depth++;
    else if ((c == '}' || c == ']') && depth > 0)
      depth--;
    else if (c == ',' && depth == 0)
      break;
    i++;
  }
  size_t end = i;
  while (end > start && (agent_is_blank(s[end - 1]) || s[end - 1] == '\r' || s[end - 1] == '\n'))
    end--;
  *off = start;
  *len = end - start;
  *pos = i + 1;
  return 1;
}

int agent_frontmatter_next_glob(const char *s, size_t len, size_t *pos, size_t *off, size_t *n)
{
  size_t o, l;
  while (split_item(s, len, pos, &o, &l)) {
    if (l >= 2 && (s[o] == '"' || s[o] == '\'') && s[o + l - 1] == s[o]) {
      o++; /* a glob that kept its quotes would never match anything */
      l -= 2;
      while (l > 0 && agent_is_blank(s[o])) {
        o++;
        l--;
      }
      while (l > 0 && agent_is_blank(s[o + l - 1]))
        l--;
    }
    if (l > 0) {
      *off = o;
      *n = l;
      return 1;
    }
  }
  return 0;
}

/* ==== The leniency pre-pass =============================================================== */

struct out {
  char *p; /* NULL when only measuring */
  size_t cap, n;
};

/* Appends s[0..n). A CR left inside a line (one not before a LF) becomes a space: libyaml
 * would take it for a line break, and then its line numbers would no longer be ours. */
static void put(struct out *o, const char *s, size_t n)
{
  if (o->p && o->n < o->cap) {
    size_t k = n < o->cap - o->n ? n : o->cap - o->n;
    char *d = o->p + o->n;
    memcpy(d, s, k);
    for (char *cr = memchr(d, '\r', k); cr; cr = memchr(cr, '\r', k - (size_t)(cr - d)))
      *cr = ' ';
  }
  o->n += n;
}

/* Writes s as a single-quoted YAML scalar: the one quoting with no escapes but `''`. */
static void put_quoted(struct out *o, const char *s, size_t n)
{
  put(o, "'", 1);
  for (size_t i = 0, start = 0; i <= n; i++) {
    if (i == n || s[i] == '\'') {
      put(o, s + start, i - start);
      if (i < n)
        put(o, "''", 2);
      start = i + 1;
    }
  }
  put(o, "'", 1);
}

/* A quoted scalar with more text after it (`"a", "b"`): strict YAML stops at the quote. */
static int quoted_then_more(const char *s, size_t n)
{
  size_t e = quoted_end(s, n);
  return e != 0 && e < n;
}

static int has_mapping_colon(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (s[i] == ':' && (i + 1 == n || agent_is_blank(s[i + 1])))
      return 1;
  return 0;
}

/* Whether a `[`/`{` value is really a glob: unclosed, or holding a `*` (an alias in YAML). */
static int bracket_is_glob(const char *s, size_t n)
{
  char closer = s[0] == '[' ? ']' : '}';
  return s[n - 1] != closer || memchr(s, '*', n) != NULL;
}

/* Whether a value (n > 0, trimmed, without its comment) must be quoted. `top`: the value of
 * a top-level key, where `a: b` inside the value is an error rather than a nested map. */
static int value_needs_quote(const char *s, size_t n, int top)
{
  char c = s[0];
  if (c == '"' || c == '\'')
    return quoted_then_more(s, n);
  if (memchr("*@`%,]}", c, 7))
    return 1; /* characters no plain scalar may start with */
  if (c == '{')
    return bracket_is_glob(s, n);
  if (c == '[')
    return s[n - 1] != ']'; /* a closed one is a flow sequence: see put_flow */
  return top && has_mapping_colon(s, n);
}

/* An item of a one-line flow sequence: besides bad starts, brackets or braces inside an
 * item are glob syntax, never YAML. */
static int item_needs_quote(const char *s, size_t n)
{
  if (n == 0)
    return 0;
  char c = s[0];
  if (c == '"' || c == '\'')
    return quoted_then_more(s, n);
  if (memchr("*@`%]}", c, 6))
    return 1;
  if (c == '[' || c == '{')
    return bracket_is_glob(s, n);
  return memchr(s, '[', n) || memchr(s, ']', n) || memchr(s, '{', n) || memchr(s, '}', n);
}

/* Rewrites `[a, b]` (s[0] '[' and s[n-1] ']') quoting the items that need it. Returns 0 and
 * writes nothing when no item does, so well-formed sequences keep their exact text. */
static int put_flow(struct out *o, const char *s, size_t n)
{
  const char *in = s + 1;
  size_t inner = n - 2, pos = 0, off, len;
  int needed = 0;
  while (!needed && split_item(in, inner, &pos, &off, &len))
    needed = item_needs_quote(in + off, len);
  if (!needed)
    return 0;
  put(o, "[", 1);
  int first = 1;
  for (pos = 0; split_item(in, inner, &pos, &off, &len); first = 0) {
    if (!first)
      put(o, ", ", 2);
    if (item_needs_quote(in + off, len))
      put_quoted(o, in + off, len);
    else
      put(o, in + off, len);
  }
  put(o, "]", 1);
  return 1;
}

/* Writes one value (the rest of a line after `key: ` or `- `), quoted when it needs it; a
 * trailing comment stays outside the quotes. */
static void put_value(struct out *o, const char *s, size_t n, int top)
{
  size_t end = comment_start(s, n);
  while (end > 0 && agent_is_blank(s[end - 1]))
    end--;
  if (end == 0) {
    put(o, s, n);
    return;
  }
  int flow = end >= 2 && s[0] == '[' && s[end - 1] == ']';
  if (!flow || !put_flow(o, s, end)) {
    if (value_needs_quote(s, end, top))
      put_quoted(o, s, end);
    else
      put(o, s, end);
  }
  put(o, s + end, n - end);
}

/* The plain key of a top-level line (`globs` in `globs: x`): its length, with *value set to
 * where the value starts; 0 when the line is not `key:` at column 0. */
static size_t top_key(const char *s, size_t n, size_t *value)
{
  if (n == 0 || memchr(" \t#-\"'[]{}&*!|>%@`?,:", s[0], 21))
    return 0;
  for (size_t i = 1; i < n; i++) {
    if (s[i] == ':' && (i + 1 == n || agent_is_blank(s[i + 1]))) {
      size_t v = i + 1;
      while (v < n && agent_is_blank(s[v]))
        v++;
      *value = v;
      return i;
    }
    if (s[i] == '#' && agent_is_blank(s[i - 1]))
      return 0; /* a comment before any colon */
  }
  return 0;
}

static size_t indent_of(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && agent_is_blank(s[i]))
    i++;
  return i;
}

/* A block sequence entry (`  - value`): the offset of its value, or 0. */
static size_t seq_value(const char *s, size_t n)
{
  size_t i = indent_of(s, n);
  if (i + 1 >= n || s[i] != '-' || !agent_is_blank(s[i + 1]))
    return 0;
  size_t v = indent_of(s + i + 1, n - i - 1) + i + 1;
  return v < n ? v : 0;
}

struct prepass {
  struct out o;
  long block_indent; /* inside a block scalar owned by a line of this indent; -1 outside */
};

static void prepass_line(struct prepass *pp, const char *s, size_t n)
{
  size_t ind = indent_of(s, n), v;
  if (pp->block_indent >= 0) {
    if (ind == n || (long)ind > pp->block_indent) {
      put(&pp->o, s, n); /* block scalar text is literal: never touch it */
      return;
    }
    pp->block_indent = -1;
  }
  int top = top_key(s, n, &v) > 0;
  if (!top)
    v = seq_value(s, n);
  if (!top && v == 0) {
    put(&pp->o, s, n);
    return;
  }
  put(&pp->o, s, v);
  if (v < n && (s[v] == '|' || s[v] == '>')) {
    pp->block_indent = (long)ind;
    put(&pp->o, s + v, n - v);
    return;
  }
  put_value(&pp->o, s + v, n - v, top);
}

size_t agent_frontmatter_lenient(const char *yaml, size_t len, char *out, size_t cap)
{
  struct prepass pp = {{out, cap, 0}, -1};
  size_t pos = 0;
  struct line ln;
  while (next_line(yaml, len, &pos, &ln)) {
    prepass_line(&pp, ln.s, ln.n);
    if (ln.nl)
      put(&pp.o, "\n", 1);
  }
  return pp.o.n;
}

long agent_frontmatter_key_line(const char *yaml, size_t len, const char *key)
{
  size_t pos = 0, klen = strlen(key), v;
  struct line ln;
  for (long lineno = 1; next_line(yaml, len, &pos, &ln); lineno++)
    if (top_key(ln.s, ln.n, &v) == klen && memcmp(ln.s, key, klen) == 0)
      return lineno;
  return 0;
}
