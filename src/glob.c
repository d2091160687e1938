/* Glob patterns in plain C: brace expansion, a compiler from pattern text to a per-segment
 * token program with literal hints (prefix, suffix, extension), a matcher that keeps one
 * backtrack point per level instead of recursing, and the path index rules.select uses to
 * try each glob against only the paths that could match it. */
#include "glob.h"

#include "agent_limits.h"
#include "charclass.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== The program ==========================================================================
 * A glob is a list of alternatives (its brace expansion); an alternative a list of segments
 * (the pattern split at `/`); a segment either `**` or a list of tokens. Literal bytes live
 * in one pool and class ranges in one array, referenced by offset, so a program is five
 * allocations however long the pattern. */

enum tok_kind { TOK_LIT, TOK_ANY, TOK_STAR, TOK_CLASS };

struct tok {
  unsigned char kind;
  unsigned char negate; /* TOK_CLASS: [!...] */
  size_t off, len;      /* TOK_LIT: pool bytes; TOK_CLASS: ranges */
};

struct range {
  uint32_t lo, hi; /* code points, inclusive */
};

struct seg {
  size_t tok, ntok;
  int globstar;
};

struct span {
  size_t off, len; /* bytes in the pool */
};

struct alt {
  size_t seg, nseg;
  struct span prefix;      /* every matching path starts with these bytes */
  struct span suffix;      /* ... ends with these (within the basename) */
  struct span needle;      /* ... contains these somewhere: a cheap memmem test */
  struct span ext;         /* ... has this extension (after the basename's last '.') */
  struct span base_prefix; /* ... has a basename starting with these (`**` + `/test_*.py`) */
  int has_ext;
  int exact_base; /* the suffix is the whole basename */
};

struct agent_glob {
  struct tok *toks;
  size_t ntok, cap_tok;
  struct range *ranges;
  size_t nrange, cap_range;
  struct seg *segs;
  size_t nseg, cap_seg;
  struct alt *alts;
  size_t nalt, cap_alt;
  char *pool;
  size_t npool, cap_pool;
};

/* AGENT_RESERVE (which cannot overflow) with its failure as the compiler's status code. */
#define RESERVE(arr, cap, need) (AGENT_RESERVE(arr, cap, need) ? AGENT_GLOB_ENOMEM : AGENT_GLOB_OK)

static int push_tok(struct agent_glob *g, enum tok_kind kind, size_t off, size_t len)
{
  if (RESERVE(g->toks, g->cap_tok, g->ntok + 1))
    return AGENT_GLOB_ENOMEM;
  g->toks[g->ntok++] = (struct tok){(unsigned char)kind, 0, off, len};
  return AGENT_GLOB_OK;
}

static int push_range(struct agent_glob *g, uint32_t lo, uint32_t hi)
{
  if (RESERVE(g->ranges, g->cap_range, g->nrange + 1))
    return AGENT_GLOB_ENOMEM;
  g->ranges[g->nrange++] = (struct range){lo, hi};
  return AGENT_GLOB_OK;
}

static int push_seg(struct agent_glob *g, size_t tok, size_t ntok, int globstar)
{
  if (RESERVE(g->segs, g->cap_seg, g->nseg + 1))
    return AGENT_GLOB_ENOMEM;
  g->segs[g->nseg++] = (struct seg){tok, ntok, globstar};
  return AGENT_GLOB_OK;
}

/* Appends len bytes from src (outside the pool) to the pool; *out, if given, locates them. */
static int pool_append(struct agent_glob *g, const char *src, size_t len, struct span *out)
{
  if (RESERVE(g->pool, g->cap_pool, g->npool + len + 1))
    return AGENT_GLOB_ENOMEM;
  if (len)
    memcpy(g->pool + g->npool, src, len);
  if (out)
    *out = (struct span){g->npool, len};
  g->npool += len;
  return AGENT_GLOB_OK;
}

/* Appends a copy of pool bytes [off, off+len): by offset, since the pool may move. */
static int pool_copy(struct agent_glob *g, size_t off, size_t len)
{
  if (RESERVE(g->pool, g->cap_pool, g->npool + len + 1))
    return AGENT_GLOB_ENOMEM;
  memcpy(g->pool + g->npool, g->pool + off, len);
  g->npool += len;
  return AGENT_GLOB_OK;
}

void agent_glob_free(struct agent_glob *g)
{
  if (!g)
    return;
  free(g->toks);
  free(g->ranges);
  free(g->segs);
  free(g->alts);
  free(g->pool);
  free(g);
}

size_t agent_glob_alternatives(const struct agent_glob *g)
{
  return g->nalt;
}

/* ==== UTF-8 and errors ==================================================================== */

/* Decodes one character leniently: an invalid or truncated sequence counts as one byte,
 * so any byte string can be matched and `?` always makes progress. */
static uint32_t utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
  unsigned c = s[0];
  size_t need = c >= 0xF0 && c < 0xF8   ? 3
                : c >= 0xE0 && c < 0xF0 ? 2
                : c >= 0xC2 && c < 0xE0 ? 1
                                        : 0;
  if (c < 0x80 || need == 0 || need >= n) {
    *len = 1;
    return c;
  }
  uint32_t cp = c & (0x3Fu >> need);
  for (size_t i = 1; i <= need; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *len = 1;
      return c;
    }
    cp = cp << 6 | (s[i] & 0x3Fu);
  }
  *len = need + 1;
  return cp;
}

struct errbuf {
  char *buf;
  size_t size;
};

__attribute__((format(printf, 2, 3))) static int fail(struct errbuf *e, const char *fmt, ...)
{
  if (e->size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->size, fmt, ap);
    va_end(ap);
  }
  return AGENT_GLOB_EPATTERN;
}

/* ==== Character classes =================================================================== */

/* The [:name:] classes come from charclass.c, the table ignore.c reads too: ASCII only, as in
 * the C locale (rule globs name files, not prose). */

/* One member character at p[*j] (possibly escaped); advances *j past it. */
static int class_char(const char *p, size_t n, size_t *j, uint32_t *cp, struct errbuf *e)
{
  if (p[*j] == '\\' && ++*j >= n)
    return fail(e, "unclosed '['");
  size_t len;
  *cp = utf8_decode((const unsigned char *)p + *j, n - *j, &len);
  *j += len;
  return AGENT_GLOB_OK;
}

/* A `[:name:]` at p[j]; *end is set past it. Returns 1 when found, 0 when p[j] is an
 * ordinary '[', or an error for an unknown name. Adds the ranges when g is non-NULL. */
static int posix_class(struct agent_glob *g, const char *p, size_t n, size_t j, size_t *end,
                       struct errbuf *e)
{
  if (j + 1 >= n || p[j + 1] != ':')
    return 0;
  for (size_t k = j + 2; k + 1 < n; k++) {
    if (p[k] == ':' && p[k + 1] == ']') {
      size_t nlen = k - (j + 2);
      const struct agent_charclass *pc = agent_charclass_find(p + j + 2, nlen);
      if (!pc)
        return fail(e, "unknown character class '[:%.*s:]'", (int)(nlen > 32 ? 32 : nlen),
                    p + j + 2);
      for (size_t r = 0; g && r < pc->n; r++)
        if (push_range(g, pc->r[r].lo, pc->r[r].hi))
          return AGENT_GLOB_ENOMEM;
      *end = k + 2;
      return 1;
    }
    if (p[k] == ']')
      break;
  }
  return 0;
}

