/* gitignore matching with git's semantics: .gitignore parsing (gitignore(5): comments, escapes,
 * trailing spaces, negation, `dir/`, anchoring by a slash) and wildmatch with WM_PATHNAME, done
 * iteratively with two backtrack points so no pattern can make it recurse or go exponential.
 * Plain C without Lua, for walk.c, the C tests and the fuzzer. */
#include "ignore.h"

#include "charclass.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char uchar;

enum {
  PAT_NEGATIVE = 1,  /* `!pattern`: a match re-includes */
  PAT_MUSTBEDIR = 2, /* `pattern/`: matches directories only */
  PAT_BASENAME = 4,  /* no slash: matches the basename at any depth */
  PAT_LITERAL = 8,   /* no wildcard: a plain comparison */
  PAT_ENDSWITH = 16, /* `*literal` on a basename: a suffix comparison */
};

struct pattern {
  size_t off; /* into list->text; the pattern without `!`, leading `/` or trailing `/` */
  size_t len;
  unsigned flags;
};

struct ignore_list {
  char *base; /* "" for the root; else "dir/sub" */
  size_t base_len;
  struct pattern *pats;
  size_t npats, cap_pats;
  char *text; /* the bytes of every pattern, back to back */
  size_t text_len, cap_text;
};

struct ignore_list *agent_ignore_new(const char *base, size_t base_len)
{
  struct ignore_list *list = calloc(1, sizeof(*list));
  if (!list)
    return NULL;
  list->base = malloc(base_len + 1);
  if (!list->base) {
    free(list);
    return NULL;
  }
  if (base_len)
    memcpy(list->base, base, base_len);
  list->base[base_len] = '\0';
  list->base_len = base_len;
  return list;
}

void agent_ignore_free(struct ignore_list *list)
{
  if (!list)
    return;
  free(list->base);
  free(list->pats);
  free(list->text);
  free(list);
}

size_t agent_ignore_count(const struct ignore_list *list)
{
  return list->npats;
}

static int is_wild(uchar c)
{
  return c == '*' || c == '?' || c == '[' || c == '\\';
}

/* Length of a line once git's trailing-space rule is applied: unescaped trailing spaces go
 * (tabs stay), a backslash keeps the character after it. */
static size_t trim_trailing_spaces(const char *s, size_t len)
{
  size_t keep = 0; /* length up to the last byte that is not an unescaped space */
  for (size_t i = 0; i < len; i++) {
    if (s[i] == ' ')
      continue;
    if (s[i] == '\\' && i + 1 < len)
      i++;
    keep = i + 1;
  }
  return keep;
}

int agent_ignore_add_line(struct ignore_list *list, const char *line, size_t len)
{
  if (len == 0 || line[0] == '#')
    return 0;
  len = trim_trailing_spaces(line, len);
  unsigned flags = 0;
  if (len > 0 && line[0] == '!') {
    flags |= PAT_NEGATIVE;
    line++;
    len--;
  }
  if (len > 0 && line[len - 1] == '/') {
    flags |= PAT_MUSTBEDIR;
    len--;
  }
  if (len == 0)
    return 0; /* "", "!" or "/": git keeps them, but they can never match */
  if (!memchr(line, '/', len))
    flags |= PAT_BASENAME;
  else if (line[0] == '/') { /* anchored: the slash only says so */
    line++;
    len--;
  }
  if (len == 0)
    return 0; /* "//": anchored, but nothing to match */
  size_t wild = 0;
  while (wild < len && !is_wild((uchar)line[wild]))
    wild++;
  if (wild == len)
    flags |= PAT_LITERAL;
  else if ((flags & PAT_BASENAME) && line[0] == '*' && len > 1) {
    size_t rest = 1;
    while (rest < len && !is_wild((uchar)line[rest]))
      rest++;
    if (rest == len)
      flags |= PAT_ENDSWITH;
  }
  if (AGENT_RESERVE(list->pats, list->cap_pats, list->npats + 1) ||
      AGENT_RESERVE(list->text, list->cap_text, list->text_len + len))
    return ENOMEM;
  memcpy(list->text + list->text_len, line, len);
  list->pats[list->npats++] = (struct pattern){list->text_len, len, flags};
  list->text_len += len;
  return 0;
}

