/* Source-line facts for agent.markdown that cmark 0.30 leaves out: its line numbering as
 * byte offsets, fence lengths, closing fences and setext underlines. cmark 0.30 reports the
 * end line of an indented code block, of a setext heading and of a fence cut short by its
 * container as the line that closed the block, not its last line; these let markdown.c
 * recompute those from the source. */
#include "markdown_source.h"

#include "util.h"

#include <string.h>

static int is_blank_tail(const char *s, size_t i, size_t len)
{
  for (; i < len; i++)
    if (!agent_is_blank(s[i]))
      return 0;
  return 1;
}

static size_t run_of(const char *s, size_t i, size_t len, char c)
{
  size_t n = 0;
  while (i + n < len && s[i + n] == c)
    n++;
  return n;
}

/* The offset just past the line ending that starts at i (text[i] is '\r' or '\n'). */
static size_t past_ending(const char *text, size_t len, size_t i)
{
  return text[i] == '\r' && i + 1 < len && text[i + 1] == '\n' ? i + 2 : i + 1;
}

size_t agent_md_count_lines(const char *text, size_t len)
{
  size_t count = 0, i = agent_bom_length(text, len), start = i;
  while (i < len) {
    if (text[i] == '\n' || text[i] == '\r') {
      i = past_ending(text, len, i);
      count++;
      start = i;
    } else {
      i++;
    }
  }
  return count + (start < len);
}

void agent_md_index_lines(const char *text, size_t len, agent_md_offset *starts, size_t count)
{
  size_t n = 0, i = agent_bom_length(text, len);
  if (count > 0)
    starts[n++] = (agent_md_offset)i;
  while (i < len && n < count) {
    if (text[i] == '\n' || text[i] == '\r') {
      i = past_ending(text, len, i);
      if (i < len)
        starts[n++] = (agent_md_offset)i;
    } else {
      i++;
    }
  }
  starts[count] = (agent_md_offset)len;
}

void agent_md_line(const char *text, const agent_md_offset *starts, size_t n, size_t *begin,
                   size_t *end)
{
  size_t b = starts[n - 1], e = starts[n];
  if (e > b && text[e - 1] == '\n')
    e--;
  if (e > b && text[e - 1] == '\r')
    e--;
  *begin = b;
  *end = e;
}

int agent_md_is_atx(const char *line, size_t len, size_t col)
{
  size_t n = run_of(line, col, len, '#');
  return n >= 1 && n <= 6 && (col + n == len || agent_is_blank(line[col + n]));
}

/* The first line of a literal, without its "\n". */
static size_t first_line_length(const char *literal)
{
  const char *nl = strchr(literal, '\n');
  return nl ? (size_t)(nl - literal) : strlen(literal);
}

size_t agent_md_fence_length(const char *line, size_t len, size_t col, const char *info,
                             const char *literal, char *fence_char)
{
  if (col >= len || (line[col] != '`' && line[col] != '~'))
    return 0;
  size_t n = run_of(line, col, len, line[col]);
  if (n < 3)
    return 0;
  *fence_char = line[col];
  if (info && info[0])
    return n; /* only fenced blocks have an info string */
  if (!is_blank_tail(line, col + n, len))
    return 0; /* an opening fence without info has nothing after it */
  size_t rest = len - col;
  if (literal && first_line_length(literal) == rest && memcmp(literal, line + col, rest) == 0)
    return 0; /* the line is the block's first content line: indented code */
  return n;
}

int agent_md_is_closing_fence(const char *line, size_t len, char fence_char, size_t n)
{
  size_t i = 0;
  while (i < len && (agent_is_blank(line[i]) || line[i] == '>'))
    i++;
  size_t run = run_of(line, i, len, fence_char);
  return run >= n && is_blank_tail(line, i + run, len);
}

size_t agent_md_count_quotes(const char *line, size_t len, size_t col)
{
  size_t q = 0;
  for (size_t i = 0; i < col && i < len; i++)
    q += line[i] == '>';
  return q;
}

int agent_md_is_setext_underline(const char *line, size_t len, size_t content_col, size_t quotes)
{
  size_t i = 0, q = 0;
  while (i < len && (agent_is_blank(line[i]) || line[i] == '>')) {
    q += line[i] == '>';
    i++;
  }
  if (q != quotes || i > content_col + 3 || i >= len || (line[i] != '=' && line[i] != '-'))
    return 0;
  return is_blank_tail(line, i + run_of(line, i, len, line[i]), len);
}