/* Parses the class starting at p[i] == '['; *end is set past its ']'. With g non-NULL the
 * ranges are added and *tok describes them; with g NULL it only finds the end, which is how
 * brace and segment scanning step over classes (a '/' or '{' inside one is a member). */
static int parse_class(struct agent_glob *g, const char *p, size_t n, size_t i, size_t *end,
                       struct tok *tok, struct errbuf *e)
{
  size_t j = i + 1;
  int negate = j < n && (p[j] == '!' || p[j] == '^');
  j += (size_t)negate;
  size_t first_range = g ? g->nrange : 0;
  for (int first = 1;; first = 0) {
    if (j >= n)
      return fail(e, "unclosed '['");
    if (p[j] == ']' && !first)
      break;
    if (p[j] == '[') {
      int r = posix_class(g, p, n, j, &j, e);
      if (r < 0)
        return r;
      if (r == 1)
        continue;
    }
    uint32_t lo, hi;
    if (class_char(p, n, &j, &lo, e))
      return AGENT_GLOB_EPATTERN;
    hi = lo;
    if (j + 1 < n && p[j] == '-' && p[j + 1] != ']') {
      j++;
      if (class_char(p, n, &j, &hi, e))
        return AGENT_GLOB_EPATTERN;
      if (hi < lo)
        return fail(e, "reversed range in '[...]'");
    }
    if (g && push_range(g, lo, hi))
      return AGENT_GLOB_ENOMEM;
  }
  *end = j + 1;
  if (tok)
    *tok = (struct tok){TOK_CLASS, (unsigned char)negate, first_range,
                        g ? g->nrange - first_range : 0};
  return AGENT_GLOB_OK;
}

/* The end of the atom at p[i]: an escape pair, a whole class, or one byte. */
static int atom_end(const char *p, size_t n, size_t i, size_t *end, struct errbuf *e)
{
  if (p[i] == '\\') {
    if (i + 1 >= n)
      return fail(e, "trailing backslash");
    *end = i + 2;
    return AGENT_GLOB_OK;
  }
  if (p[i] == '[')
    return parse_class(NULL, p, n, i, end, NULL, e);
  *end = i + 1;
  return AGENT_GLOB_OK;
}

/* A separator is '/' or an escaped one: a segment can never contain '/', so `\/` has no
 * other meaning it could keep. */
static int is_sep(const char *p, size_t i, size_t end)
{
  return (end == i + 1 && p[i] == '/') || (end == i + 2 && p[i + 1] == '/');
}

/* ==== Brace expansion =====================================================================
 * First a pass that checks the braces pair up and drops the braces of groups with a single
 * alternative (`{a}` is `a`); then every remaining group has two or more alternatives, so
 * each expansion step adds at least one string and the cap on alternatives bounds the
 * work as well as the result. Expansion takes the first outermost group of a string and
 * replaces the string with one per alternative, depth first, keeping the written order. */

struct strbuf {
  char *p;
  size_t n;
};

struct strlist {
  struct strbuf *s;
  size_t n, cap;
};

static void strlist_free(struct strlist *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->s[i].p);
  free(l->s);
  *l = (struct strlist){NULL, 0, 0};
}

/* Appends the concatenation a + b + c (any may be empty) to l. */
static int strlist_push3(struct strlist *l, const char *a, size_t na, const char *b, size_t nb,
                         const char *c, size_t nc)
{
  if (RESERVE(l->s, l->cap, l->n + 1))
    return AGENT_GLOB_ENOMEM;
  char *p = malloc(na + nb + nc + 1);
  if (!p)
    return AGENT_GLOB_ENOMEM;
  memcpy(p, a, na);
  memcpy(p + na, b, nb);
  memcpy(p + na + nb, c, nc);
  l->s[l->n++] = (struct strbuf){p, na + nb + nc};
  return AGENT_GLOB_OK;
}

/* Checks brace pairing and writes p without the braces of single-alternative groups into
 * out (n bytes; the caller allocates). *nout is the length written. */
static int normalise_braces(const char *p, size_t n, char *out, size_t *nout, struct errbuf *e)
{
  /* per open brace: its position and whether a comma was seen at its level; per byte:
   * whether it is kept. One block, as depth never exceeds n. */
  size_t *open = malloc((n + 1) * (sizeof(*open) + 2));
  if (!open)
    return AGENT_GLOB_ENOMEM;
  unsigned char *has_comma = (unsigned char *)(open + n + 1);
  unsigned char *keep = has_comma + n + 1;
  memset(keep, 1, n + 1);
  size_t depth = 0;
  int rc = AGENT_GLOB_OK;
  for (size_t i = 0, end; i < n && rc == AGENT_GLOB_OK; i = end) {
    rc = atom_end(p, n, i, &end, e);
    if (rc || end != i + 1)
      continue;
    if (p[i] == '{') {
      open[depth] = i;
      has_comma[depth++] = 0;
    } else if (p[i] == ',' && depth) {
      has_comma[depth - 1] = 1;
    } else if (p[i] == '}') {
      if (!depth)
        rc = fail(e, "unmatched '}'");
      else if (!has_comma[--depth])
        keep[open[depth]] = keep[i] = 0;
    }
  }
  if (rc == AGENT_GLOB_OK && depth)
    rc = fail(e, "unclosed '{'");
  size_t w = 0;
  for (size_t i = 0; rc == AGENT_GLOB_OK && i < n; i++)
    if (keep[i])
      out[w++] = p[i];
  *nout = w;
  free(open);
  return rc;
}

/* Finds the first outermost group of s: its braces at *lb, *rb. 0 when there is none. */
static int first_group(const char *s, size_t n, size_t *lb, size_t *rb)
{
  size_t depth = 0;
  struct errbuf none = {NULL, 0};
  for (size_t i = 0, end; i < n; i = end) {
    if (atom_end(s, n, i, &end, &none) || end != i + 1)
      continue; /* already validated; classes and escapes are opaque */
    if (s[i] == '{' && depth++ == 0)
      *lb = i;
    else if (s[i] == '}' && --depth == 0) {
      *rb = i;
      return 1;
    }
  }
  return 0;
}

/* The top-level commas of the group s->p[lb..rb], as offsets in cuts (which may be NULL, to
 * count them only). Returns how many there are. */
static size_t group_commas(const struct strbuf *s, size_t lb, size_t rb, size_t *cuts)
{
  size_t ncut = 0, depth = 0;
  struct errbuf none = {NULL, 0};
  for (size_t i = lb + 1, end; i < rb; i = end) {
    if (atom_end(s->p, s->n, i, &end, &none) || end != i + 1)
      continue;
    if (s->p[i] == '{')
      depth++;
    else if (s->p[i] == '}')
      depth--;
    else if (s->p[i] == ',' && depth == 0) {
      if (cuts)
        cuts[ncut] = i;
      ncut++;
    }
  }
  return ncut;
}