int agent_ignore_add_text(struct ignore_list *list, const char *text, size_t len)
{
  static const char bom[] = "\xef\xbb\xbf";
  if (len >= 3 && memcmp(text, bom, 3) == 0) {
    text += 3;
    len -= 3;
  }
  while (len > 0) {
    const char *nl = memchr(text, '\n', len);
    size_t line = nl ? (size_t)(nl - text) : len;
    size_t used = line + (nl ? 1 : 0);
    if (line > 0 && text[line - 1] == '\r')
      line--;
    int err = agent_ignore_add_line(list, text, line);
    if (err)
      return err;
    text += used;
    len -= used;
  }
  return 0;
}

/* ==== wildmatch =========================================================================== */

/* Whether c is in the [:name:] class (charclass.c: ASCII, independent of the locale, as in
 * git), or -1 for an unknown class name, which makes the whole pattern malformed. */
static int in_class(const uchar *name, size_t len, uchar c)
{
  const struct agent_charclass *k = agent_charclass_find((const char *)name, len);
  return k ? agent_charclass_has(k, c) : -1;
}

/* Matches the bracket expression whose body starts at p (just after '[') against c. Returns 1
 * or 0 and sets *end just past the closing ']'; -1 when the expression is malformed
 * (unterminated, or an unknown [:class:]), which in git fails the whole match. A ']' right
 * after '[', '[!' or '[^' is literal, as is a '-' that starts or ends the set. */
static int match_bracket(const uchar *p, const uchar *pe, uchar c, const uchar **end)
{
  int negated = 0, matched = 0, prev = -1; /* prev: the last single character, for ranges */
  if (p < pe && (*p == '!' || *p == '^')) {
    negated = 1;
    p++;
  }
  for (int first = 1;; first = 0) {
    if (p >= pe)
      return -1;
    uchar ch = *p;
    if (ch == ']' && !first)
      break;
    if (ch == '\\') {
      if (++p >= pe)
        return -1;
      matched |= c == *p;
      prev = *p++;
    } else if (ch == '-' && prev >= 0 && p + 1 < pe && p[1] != ']') {
      uchar hi = *++p;
      if (hi == '\\' && ++p >= pe)
        return -1;
      hi = *p++;
      matched |= c >= prev && c <= hi;
      prev = -1;
    } else if (ch == '[' && p + 1 < pe && p[1] == ':') {
      const uchar *name = p + 2, *close = name;
      while (close < pe && *close != ']')
        close++;
      if (close >= pe)
        return -1;
      if (close == name || close[-1] != ':') { /* no ":]": the '[' is a plain member */
        matched |= c == '[';
        prev = *p++;
        continue;
      }
      int in = in_class(name, (size_t)(close - 1 - name), c);
      if (in < 0)
        return -1;
      matched |= in;
      prev = -1;
      p = close + 1;
    } else {
      matched |= c == ch;
      prev = *p++;
    }
  }
  *end = p + 1;
  return c != '/' && matched != negated;
}

/* If a '/' (or an escaped one) is at p, the position after it; else NULL. */
static const uchar *slash_at(const uchar *p, const uchar *pe)
{
  if (p < pe && *p == '/')
    return p + 1;
  if (p + 1 < pe && p[0] == '\\' && p[1] == '/')
    return p + 2;
  return NULL;
}

/* Why two backtrack points are enough: a `*` cannot cross '/', so once the pattern's next '/'
 * has matched, where the `*` ends no longer matters (forget it); within a segment the latest
 * `*` can absorb whatever an earlier one could. A `**` segment matches any run of whole
 * directories, and the latest one likewise supersedes earlier ones. On a mismatch: grow the
 * latest `*` by one byte (not over '/'), else let the latest `**` swallow one more directory,
 * else fail. */
