/* The server-sent-events parser (see sse.h): splits lines across chunks at CR, LF or CRLF,
 * drops a leading byte-order mark, and applies the field rules of the WHATWG event-stream
 * format (HTML Living Standard, "Parsing an event stream"). */
#include "sse.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char BOM[3] = {'\xEF', '\xBB', '\xBF'};

void agent_sse_init(struct agent_sse *p, size_t max_line, agent_sse_fn *fn, void *ud)
{
  memset(p, 0, sizeof(*p));
  p->fn = fn;
  p->ud = ud;
  p->max_line = max_line;
  p->retry = -1;
}

void agent_sse_free(struct agent_sse *p)
{
  struct agent_buf *bufs[] = {&p->line, &p->data, &p->type, &p->id};
  for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
    agent_buf_free(bufs[i]);
}

/* agent_buf_add with the parser's status codes. */
static int buf_add(struct agent_buf *b, const char *s, size_t n)
{
  return agent_buf_add(b, s, n) ? AGENT_SSE_ENOMEM : AGENT_SSE_OK;
}

static int buf_set(struct agent_buf *b, const char *s, size_t n)
{
  b->len = 0;
  return buf_add(b, s, n);
}

static int field_is(const char *name, size_t n, const char *literal)
{
  size_t len = strlen(literal);
  return n == len && memcmp(name, literal, len) == 0;
}

/* `retry:` counts only when its value is all ASCII digits; an absurd one is ignored. */
static void set_retry(struct agent_sse *p, const char *v, size_t n)
{
  if (n == 0)
    return;
  long long ms;
  if (agent_scan_decimal(v, n, LONG_MAX, &ms) == n)
    p->retry = (long)ms;
}

/* A blank line: hand over the pending event, if it has data, and start the next one. */
static int dispatch(struct agent_sse *p)
{
  int rc = AGENT_SSE_OK;
  if (p->data.len > 0) {
    struct agent_sse_event ev = {
        .type = p->type.len ? p->type.p : "message",
        .type_len = p->type.len ? p->type.len : strlen("message"),
        .data = p->data.p,
        .data_len = p->data.len - 1, /* without the "\n" that followed the last data line */
        .id = p->id.p,
        .id_len = p->id.len,
        .retry = p->retry,
    };
    rc = p->fn(p->ud, &ev);
  }
  p->data.len = 0;
  p->type.len = 0;
  return rc;
}

/* One complete line, without its end. */
static int process_line(struct agent_sse *p, const char *s, size_t n)
{
  if (n == 0)
    return dispatch(p);
  if (s[0] == ':')
    return AGENT_SSE_OK; /* a comment: servers send them as keep-alives */
  const char *colon = memchr(s, ':', n);
  size_t name_len = colon ? (size_t)(colon - s) : n;
  const char *v = colon ? colon + 1 : s + n;
  size_t vn = n - name_len - (colon ? 1 : 0);
  if (vn > 0 && v[0] == ' ') { /* exactly one space after the colon is decoration */
    v++;
    vn--;
  }

  if (field_is(s, name_len, "data")) {
    if (p->data.len + vn > p->max_line)
      return AGENT_SSE_ETOOLONG;
    int rc = buf_add(&p->data, v, vn);
    return rc ? rc : buf_add(&p->data, "\n", 1);
  }
  if (field_is(s, name_len, "event"))
    return buf_set(&p->type, v, vn);
  if (field_is(s, name_len, "id")) /* an id holding NUL is ignored, as the format says */
    return memchr(v, '\0', vn) ? AGENT_SSE_OK : buf_set(&p->id, v, vn);
  if (field_is(s, name_len, "retry"))
    set_retry(p, v, vn);
  return AGENT_SSE_OK; /* other fields are ignored */
}

/* Keeps the bytes of a line that continues in the next chunk. */
static int stash(struct agent_sse *p, const char *s, size_t n)
{
  if (n > p->max_line - p->line.len)
    return AGENT_SSE_ETOOLONG;
  return buf_add(&p->line, s, n);
}

/* Consumes a byte-order mark at the very start of the stream, even one split across chunks.
 * Bytes that only looked like its start are kept as the first line's. */
static int skip_bom(struct agent_sse *p, const char *buf, size_t n, size_t *i)
{
  while (p->bom < 3 && *i < n) {
    if (buf[*i] != BOM[p->bom]) {
      int matched = p->bom;
      p->bom = 3;
      return stash(p, BOM, (size_t)matched);
    }
    p->bom++;
    (*i)++;
  }
  return AGENT_SSE_OK;
}

static int fail(struct agent_sse *p, int rc)
{
  if (rc < 0)
    p->failed = rc;
  return rc;
}

int agent_sse_feed(struct agent_sse *p, const char *buf, size_t n)
{
  if (p->failed)
    return p->failed;
  size_t i = 0;
  int rc = skip_bom(p, buf, n, &i);
  if (rc)
    return fail(p, rc);
  while (i < n) {
    if (p->skip_lf) {
      p->skip_lf = 0;
      if (buf[i] == '\n') {
        i++;
        continue;
      }
    }
    size_t end = i;
    while (end < n && buf[end] != '\n' && buf[end] != '\r')
      end++;
    if (end == n)
      return fail(p, stash(p, buf + i, n - i));
    if (p->line.len > 0) { /* the line began in an earlier chunk */
      rc = stash(p, buf + i, end - i);
      if (!rc)
        rc = process_line(p, p->line.p, p->line.len);
      p->line.len = 0;
    } else {
      rc = end - i > p->max_line ? AGENT_SSE_ETOOLONG : process_line(p, buf + i, end - i);
    }
    p->skip_lf = buf[end] == '\r';
    i = end + 1;
    if (rc)
      return fail(p, rc);
  }
  return AGENT_SSE_OK;
}