/* Replaces `s` (taken off the work stack) by one string per alternative of its first group,
 * pushed in reverse so they pop in written order. AGENT_GLOB_EPATTERN, for the caller to
 * explain, when the group alone has more than max_alts alternatives. */
static int expand_group(const struct strbuf *s, size_t lb, size_t rb, size_t max_alts,
                        struct strlist *work)
{
  size_t ncomma = group_commas(s, lb, rb, NULL);
  if (ncomma >= max_alts)
    return AGENT_GLOB_EPATTERN;
  size_t *cuts = malloc((ncomma + 2) * sizeof(*cuts)); /* lb, the commas, rb */
  if (!cuts)
    return AGENT_GLOB_ENOMEM;
  cuts[0] = lb;
  group_commas(s, lb, rb, cuts + 1);
  cuts[ncomma + 1] = rb;
  int rc = AGENT_GLOB_OK;
  for (size_t k = ncomma + 1; k-- > 0 && rc == AGENT_GLOB_OK;) {
    size_t from = cuts[k] + 1, to = cuts[k + 1];
    rc = strlist_push3(work, s->p, lb, s->p + from, to - from, s->p + rb + 1, s->n - rb - 1);
  }
  free(cuts);
  return rc;
}

static int brace_cap_error(struct errbuf *e, size_t max_alts)
{
  return fail(e, "braces expand to more than %zu alternatives", max_alts);
}

/* Expands p into *out: every brace-free alternative, in written order, at most max_alts. */
static int expand_braces(const char *p, size_t n, size_t max_alts, struct strlist *out,
                         struct errbuf *e)
{
  struct strlist work = {NULL, 0, 0};
  char *norm = malloc(n + 1);
  if (!norm)
    return AGENT_GLOB_ENOMEM;
  size_t nn;
  int rc = normalise_braces(p, n, norm, &nn, e);
  if (rc == AGENT_GLOB_OK)
    rc = strlist_push3(&work, norm, nn, "", 0, "", 0);
  free(norm);
  while (rc == AGENT_GLOB_OK && work.n > 0) {
    struct strbuf s = work.s[--work.n];
    size_t lb = 0, rb = 0;
    if (!first_group(s.p, s.n, &lb, &rb)) {
      rc = RESERVE(out->s, out->cap, out->n + 1);
      if (rc == AGENT_GLOB_OK)
        out->s[out->n++] = s;
      else
        free(s.p);
      continue;
    }
    rc = expand_group(&s, lb, rb, max_alts, &work);
    free(s.p);
    if (rc == AGENT_GLOB_EPATTERN || (rc == AGENT_GLOB_OK && work.n + out->n > max_alts))
      rc = brace_cap_error(e, max_alts);
  }
  strlist_free(&work);
  return rc;
}

/* ==== Compiling one alternative =========================================================== */

/* Appends one literal byte, extending the segment's last token when it is a literal that
 * ends the pool (always true while a segment is being compiled). */
static int add_lit(struct agent_glob *g, size_t seg_tok, char c)
{
  struct tok *last = g->ntok > seg_tok ? &g->toks[g->ntok - 1] : NULL;
  int extend = last && last->kind == TOK_LIT && last->off + last->len == g->npool;
  if (pool_append(g, &c, 1, NULL))
    return AGENT_GLOB_ENOMEM;
  if (extend) {
    g->toks[g->ntok - 1].len++;
    return AGENT_GLOB_OK;
  }
  return push_tok(g, TOK_LIT, g->npool - 1, 1);
}

/* Compiles the segment text p[i..end) (no separators) into tokens and one segment. */
static int compile_segment(struct agent_glob *g, const char *p, size_t i, size_t end,
                           struct errbuf *e)
{
  if (end - i == 2 && p[i] == '*' && p[i + 1] == '*')
    return push_seg(g, g->ntok, 0, 1);
  size_t first = g->ntok;
  int rc = AGENT_GLOB_OK;
  while (i < end && rc == AGENT_GLOB_OK) {
    char c = p[i];
    if (c == '*') {
      /* `**` inside a segment is just `*`: collapse runs of stars */
      if (g->ntok == first || g->toks[g->ntok - 1].kind != TOK_STAR)
        rc = push_tok(g, TOK_STAR, 0, 0);
      i++;
    } else if (c == '?') {
      rc = push_tok(g, TOK_ANY, 0, 0);
      i++;
    } else if (c == '[') {
      struct tok t;
      rc = parse_class(g, p, end, i, &i, &t, e);
      if (rc == AGENT_GLOB_OK)
        rc = push_tok(g, TOK_CLASS, t.off, t.len);
      if (rc == AGENT_GLOB_OK)
        g->toks[g->ntok - 1].negate = t.negate;
    } else if (c == '\\') {
      if (i + 1 >= end)
        return fail(e, "trailing backslash");
      rc = add_lit(g, first, p[i + 1]);
      i += 2;
    } else {
      rc = add_lit(g, first, c);
      i++;
    }
  }
  if (rc)
    return rc;
  return push_seg(g, first, g->ntok - first, 0);
}

static int span_is(const char *p, struct span s, const char *text)
{
  return s.len == strlen(text) && memcmp(p + s.off, text, s.len) == 0;
}

/* Splits p at separators into spans (the caller sizes `out` for n + 1). */
static int split_segments(const char *p, size_t n, struct span *out, size_t *nout, struct errbuf *e)
{
  size_t count = 0, start = 0;
  for (size_t i = 0, end; i < n; i = end) {
    int rc = atom_end(p, n, i, &end, e);
    if (rc)
      return rc;
    if (is_sep(p, i, end)) {
      out[count++] = (struct span){start, i - start};
      start = end;
    }
  }
  out[count++] = (struct span){start, n - start};
  *nout = count;
  return AGENT_GLOB_OK;
}

static int last_is_globstar(const struct agent_glob *g, size_t first_seg)
{
  return g->nseg > first_seg && g->segs[g->nseg - 1].globstar;
}

/* Emits the segments of one alternative: a leading globstar in basename mode, the kept
 * spans, the globstar a trailing slash means ("everything below"), and, when the pattern
 * ends in a globstar, a `*` segment before it, so that a final `**` after `src/` needs at
 * least one segment below src/ (as in .gitignore). */
static int emit_segments(struct agent_glob *g, const char *p, const struct span *sp, size_t nsp,
                         struct errbuf *e)
{
  size_t first = 0, last = nsp;
  int anchored = 0, dir_tail = 0;
  while (first < last && (sp[first].len == 0 || span_is(p, sp[first], "."))) {
    anchored = 1; /* a leading "/" or "./" */
    first++;
  }
  while (last > first && sp[last - 1].len == 0) {
    dir_tail = 1;
    last--;
  }
  size_t kept = 0;
  for (size_t k = first; k < last; k++)
    kept += sp[k].len > 0 && !span_is(p, sp[k], ".");
  if (kept == 0)
    return fail(e, "empty pattern");