int agent_ignore_wildmatch(const char *pattern, size_t pattern_len, const char *text,
                           size_t text_len)
{
  const uchar *pat = (const uchar *)pattern, *p = pat, *pe = pat + pattern_len;
  const uchar *t = (const uchar *)text, *te = t + text_len;
  const uchar *star_p = NULL, *star_t = NULL;   /* resume points after the latest `*` */
  const uchar *dstar_p = NULL, *dstar_t = NULL; /* ... and after the latest `**` + `/` */
  for (;;) {
    if (p < pe && *p == '*') {
      const uchar *q = p;
      while (q < pe && *q == '*')
        q++;
      if (q - p >= 2 && (p == pat || p[-1] == '/')) {
        if (q == pe)
          return 1; /* a trailing `**` matches everything left */
        const uchar *after = slash_at(q, pe);
        if (after) {
          dstar_p = p = after;
          dstar_t = t;
          star_p = NULL;
          if (*q != '/') { /* before an escaped slash git tries no empty run: skip one dir */
            const uchar *slash = memchr(t, '/', (size_t)(te - t));
            if (!slash)
              return 0;
            t = dstar_t = slash + 1;
          }
          continue; /* else zero directories first */
        }
      }
      star_p = p = q; /* any other run of stars is one `*` */
      star_t = t;
      continue;
    }
    if (p < pe && t < te) {
      const uchar *next = p + 1;
      int ok;
      switch (*p) {
      case '?':
        ok = *t != '/';
        break;
      case '[':
        ok = match_bracket(p + 1, pe, *t, &next);
        if (ok < 0)
          return 0;
        break;
      case '\\':
        if (p + 1 >= pe)
          return 0; /* a trailing backslash never matches */
        next = p + 2;
        ok = p[1] == *t;
        break;
      default:
        ok = *p == *t;
      }
      if (ok) {
        if (*t == '/')
          star_p = NULL; /* see above: the segment is settled */
        p = next;
        t++;
        continue;
      }
    } else if (p == pe && t == te) {
      return 1;
    }
    if (star_p && star_t < te && *star_t != '/') {
      p = star_p;
      t = ++star_t;
    } else if (dstar_p) {
      const uchar *slash = memchr(dstar_t, '/', (size_t)(te - dstar_t));
      if (!slash)
        return 0;
      p = dstar_p;
      t = dstar_t = slash + 1;
      star_p = NULL;
    } else {
      return 0;
    }
  }
}

/* ==== Matching a list ===================================================================== */

static int match_pattern(const struct ignore_list *list, const struct pattern *pat, const char *rel,
                         size_t rel_len, const char *name, size_t name_len)
{
  const char *s = list->text + pat->off;
  if (!(pat->flags & PAT_BASENAME))
    return agent_ignore_wildmatch(s, pat->len, rel, rel_len);
  if (pat->flags & PAT_LITERAL)
    return pat->len == name_len && memcmp(s, name, name_len) == 0;
  if (pat->flags & PAT_ENDSWITH)
    return pat->len - 1 <= name_len &&
           memcmp(s + 1, name + name_len - (pat->len - 1), pat->len - 1) == 0;
  return agent_ignore_wildmatch(s, pat->len, name, name_len);
}

enum ignore_verdict agent_ignore_match(const struct ignore_list *list, const char *path, size_t len,
                                       int is_dir)
{
  const char *rel = path;
  size_t rel_len = len;
  if (list->base_len) {
    if (len <= list->base_len || path[list->base_len] != '/' ||
        memcmp(path, list->base, list->base_len) != 0)
      return IGNORE_NONE;
    rel += list->base_len + 1;
    rel_len -= list->base_len + 1;
  }
  size_t name_at = rel_len;
  while (name_at > 0 && rel[name_at - 1] != '/')
    name_at--;
  /* git reads a list bottom up: the last matching line decides */
  for (size_t i = list->npats; i-- > 0;) {
    const struct pattern *pat = &list->pats[i];
    if ((pat->flags & PAT_MUSTBEDIR) && !is_dir)
      continue;
    if (match_pattern(list, pat, rel, rel_len, rel + name_at, rel_len - name_at))
      return (pat->flags & PAT_NEGATIVE) ? IGNORE_INCLUDED : IGNORE_EXCLUDED;
  }
  return IGNORE_NONE;
}
