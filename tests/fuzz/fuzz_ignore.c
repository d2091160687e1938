/* Fuzz target for ignore.c. Input: .gitignore text, a NUL byte, then paths one per line (no
 * NUL: the lines serve as both). Every path is matched as a file and as a directory against the
 * whole list, and against each line as a raw wildmatch pattern; for small bracket-free inputs
 * the iterative matcher is checked against a plain recursive reading of git's rules. */
#include "ignore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char uchar;

/* git's WM_PATHNAME rules, written as directly as possible (exponential in the worst case,
 * so only used on small inputs): `*` is any run without '/'; a `**` standing alone between
 * slashes (or at an end) is any run at all, and `**` + `/` may also match nothing; an escaped
 * slash after `**` needs at least one directory. */
static int ref_match(const uchar *pat, const uchar *p, const uchar *pe, const uchar *t,
                     const uchar *te)
{
  while (p < pe) {
    if (*p == '*') {
      const uchar *q = p;
      while (q < pe && *q == '*')
        q++;
      int seg = q - p >= 2 && (p == pat || p[-1] == '/');
      if (seg && q == pe)
        return 1;
      if (seg && (*q == '/' || (q + 1 < pe && q[0] == '\\' && q[1] == '/'))) {
        const uchar *after = q + (*q == '/' ? 1 : 2);
        if (*q == '/' && ref_match(pat, after, pe, t, te))
          return 1;
        for (const uchar *s = t; s < te; s++) /* any run, then the slash */
          if (*s == '/' && ref_match(pat, after, pe, s + 1, te))
            return 1;
        return 0;
      }
      for (const uchar *s = t;; s++) {
        if (ref_match(pat, q, pe, s, te))
          return 1;
        if (s == te || *s == '/')
          return 0;
      }
    }
    if (t == te)
      return 0;
    if (*p == '\\') {
      if (p + 1 == pe || p[1] != *t)
        return 0;
      p += 2;
    } else if (*p == '?' ? *t == '/' : *p != *t) {
      return 0;
    } else {
      p++;
    }
    t++;
  }
  return t == te;
}

static int small_enough(const uchar *p, size_t plen, size_t tlen)
{
  size_t stars = 0;
  for (size_t i = 0; i < plen; i++) {
    if (p[i] == '[')
      return 0;
    stars += p[i] == '*';
  }
  return stars <= 6 && plen <= 48 && tlen <= 48;
}

static void check_pair(const char *p, size_t plen, const char *t, size_t tlen)
{
  int got = agent_ignore_wildmatch(p, plen, t, tlen);
  if (got != 0 && got != 1)
    abort();
  if (small_enough((const uchar *)p, plen, tlen) &&
      got != ref_match((const uchar *)p, (const uchar *)p, (const uchar *)p + plen,
                       (const uchar *)t, (const uchar *)t + tlen))
    abort(); /* the iterative matcher disagrees with the rules */
}

/* Calls fn(line, len, ctx) for every '\n'-separated line of s. */
static void each_line(const char *s, size_t n, void (*fn)(const char *, size_t, void *), void *ctx)
{
  while (n > 0) {
    const char *nl = memchr(s, '\n', n);
    size_t len = nl ? (size_t)(nl - s) : n;
    fn(s, len, ctx);
    s += len + (nl ? 1 : 0);
    n -= len + (nl ? 1 : 0);
  }
}

struct ctx {
  struct ignore_list *list;
  const char *patterns;
  size_t patterns_len;
  const char *path;
  size_t path_len;
};

static void against_pattern(const char *line, size_t len, void *vctx)
{
  struct ctx *c = vctx;
  check_pair(line, len, c->path, c->path_len);
}

static void against_path(const char *line, size_t len, void *vctx)
{
  struct ctx *c = vctx;
  for (int is_dir = 0; is_dir < 2; is_dir++) {
    enum ignore_verdict v = agent_ignore_match(c->list, line, len, is_dir);
    if (v != IGNORE_NONE && v != IGNORE_EXCLUDED && v != IGNORE_INCLUDED)
      abort();
  }
  c->path = line;
  c->path_len = len;
  each_line(c->patterns, c->patterns_len, against_pattern, c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 4096)
    return 0; /* the pairwise checks are quadratic; longer inputs add nothing */
  const char *text = (const char *)data;
  const char *nul = memchr(text, '\0', size);
  size_t text_len = nul ? (size_t)(nul - text) : size;
  const char *paths = nul ? nul + 1 : text;
  size_t paths_len = nul ? size - text_len - 1 : size;
  struct ignore_list *list = agent_ignore_new("", 0);
  if (!list)
    return 0;
  if (agent_ignore_add_text(list, text, text_len) == 0) {
    struct ctx c = {list, text, text_len, NULL, 0};
    each_line(paths, paths_len, against_path, &c);
  }
  agent_ignore_free(list);
  return 0;
}