  size_t seg0 = g->nseg;
  int rc = AGENT_GLOB_OK;
  if (!anchored && kept == 1)
    rc = push_seg(g, g->ntok, 0, 1); /* basename at any depth */
  for (size_t k = first; k < last && rc == AGENT_GLOB_OK; k++) {
    if (sp[k].len == 0 || span_is(p, sp[k], "."))
      continue; /* "a//b" and "a/./b" are "a/b" */
    size_t before = g->nseg;
    rc = compile_segment(g, p, sp[k].off, sp[k].off + sp[k].len, e);
    if (rc == AGENT_GLOB_OK && g->segs[before].globstar && before > seg0 &&
        g->segs[before - 1].globstar)
      g->nseg--; /* a globstar after a globstar adds nothing */
  }
  if (rc == AGENT_GLOB_OK && dir_tail && !last_is_globstar(g, seg0))
    rc = push_seg(g, g->ntok, 0, 1);
  if (rc == AGENT_GLOB_OK && last_is_globstar(g, seg0)) {
    g->nseg--;
    rc = push_tok(g, TOK_STAR, 0, 0);
    if (rc == AGENT_GLOB_OK)
      rc = push_seg(g, g->ntok - 1, 1, 0);
    if (rc == AGENT_GLOB_OK)
      rc = push_seg(g, g->ntok, 0, 1);
  }
  return rc;
}

static int is_lit_seg(const struct agent_glob *g, const struct seg *s)
{
  return !s->globstar && s->ntok == 1 && g->toks[s->tok].kind == TOK_LIT;
}

/* Derives an alternative's literal hints from its segments: the prefix every match starts
 * with, the suffix it ends with, the extension that suffix implies, the literal its basename
 * starts with, and the longest other literal for a memmem pre-test. */
static int derive_hints(struct agent_glob *g, struct alt *a)
{
  size_t pstart = g->npool, covered = g->segs[a->seg].tok; /* tokens the prefix includes */
  for (size_t k = 0; k < a->nseg; k++) {
    const struct seg *s = &g->segs[a->seg + k];
    if (s->globstar)
      break;
    const struct tok *t = &g->toks[s->tok];
    if (s->ntok > 0 && t->kind == TOK_LIT) {
      if (pool_copy(g, t->off, t->len))
        return AGENT_GLOB_ENOMEM;
      covered = s->tok + 1;
    }
    if (!is_lit_seg(g, s))
      break;
    if (k + 1 < a->nseg && pool_append(g, "/", 1, NULL))
      return AGENT_GLOB_ENOMEM;
  }
  a->prefix = (struct span){pstart, g->npool - pstart};

  const struct seg *ls = &g->segs[a->seg + a->nseg - 1];
  size_t suffix_tok = (size_t)-1;
  if (!ls->globstar && ls->ntok > 0 && g->toks[ls->tok + ls->ntok - 1].kind == TOK_LIT) {
    suffix_tok = ls->tok + ls->ntok - 1;
    a->suffix = (struct span){g->toks[suffix_tok].off, g->toks[suffix_tok].len};
    a->exact_base = ls->ntok == 1;
    const char *dot = NULL;
    for (size_t i = 0; i < a->suffix.len; i++)
      if (g->pool[a->suffix.off + i] == '.')
        dot = g->pool + a->suffix.off + i;
    if (dot) {
      size_t at = (size_t)(dot - g->pool) + 1;
      a->ext = (struct span){at, a->suffix.off + a->suffix.len - at};
      a->has_ext = 1;
    }
  }
  /* a basename that is one literal is exact_base's case; here the literal leads a wildcard */
  if (!ls->globstar && ls->ntok > 1 && g->toks[ls->tok].kind == TOK_LIT)
    a->base_prefix = (struct span){g->toks[ls->tok].off, g->toks[ls->tok].len};

  const struct seg *end_seg = &g->segs[a->seg + a->nseg - 1];
  for (size_t t = covered; t < end_seg->tok + end_seg->ntok; t++)
    if (t != suffix_tok && g->toks[t].kind == TOK_LIT && g->toks[t].len > a->needle.len)
      a->needle = (struct span){g->toks[t].off, g->toks[t].len};
  return AGENT_GLOB_OK;
}

static int compile_alt(struct agent_glob *g, const char *p, size_t n, struct errbuf *e)
{
  struct span *sp = malloc((n + 1) * sizeof(*sp));
  if (!sp)
    return AGENT_GLOB_ENOMEM;
  size_t nsp = 0, seg0 = g->nseg;
  int rc = split_segments(p, n, sp, &nsp, e);
  if (rc == AGENT_GLOB_OK)
    rc = emit_segments(g, p, sp, nsp, e);
  free(sp);
  if (rc == AGENT_GLOB_OK)
    rc = RESERVE(g->alts, g->cap_alt, g->nalt + 1);
  if (rc)
    return rc;
  struct alt *a = &g->alts[g->nalt++];
  memset(a, 0, sizeof(*a));
  a->seg = seg0;
  a->nseg = g->nseg - seg0;
  return derive_hints(g, a);
}

int agent_glob_compile(const char *pattern, size_t len, struct agent_glob **out, char *err,
                       size_t errsize)
{
  return agent_glob_compile_with(pattern, len, NULL, out, err, errsize);
}

int agent_glob_compile_with(const char *pattern, size_t len, const struct agent_glob_limits *lim,
                            struct agent_glob **out, char *err, size_t errsize)
{
  struct errbuf e = {err, errsize};
  size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : AGENT_GLOB_PATTERN_MAX;
  size_t max_alts = lim && lim->max_alternatives ? lim->max_alternatives : AGENT_GLOB_BRACE_MAX;
  *out = NULL;
  if (errsize)
    err[0] = '\0';
  if (len == 0)
    return fail(&e, "empty pattern");
  if (len > max_bytes)
    return fail(&e, "pattern longer than %zu bytes", max_bytes);
  struct agent_glob *g = calloc(1, sizeof(*g));
  if (!g)
    return AGENT_GLOB_ENOMEM;
  struct strlist alts = {NULL, 0, 0};
  int rc = expand_braces(pattern, len, max_alts, &alts, &e);
  for (size_t i = 0; i < alts.n && rc == AGENT_GLOB_OK; i++)
    rc = compile_alt(g, alts.s[i].p, alts.s[i].n, &e);
  strlist_free(&alts);
  if (rc == AGENT_GLOB_ENOMEM && errsize)
    snprintf(err, errsize, "out of memory");
  if (rc) {
    agent_glob_free(g);
    return rc;
  }
  *out = g;
  return AGENT_GLOB_OK;
}

/* ==== Matching ============================================================================
 * Both levels use the classic wildcard algorithm: remember the last star and, on a mismatch,
 * let it take one more unit and retry from there. Every other token matches in exactly one
 * way, so the leftmost placement after the last star is always the right one and an earlier
 * star never needs revisiting: O(pattern x text), never exponential. */

