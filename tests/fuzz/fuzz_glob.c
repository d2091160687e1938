/* Fuzz target for glob.c. Input: a pattern line, then paths one per line. Every path is
 * matched; the index must give the naive scan's answer; a leading "./" on a path must not
 * change a match; and for small ASCII brace-free patterns the matcher is checked against a
 * plain recursive reading of the glob rules (exponential, so only on small inputs). */
#include "glob.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the reference: the rules as directly as possible --------------------------------- */

/* One class at p (p[0] == '['), against character c; *end is set past it. Ranges, '!'/'^',
 * a leading ']' and backslash escapes; inputs with "[:" are not given to the reference. */
static int ref_class(const char *p, const char *pe, char c, const char **end)
{
  const char *q = p + 1;
  int neg = q < pe && (*q == '!' || *q == '^');
  q += neg;
  int hit = 0;
  for (int first = 1; q < pe && (first || *q != ']'); first = 0) {
    char lo = *q == '\\' ? *++q : *q;
    q++;
    char hi = lo;
    if (q + 1 < pe && *q == '-' && q[1] != ']') {
      q++;
      hi = *q == '\\' ? *++q : *q;
      q++;
    }
    hit |= c >= lo && c <= hi;
  }
  *end = q + 1;
  return hit != neg;
}

static int ref_seg(const char *p, const char *pe, const char *t, const char *te)
{
  if (p == pe)
    return t == te;
  if (*p == '*') {
    for (const char *k = t; k <= te; k++)
      if (ref_seg(p + 1, pe, k, te))
        return 1;
    return 0;
  }
  if (t == te)
    return 0;
  if (*p == '?')
    return ref_seg(p + 1, pe, t + 1, te);
  if (*p == '[') {
    const char *end;
    return ref_class(p, pe, *t, &end) && ref_seg(end, pe, t + 1, te);
  }
  if (*p == '\\')
    p++;
  return *p == *t && ref_seg(p + 1, pe, t + 1, te);
}

struct segs {
  const char *s[64], *e[64];
  int n;
};

/* Splits at '/' outside classes (the caller keeps escaped slashes out). */
static void split(const char *s, const char *se, struct segs *out, int pattern)
{
  out->n = 0;
  const char *start = s;
  for (const char *q = s; q <= se; q++) {
    if (pattern && q < se && *q == '[') {
      const char *end;
      ref_class(q, se, 0, &end);
      q = end - 1;
      continue;
    }
    if (pattern && q < se && *q == '\\') {
      q++;
      continue;
    }
    if (q == se || *q == '/') {
      out->s[out->n] = start;
      out->e[out->n++] = q;
      start = q + 1;
    }
  }
}

static int is_globstar(const struct segs *p, int i)
{
  return p->e[i] - p->s[i] == 2 && p->s[i][0] == '*' && p->s[i][1] == '*';
}

static int ref_path(const struct segs *p, int i, const struct segs *t, int j)
{
  if (i == p->n)
    return j == t->n;
  if (is_globstar(p, i)) {
    if (i == p->n - 1)
      return t->n - j >= 1; /* a trailing `**` needs something below */
    for (int k = j; k <= t->n; k++)
      if (ref_path(p, i + 1, t, k))
        return 1;
    return 0;
  }
  return j < t->n && ref_seg(p->s[i], p->e[i], t->s[j], t->e[j]) && ref_path(p, i + 1, t, j + 1);
}

static int has(const char *p, size_t n, const char *two)
{
  for (size_t i = 0; i + 1 < n; i++)
    if (p[i] == two[0] && p[i + 1] == two[1])
      return 1;
  return 0;
}

/* Whether the reference covers the pattern: small, ASCII, no braces, no anchoring or
 * trailing slash, no empty or "." segment, no escaped slash or POSIX class, no unclosed
 * class (the real compiler refuses those anyway). */
static int ref_covers(const char *p, size_t n)
{
  if (n == 0 || n > 20 || p[0] == '/' || p[n - 1] == '/' || has(p, n, "//") || has(p, n, "[:") ||
      has(p, n, "\\/"))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] >= 0x80 || p[i] == '{' || p[i] == '}' || p[i] == '\0')
      return 0;
  struct segs s;
  split(p, p + n, &s, 1);
  for (int i = 0; i < s.n; i++)
    if (s.e[i] - s.s[i] == 1 && s.s[i][0] == '.')
      return 0;
  return s.n < 64;
}

static int ref_match(const char *p, size_t n, const char *t, size_t tn)
{
  struct segs ps, ts;
  split(p, p + n, &ps, 1);
  split(t, t + tn, &ts, 0);
  if (ts.n >= 64)
    return -1;
  if (ps.n == 1) { /* no '/': the basename at any depth, where `**` is just `*` */
    if (is_globstar(&ps, 0))
      return 1;
    return ref_seg(ps.s[0], ps.e[0], ts.s[ts.n - 1], ts.e[ts.n - 1]);
  }
  return ref_path(&ps, 0, &ts, 0);
}

/* ---- the target ------------------------------------------------------------------------ */

/* more than the 64 candidates the index tries before it builds a table (glob.c) */
enum { MAX_PATHS = 512 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *in = (const char *)data;
  const char *nl = memchr(in, '\n', size);
  size_t plen = nl ? (size_t)(nl - in) : size;
  struct agent_glob *g = NULL;
  char err[64];
  if (agent_glob_compile(in, plen, &g, err, sizeof(err)) != AGENT_GLOB_OK) {
    if (g || strlen(err) == 0 || strlen(err) >= sizeof(err))
      abort(); /* a refusal always says why, in a terminated string */
    return 0;
  }
  struct agent_glob_index *ix = agent_glob_index_new(4);
  if (!ix)
    abort();
  const char *paths[MAX_PATHS];
  size_t lens[MAX_PATHS], npaths = 0;
  int covered = ref_covers(in, plen);
  for (const char *p = nl ? nl + 1 : in + size; p < in + size && npaths < MAX_PATHS;) {
    const char *e = memchr(p, '\n', (size_t)(in + size - p));
    size_t len = e ? (size_t)(e - p) : (size_t)(in + size - p);
    int m = agent_glob_match(g, p, len);
    char dotted[300];
    if (len + 2 <= sizeof(dotted)) {
      memcpy(dotted, "./", 2);
      memcpy(dotted + 2, p, len);
      if (agent_glob_match(g, dotted, len + 2) != m)
        abort();
    }
    if (covered && len <= 24 && !(len >= 2 && p[0] == '.' && p[1] == '/')) {
      int ascii = 1;
      for (size_t i = 0; i < len; i++)
        ascii &= (unsigned char)p[i] < 0x80;
      int want = ascii ? ref_match(in, plen, p, len) : -1;
      if (want >= 0 && want != m)
        abort();
    }
    paths[npaths] = p;
    lens[npaths++] = len;
    if (agent_glob_index_add(ix, p, len) != AGENT_GLOB_OK)
      abort();
    p = e ? e + 1 : in + size;
  }
  if (agent_glob_index_build(ix) != AGENT_GLOB_OK)
    abort();
  long fast = agent_glob_index_first(ix, g), slow = agent_glob_index_scan(ix, g);
  if (fast != slow || (fast >= 0 && !agent_glob_match(g, paths[fast], lens[fast])))
    abort();
  agent_glob_index_free(ix);
  agent_glob_free(g);
  return 0;
}
