/* Fuzz target for frontmatter.c. Input: a whole rule file. Checks the splitter's offsets and
 * lines against the text, that the leniency pre-pass keeps every line (so YAML errors map to
 * file lines), writes exactly what it measured and stops at its buffer, and that glob-list
 * splitting makes progress and stays in bounds. */
#include "frontmatter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long count(const char *s, size_t n, char c)
{
  long k = 0;
  for (size_t i = 0; i < n; i++)
    k += s[i] == c;
  return k;
}

/* The pre-pass output has as many line feeds as its input and no CR at all. */
static void check_lenient(const char *yaml, size_t n)
{
  size_t need = agent_frontmatter_lenient(yaml, n, NULL, 0);
  char *out = malloc(need + 1);
  if (!out)
    return;
  out[need] = '\x7f';
  if (agent_frontmatter_lenient(yaml, n, out, need) != need || out[need] != '\x7f')
    abort();
  if (count(out, need, '\n') != count(yaml, n, '\n'))
    abort();
  if (memchr(out, '\r', need)) /* CRLF became LF, a lone CR a space */
    abort();
  if (need > 0) { /* a short buffer gets a prefix of the same text, nothing past it */
    char *part = malloc(need);
    if (!part)
      abort();
    size_t cap = need / 2;
    memset(part, 0, need);
    if (agent_frontmatter_lenient(yaml, n, part, cap) != need || memcmp(part, out, cap) != 0)
      abort();
    for (size_t i = cap; i < need; i++)
      if (part[i] != 0)
        abort();
    free(part);
  }
  free(out);
}

static void check_globs(const char *s, size_t n)
{
  size_t pos = 0, off, len, last = 0;
  int first = 1;
  while (agent_frontmatter_next_glob(s, n, &pos, &off, &len)) {
    if (len == 0 || off + len > n || (!first && pos <= last))
      abort();
    last = pos;
    first = 0;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  struct agent_frontmatter fm;
  int rc = agent_frontmatter_split(text, size, &fm);
  if (rc == 0 && fm.found) {
    if (fm.yaml_off + fm.yaml_len > size || fm.body_off > size ||
        fm.body_off < fm.yaml_off + fm.yaml_len || fm.yaml_line != 2)
      abort();
    /* the body starts on the line after the closing fence: count the lines before it */
    long before = count(text, fm.body_off, '\n') + 1;
    if (fm.body_off == size && (size == 0 || text[size - 1] != '\n'))
      before++; /* closing fence without a final newline */
    if (fm.body_line != before)
      abort();
    check_lenient(text + fm.yaml_off, fm.yaml_len);
    if (agent_frontmatter_key_line(text + fm.yaml_off, fm.yaml_len, "globs") >
        count(text + fm.yaml_off, fm.yaml_len, '\n') + 1)
      abort();
  } else if (rc == 0) {
    if (fm.body_off != 0 || fm.body_line != 1)
      abort();
  } else if (rc != -1) {
    abort();
  }
  check_lenient(text, size); /* the pre-pass takes any text, frontmatter or not */
  check_globs(text, size < 512 ? size : 512);
  return 0;
}