static int class_has(const struct agent_glob *g, const struct tok *t, uint32_t cp)
{
  for (size_t r = t->off; r < t->off + t->len; r++)
    if (cp >= g->ranges[r].lo && cp <= g->ranges[r].hi)
      return 1;
  return 0;
}

/* Tries token t at s[*i]; advances *i on a match. */
static int tok_step(const struct agent_glob *g, const struct tok *t, const char *s, size_t n,
                    size_t *i)
{
  if (t->kind == TOK_LIT) {
    if (n - *i < t->len || memcmp(s + *i, g->pool + t->off, t->len) != 0)
      return 0;
    *i += t->len;
    return 1;
  }
  if (*i >= n)
    return 0;
  size_t clen;
  uint32_t cp = utf8_decode((const unsigned char *)s + *i, n - *i, &clen);
  if (t->kind == TOK_CLASS && class_has(g, t, cp) == t->negate)
    return 0;
  *i += clen;
  return 1;
}

/* Matches one path segment s[0..n) against the tokens of segment sg. */
static int seg_match(const struct agent_glob *g, const struct seg *sg, const char *s, size_t n)
{
  const struct tok *t = g->toks + sg->tok;
  size_t nt = sg->ntok, ti = 0, si = 0, star_ti = (size_t)-1, star_si = 0;
  for (;;) {
    if (ti < nt && t[ti].kind == TOK_STAR) {
      star_ti = ti++;
      star_si = si;
      continue;
    }
    if (ti == nt && si == n)
      return 1;
    if (ti < nt && tok_step(g, &t[ti], s, n, &si)) {
      ti++;
      continue;
    }
    if (star_ti == (size_t)-1 || star_si >= n)
      return 0;
    size_t clen;
    utf8_decode((const unsigned char *)s + star_si, n - star_si, &clen);
    star_si += clen; /* the star takes one more character */
    si = star_si;
    ti = star_ti + 1;
  }
}

static size_t seg_end(const char *s, size_t n, size_t i)
{
  const char *slash = memchr(s + i, '/', n - i);
  return slash ? (size_t)(slash - s) : n;
}

/* Matches the whole path against the segments of one alternative; `**` is the star here
 * and a path segment the unit. A position past n means no segment is left. */
static int segs_match(const struct agent_glob *g, const struct alt *a, const char *s, size_t n)
{
  const struct seg *sg = g->segs + a->seg;
  size_t np = a->nseg, pi = 0, si = 0, star_pi = (size_t)-1, star_si = 0;
  for (;;) {
    if (pi < np && sg[pi].globstar) {
      star_pi = pi++;
      star_si = si;
      continue;
    }
    if (si > n) {
      while (pi < np && sg[pi].globstar)
        pi++;
      return pi == np;
    }
    size_t e = seg_end(s, n, si);
    if (pi < np && seg_match(g, &sg[pi], s + si, e - si)) {
      pi++;
      si = e + 1;
      continue;
    }
    if (star_pi == (size_t)-1)
      return 0;
    star_si = seg_end(s, n, star_si) + 1; /* the globstar takes one more segment */
    si = star_si;
    pi = star_pi + 1;
  }
}

/* memrchr is a GNU extension; paths are short, so a plain loop does. */
static const char *find_last(const char *s, size_t n, char c)
{
  while (n > 0)
    if (s[--n] == c)
      return s + n;
  return NULL;
}

static int has_span(const struct agent_glob *g, struct span sp, const char *s, size_t n, int where)
{
  if (sp.len == 0)
    return 1;
  if (sp.len > n)
    return 0;
  const char *lit = g->pool + sp.off;
  if (where < 0)
    return memcmp(s, lit, sp.len) == 0;
  if (where > 0)
    return memcmp(s + n - sp.len, lit, sp.len) == 0;
  return agent_find_bytes(s, n, lit, sp.len) != NULL;
}

static int alt_match(const struct agent_glob *g, const struct alt *a, const char *s, size_t n)
{
  return has_span(g, a->prefix, s, n, -1) && has_span(g, a->suffix, s, n, 1) &&
         has_span(g, a->needle, s, n, 0) && segs_match(g, a, s, n);
}

static void skip_dot_slash(const char **s, size_t *n)
{
  while (*n >= 2 && (*s)[0] == '.' && (*s)[1] == '/') {
    *s += 2;
    *n -= 2;
  }
}

int agent_glob_match(const struct agent_glob *g, const char *path, size_t len)
{
  skip_dot_slash(&path, &len);
  for (size_t i = 0; i < g->nalt; i++)
    if (alt_match(g, &g->alts[i], path, len))
      return 1;
  return 0;
}

/* ==== The path index ======================================================================
 * The index copies every path into blocks that never move, so an entry points at its bytes
 * from the start and nothing the caller does with its own strings later can matter. The
 * paths are sorted bytewise (a literal prefix is a binary-searched run of them), and hash
 * tables map a key to the ascending positions of the paths that have it: the extension, the
 * basename, each directory name (any segment but the last, for globs like `**` +
 * `/migrations/` + `**`) and the basename's first 1, 2, 4, 8 or 16 bytes (for `**` +
 * `/test_*.py`, looked up by the longest of those lengths the glob's literal covers). Tables
 * hold 64-bit hashes only: keys that collide share a bucket, and a head shorter than the
 * glob's literal lets in paths that only start like it; either only adds candidates the
 * matcher rejects. Each table is built the first time a glob needs it, in one pass over the
 * sorted paths that takes a run of neighbours sharing a key as one: a folder's files share its
 * directory names, which are hashed once for the run. */

struct entry {
  const char *s;  /* the path, after any leading "./", in the index's blocks */
  uint32_t len;   /* bytes at s */
  uint32_t input; /* position in order of adding */
  uint32_t base;  /* where the basename starts in s (just after the last '/', or 0) */
  uint32_t lead;  /* bytes of "./" dropped before s: the path as added starts at s - lead */
};

#define HEAD_KINDS 5 /* heads of 1, 2, 4, 8 and 16 bytes */

/* The tables. The head tables come last: KEY_HEAD + k is keyed by a basename's first 2^k
 * bytes. */
enum key_kind { KEY_EXT, KEY_BASE, KEY_DIR, KEY_HEAD, KEY_KINDS = KEY_HEAD + HEAD_KINDS };

struct bucket {
  uint64_t h;
  size_t start, count; /* the paths with this key: pos[start, start+count) */
  size_t last;         /* the end of the last run counted, so a path counts once per key */
};

struct buckets {
  int state;     /* 0: not built yet; 1: built; -1: out of memory (queries fall back) */
  size_t *slots; /* open addressing over a power of two: bucket index + 1, 0 when empty */
  size_t mask;
  struct bucket *b;
  size_t nb, cap_b;
  uint32_t *pos; /* sorted positions grouped by key */
};

/* Path bytes are copied into blocks of POOL_BLOCK bytes (a longer path gets its own). */
#define POOL_BLOCK ((size_t)1 << 18)

struct block {
  struct block *next;
  size_t used, cap;
  char bytes[];
};

struct agent_glob_index {
  struct entry *e; /* sorted bytewise by agent_glob_index_build */
  size_t n, cap;
  uint32_t *at;         /* at[input] = position, when the paths were not added sorted */
  struct block *blocks; /* the copies, newest block first */
  struct buckets t[KEY_KINDS];
};

struct agent_glob_index *agent_glob_index_new(size_t capacity)
{
  struct agent_glob_index *ix = calloc(1, sizeof(*ix));
  if (!ix)
    return NULL;
  if (RESERVE(ix->e, ix->cap, capacity ? capacity : 1)) {
    free(ix);
    return NULL;
  }
  return ix;
}

static void buckets_free(struct buckets *t)
{
  free(t->slots);
  free(t->b);
  free(t->pos);
  memset(t, 0, sizeof(*t));
}

void agent_glob_index_free(struct agent_glob_index *ix)
{
  if (!ix)
    return;
  for (struct block *b = ix->blocks, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  for (int k = 0; k < KEY_KINDS; k++)
    buckets_free(&ix->t[k]);
  free(ix->at);
  free(ix->e);
  free(ix);
}

/* Copies s[0..n) into the current block, or a new one when it does not fit. NULL when out
 * of memory. */
static const char *keep_bytes(struct agent_glob_index *ix, const char *s, size_t n)
{
  struct block *b = ix->blocks;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > POOL_BLOCK ? n : POOL_BLOCK;
    b = cap <= SIZE_MAX - sizeof(*b) ? malloc(sizeof(*b) + cap) : NULL;
    if (!b)
      return NULL;
    *b = (struct block){ix->blocks, 0, cap};
    ix->blocks = b;
  }
  char *copy = b->bytes + b->used;
  if (n)
    memcpy(copy, s, n);
  b->used += n;
  return copy;
}

/* Where the basename of s[0..n) starts: after its last '/'. Paths mostly come sorted, so a
 * path usually lies in the previous one's folder; then only the rest needs reading. */
static size_t base_start(const struct entry *prev, const char *s, size_t n)
{
  size_t from = 0;
  if (prev && prev->base <= n && memcmp(prev->s, s, prev->base) == 0)
    from = prev->base; /* s starts with a directory part that ends in '/' (or is empty) */
  for (const char *slash; (slash = memchr(s + from, '/', n - from)) != NULL;)
    from = (size_t)(slash - s) + 1;
  return from;
}

int agent_glob_index_add(struct agent_glob_index *ix, const char *path, size_t len)
{
  if (ix->n >= UINT32_MAX || len >= UINT32_MAX ||
      (ix->n == ix->cap && RESERVE(ix->e, ix->cap, ix->n + 1)))
    return AGENT_GLOB_ENOMEM;
  const char *s = keep_bytes(ix, path, len);
  if (!s)
    return AGENT_GLOB_ENOMEM;
  size_t n = len;
  skip_dot_slash(&s, &n);
  size_t base = base_start(ix->n ? &ix->e[ix->n - 1] : NULL, s, n);
  ix->e[ix->n] =
      (struct entry){s, (uint32_t)n, (uint32_t)ix->n, (uint32_t)base, (uint32_t)(len - n)};
  ix->n++;
  return AGENT_GLOB_OK;
}

static int bytes_cmp(const char *a, size_t na, const char *b, size_t nb)
{
  int c = memcmp(a, b, na < nb ? na : nb);
  return c ? c : (na > nb) - (na < nb);
}

static int entry_cmp(const void *pa, const void *pb)
{
  const struct entry *a = pa, *b = pb;
  int c = bytes_cmp(a->s, a->len, b->s, b->len);
  return c ? c : (a->input > b->input) - (a->input < b->input);
}

/* Sorts the entries unless they came sorted (fs.walk hands over sorted paths) and then notes
 * where each input went, for agent_glob_index_path. */
static int sort_entries(struct agent_glob_index *ix)
{
  size_t i = 1;
  while (i < ix->n && entry_cmp(&ix->e[i - 1], &ix->e[i]) < 0)
    i++;
  if (i >= ix->n)
    return AGENT_GLOB_OK;
  uint32_t *at = malloc(ix->n * sizeof(*at));
  if (!at)
    return AGENT_GLOB_ENOMEM;
  qsort(ix->e, ix->n, sizeof(*ix->e), entry_cmp);
  for (size_t pos = 0; pos < ix->n; pos++)
    at[ix->e[pos].input] = (uint32_t)pos;
  free(ix->at);
  ix->at = at;
  return AGENT_GLOB_OK;
}

int agent_glob_index_build(struct agent_glob_index *ix)
{
  for (int k = 0; k < KEY_KINDS; k++)
    buckets_free(&ix->t[k]);
  return sort_entries(ix);
}

const char *agent_glob_index_path(const struct agent_glob_index *ix, long position, size_t *len)
{
  if (position < 0 || (size_t)position >= ix->n)
    return NULL;
  const struct entry *e = &ix->e[ix->at ? ix->at[position] : (size_t)position];
  *len = (size_t)e->len + e->lead;
  return e->s - e->lead;
}

/* ---- Keys and tables ---------------------------------------------------------------------- */

/* Eight bytes from s as one word (in the machine's byte order: hashes only meet hashes made
 * by the same process). */
static uint64_t load_word(const char *s)
{
  uint64_t w;
  memcpy(&w, s, sizeof(w));
  return w;
}

static uint64_t load_half(const char *s)
{
  uint32_t w;
  memcpy(&w, s, sizeof(w));
  return w;
}

/* s[0..n), 0 < n < 8, as one word that tells apart any two keys of that length: two
 * overlapping four-byte loads, or the first, middle and last byte. */
static uint64_t short_word(const char *s, size_t n)
{
  if (n >= 4)
    return load_half(s) << 32 | load_half(s + n - 4);
  const unsigned char *u = (const unsigned char *)s;
  return (uint64_t)u[0] << 16 | (uint64_t)u[n / 2] << 8 | u[n - 1];
}

static uint64_t mix_word(uint64_t h, uint64_t w)
{
  h = (h ^ w) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

/* A 64-bit hash of s[0..n), a word at a time where FNV-1a took a byte at a time; the last
 * bytes as one more word, overlapping the one before (or short_word's for a key under eight
 * bytes). The length seeds it, so the overlaps are unambiguous and "a" and "a\0" differ, and
 * murmur3's finalizer spreads every byte into the low bits that pick a slot. */
static uint64_t key_hash(const char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  if (n < 8)
    h = n ? mix_word(h, short_word(s, n)) : h;
  else {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
      h = mix_word(h, load_word(s + i));
    if (i < n)
      h = mix_word(h, load_word(s + n - 8));
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

static size_t head_len(enum key_kind kind)
{
  return (size_t)1 << (kind - KEY_HEAD);
}

/* The head table for a basename literal of len >= 1 bytes: the longest head it covers. */
static enum key_kind head_kind(size_t len)
{
  int k = 0;
  while (KEY_HEAD + k + 1 < KEY_KINDS && head_len(KEY_HEAD + k + 1) <= len)
    k++;
  return KEY_HEAD + k;
}

/* The one key of the path at e in a table other than KEY_DIR: its extension (after the
 * basename's last '.'), its basename or its basename's head. 0 when it has none (no '.', a
 * basename shorter than the head). */
static int entry_key(const struct entry *e, enum key_kind kind, uint64_t *key)
{
  const char *base = e->s + e->base;
  size_t blen = e->len - e->base;
  if (kind == KEY_EXT) {
    const char *dot = find_last(base, blen, '.');
    if (dot)
      *key = key_hash(dot + 1, (size_t)(base + blen - dot - 1));
    return dot != NULL;
  }
  if (kind == KEY_BASE) {
    *key = key_hash(base, blen);
    return 1;
  }
  if (blen < head_len(kind))
    return 0;
  *key = key_hash(base, head_len(kind));
  return 1;
}

/* The slot holding hash h, or the empty slot where it would go. */
static size_t *find_slot(const struct buckets *t, uint64_t h)
{
  for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask)
    if (t->slots[i] == 0 || t->b[t->slots[i] - 1].h == h)
      return &t->slots[i];
}

/* Doubles the slots and places every bucket again. 0 or AGENT_GLOB_ENOMEM. */
static int slots_grow(struct buckets *t)
{
  size_t cap = 2 * (t->mask + 1);
  size_t *slots = calloc(cap, sizeof(*slots));
  if (!slots)
    return AGENT_GLOB_ENOMEM;
  free(t->slots);
  t->slots = slots;
  t->mask = cap - 1;
  for (size_t k = 0; k < t->nb; k++)
    *find_slot(t, t->b[k].h) = k + 1;
  return AGENT_GLOB_OK;
}

/* A run of neighbouring positions [lo, lo+count) that go to one bucket. */
struct placement {
  size_t bucket;
  uint32_t lo, count;
};

struct placements {
  struct placement *v;
  size_t n, cap;
};

/* The bucket of key h, made when new. The slots grow with the keys (at most half full):
 * sized for every path up front, the directory-name table of 100,000 paths took 8 MB of
 * slots for a few thousand names, and every lookup missed the cache. */
static struct bucket *bucket_for(struct buckets *t, uint64_t h)
{
  size_t *slot = find_slot(t, h);
  if (*slot)
    return &t->b[*slot - 1];
  if (RESERVE(t->b, t->cap_b, t->nb + 1))
    return NULL;
  if (2 * (t->nb + 1) > t->mask + 1) {
    if (slots_grow(t))
      return NULL;
    slot = find_slot(t, h);
  }
  t->b[t->nb] = (struct bucket){h, 0, 0, 0};
  *slot = ++t->nb;
  return &t->b[t->nb - 1];
}

/* Files the paths [lo, hi) under key h: once, when a path's directories name it twice
 * (a/x/x/f). 0 or AGENT_GLOB_ENOMEM. */
static int add_run(struct buckets *t, struct placements *pl, uint64_t h, size_t lo, size_t hi)
{
  struct bucket *b = bucket_for(t, h);
  if (!b)
    return AGENT_GLOB_ENOMEM;
  if (b->last == hi)
    return AGENT_GLOB_OK;
  if (pl->n == pl->cap && RESERVE(pl->v, pl->cap, pl->n + 1))
    return AGENT_GLOB_ENOMEM;
  b->last = hi;
  b->count += hi - lo;
  pl->v[pl->n++] = (struct placement){(size_t)(b - t->b), (uint32_t)lo, (uint32_t)(hi - lo)};
  return AGENT_GLOB_OK;
}

/* Files every path under its one key, neighbours with the same key as one run. */
static int fill_by_key(struct buckets *t, struct placements *pl, const struct agent_glob_index *ix,
                       enum key_kind kind)
{
  uint64_t key = 0;
  int has = 0;
  for (size_t pos = 0, lo = 0; pos <= ix->n; pos++) {
    uint64_t k = 0;
    int h = pos < ix->n && entry_key(&ix->e[pos], kind, &k);
    if (pos < ix->n && h == has && k == key)
      continue; /* the run goes on */
    if (has && add_run(t, pl, key, lo, pos))
      return AGENT_GLOB_ENOMEM;
    lo = pos;
    key = k;
    has = h;
  }
  return AGENT_GLOB_OK;
}

static int same_dir(const struct entry *a, const struct entry *b)
{
  return a->base == b->base && memcmp(a->s, b->s, a->base) == 0;
}

/* Files every path under each of its directory names, a folder's run of files at a time:
 * the names are hashed once per run, not once per path. */
static int fill_by_dir(struct buckets *t, struct placements *pl, const struct agent_glob_index *ix)
{
  for (size_t lo = 0, hi; lo < ix->n; lo = hi) {
    const struct entry *e = &ix->e[lo];
    for (hi = lo + 1; hi < ix->n && same_dir(e, &ix->e[hi]); hi++)
      ;
    /* s[base - 1] is the last '/', so every name before it ends at a '/' */
    for (size_t start = 0, end; start < e->base; start = end + 1) {
      end = (size_t)((const char *)memchr(e->s + start, '/', e->base - start) - e->s);
      if (add_run(t, pl, key_hash(e->s + start, end - start), lo, hi))
        return AGENT_GLOB_ENOMEM;
    }
  }
  return AGENT_GLOB_OK;
}

/* Gives each bucket its share of pos and writes the filed runs there. The runs come in
 * ascending order, so each bucket lists its positions in ascending order. */
static int place_runs(struct buckets *t, const struct placements *pl)
{
  size_t total = 0;
  for (size_t k = 0; k < t->nb; k++) {
    t->b[k].start = total;
    total += t->b[k].count;
    t->b[k].count = 0; /* counted again while placing */
  }
  t->pos = malloc((total ? total : 1) * sizeof(*t->pos));
  if (!t->pos)
    return AGENT_GLOB_ENOMEM;
  for (size_t i = 0; i < pl->n; i++) {
    struct bucket *b = &t->b[pl->v[i].bucket];
    uint32_t *out = t->pos + b->start + b->count;
    for (uint32_t j = 0; j < pl->v[i].count; j++)
      out[j] = pl->v[i].lo + j;
    b->count += pl->v[i].count;
  }
  return AGENT_GLOB_OK;
}

static int buckets_build(struct buckets *t, const struct agent_glob_index *ix, enum key_kind kind)
{
  /* room for a run per path: all a one-key table can file, and the directory table files
   * one per name of each folder's run */
  struct placements pl = {NULL, 0, 0};
  t->mask = 63;
  t->slots = calloc(t->mask + 1, sizeof(*t->slots));
  if (!t->slots || RESERVE(pl.v, pl.cap, ix->n + 1))
    return AGENT_GLOB_ENOMEM;
  int rc = kind == KEY_DIR ? fill_by_dir(t, &pl, ix) : fill_by_key(t, &pl, ix, kind);
  if (rc == AGENT_GLOB_OK)
    rc = place_runs(t, &pl);
  free(pl.v);
  return rc;
}

/* ---- Queries ------------------------------------------------------------------------------ */

/* A contiguous run of candidates, in ascending positions: lo..hi, or list[lo..hi). */
struct candidates {
  const uint32_t *list;
  size_t lo, hi;
  int deferred; /* a table not built yet could have narrowed the run */
};

/* Candidates tried before building a table that could narrow them (see alt_first). */
#define SCAN_FIRST 64

/* How s[0..n) compares with key[0..len) when only its first len bytes count: 0 when s starts
 * with the key. */
static int prefix_cmp(const char *s, size_t n, const char *key, size_t len)
{
  return bytes_cmp(s, n < len ? n : len, key, len);
}

/* Binary search over the sorted paths for the run that starts with key[0..len): the first
 * position not before it (upper = 0) or the first after it (upper = 1). Paths that start
 * with the key are contiguous in bytewise order, so the two bounds delimit them. */
static size_t bound_sorted(const struct agent_glob_index *ix, const char *key, size_t len,
                           int upper)
{
  size_t lo = 0, hi = ix->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = prefix_cmp(ix->e[mid].s, ix->e[mid].len, key, len);
    if (c < 0 || (upper && c == 0))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The run of positions whose key in table `kind` is key[0..len), from the table built on
 * first need. 0 when the table could not be built (the caller keeps its wider run). */
static int bucket_run(struct agent_glob_index *ix, enum key_kind kind, const char *key, size_t len,
                      struct candidates *out)
{
  struct buckets *t = &ix->t[kind];
  if (t->state == 0) {
    if (buckets_build(t, ix, kind) == AGENT_GLOB_OK) {
      t->state = 1;
    } else {
      buckets_free(t);
      t->state = -1;
    }
  }
  if (t->state < 0)
    return 0;
  *out = (struct candidates){t->pos, 0, 0, 0};
  size_t k = *find_slot(t, key_hash(key, len));
  if (k) {
    out->lo = t->b[k - 1].start;
    out->hi = out->lo + t->b[k - 1].count;
  }
  return 1;
}

/* The first k in list[lo..hi) (ascending positions) with list[k] >= pos. */
static size_t bound_list(const uint32_t *list, size_t lo, size_t hi, size_t pos)
{
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (list[mid] < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Narrows *best to the bucket of key[0..len) in table `kind` when that is smaller, cut first
 * to the positions in [plo, phi), the paths with the glob's literal prefix: no other path can
 * match. Without the cut, `services/` + `**` + `/` + `*.py` would try every .py path before
 * the first under services/. A table not built yet is built only when `build` is set and the
 * run is still longer than SCAN_FIRST; otherwise best->deferred notes that it was passed by. */
static void try_bucket(struct agent_glob_index *ix, enum key_kind kind, const char *key, size_t len,
                       size_t plo, size_t phi, int build, struct candidates *best)
{
  struct candidates run;
  if (ix->t[kind].state == 0 && (!build || best->hi - best->lo <= SCAN_FIRST)) {
    best->deferred = 1;
    return;
  }
  if (!bucket_run(ix, kind, key, len, &run))
    return;
  size_t first = bound_list(run.list, run.lo, run.hi, plo);
  run.hi = bound_list(run.list, first, run.hi, phi);
  run.lo = first;
  if (run.hi - run.lo < best->hi - best->lo)
    *best = (struct candidates){run.list, run.lo, run.hi, best->deferred};
}

/* Picks the smallest run of candidates at or after position `from` that the alternative's
 * hints allow: the paths with its literal prefix, its basename, one of its literal directory
 * names, a basename that starts like its basename's literal, or its extension (each bucket
 * cut to the prefix's range). The tables come in that order, the usually narrower first, so
 * that a building pass stops building once the run is short. */
static struct candidates pick_candidates(struct agent_glob_index *ix, const struct agent_glob *g,
                                         const struct alt *a, size_t from, int build)
{
  struct candidates best = {NULL, from, ix->n, 0};
  if (a->prefix.len) {
    const char *p = g->pool + a->prefix.off;
    size_t lo = bound_sorted(ix, p, a->prefix.len, 0);
    best.lo = lo > from ? lo : from;
    best.hi = bound_sorted(ix, p, a->prefix.len, 1);
    if (best.hi < best.lo)
      best.hi = best.lo;
  }
  const size_t plo = best.lo, phi = best.hi; /* the prefix's range: every match lies in it */
  if (a->exact_base)
    try_bucket(ix, KEY_BASE, g->pool + a->suffix.off, a->suffix.len, plo, phi, build, &best);
  size_t k = 0; /* leading literal directories are in the prefix already: skip them */
  while (k + 1 < a->nseg && is_lit_seg(g, &g->segs[a->seg + k]))
    k++;
  for (; k + 1 < a->nseg && best.hi > best.lo; k++) {
    const struct seg *s = &g->segs[a->seg + k];
    const struct tok *t = &g->toks[s->tok];
    if (is_lit_seg(g, s))
      try_bucket(ix, KEY_DIR, g->pool + t->off, t->len, plo, phi, build, &best);
  }
  if (a->base_prefix.len && best.hi > best.lo) {
    enum key_kind head = head_kind(a->base_prefix.len);
    try_bucket(ix, head, g->pool + a->base_prefix.off, head_len(head), plo, phi, build, &best);
  }
  if (!a->exact_base && a->has_ext && best.hi > best.lo)
    try_bucket(ix, KEY_EXT, g->pool + a->ext.off, a->ext.len, plo, phi, build, &best);
  return best;
}

/* The smallest position before `best` whose path the alternative matches, else best. The
 * first try uses the tables already built; when one not built yet could narrow the run, only
 * the first SCAN_FIRST candidates are tried before building it, as matches are often dense
 * (the first .ts path of a TypeScript repository is a few paths in) and a table costs a pass
 * over every path. The second try starts after the candidates the first one ruled out. */
static size_t alt_first(struct agent_glob_index *ix, const struct agent_glob *g,
                        const struct alt *a, size_t best)
{
  size_t from = 0;
  for (int build = 0;; build = 1) {
    struct candidates c = pick_candidates(ix, g, a, from, build);
    size_t stop = !build && c.deferred && c.hi - c.lo > SCAN_FIRST ? c.lo + SCAN_FIRST : c.hi;
    for (size_t k = c.lo; k < stop; k++) {
      size_t pos = c.list ? c.list[k] : k;
      if (pos >= best)
        return best; /* an earlier alternative already matched a smaller path */
      if (alt_match(g, a, ix->e[pos].s, ix->e[pos].len))
        return pos;
    }
    if (stop == c.hi)
      return best;
    from = (c.list ? c.list[stop - 1] : stop - 1) + 1;
  }
}

long agent_glob_index_first(struct agent_glob_index *ix, const struct agent_glob *g)
{
  size_t best = ix->n;
  for (size_t i = 0; i < g->nalt; i++)
    best = alt_first(ix, g, &g->alts[i], best);
  return best < ix->n ? (long)ix->e[best].input : -1;
}

long agent_glob_index_scan(const struct agent_glob_index *ix, const struct agent_glob *g)
{
  for (size_t pos = 0; pos < ix->n; pos++)
    if (agent_glob_match(g, ix->e[pos].s, ix->e[pos].len))
      return (long)ix->e[pos].input;
  return -1;
}
