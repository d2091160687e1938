/* Table-driven tests of the server-sent-events parser (src/sse.c). Every case is fed three
 * ways: whole, one byte at a time, and split in two at every offset; all must give the same
 * events and the same status, since a network delivers a stream in arbitrary pieces. */
#include "sse.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* Events are recorded as "<type|data|id|retry>" so a case states them in one string. */
struct record {
  char out[4096];
  size_t len;
  int stop_after; /* return 7 from this event on (0: never) */
  int seen;
  size_t last_data_len;
};

static void put(struct record *r, const char *s, size_t n)
{
  if (n == 0) /* s may be NULL then (an unset id) */
    return;
  if (n > sizeof(r->out) - 1 - r->len)
    n = sizeof(r->out) - 1 - r->len;
  memcpy(r->out + r->len, s, n);
  r->len += n;
  r->out[r->len] = '\0';
}

static int on_event(void *ud, const struct agent_sse_event *ev)
{
  struct record *r = ud;
  char retry[32];
  int rn = snprintf(retry, sizeof(retry), "%ld", ev->retry);
  put(r, "<", 1);
  put(r, ev->type, ev->type_len);
  put(r, "|", 1);
  put(r, ev->data, ev->data_len);
  put(r, "|", 1);
  put(r, ev->id, ev->id_len);
  put(r, "|", 1);
  put(r, retry, (size_t)rn);
  put(r, ">", 1);
  r->seen++;
  r->last_data_len = ev->data_len;
  return r->stop_after && r->seen >= r->stop_after ? 7 : 0;
}

struct sse_case {
  const char *name;
  const char *input;
  size_t len;      /* 0: strlen(input) */
  size_t max_line; /* 0: 64 */
  int stop_after;
  const char *want;
  int want_rc;
};

#define NUL_ID "id: 1\n\nid: x\0y\ndata: a\n\n"

/* One case per line reads better than the formatter's wrapping. */
/* clang-format off */
static const struct sse_case cases[] = {
  {"one event", "data: a\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"data lines joined with LF", "data: a\ndata: b\ndata: c\n\n", 0, 0, 0, "<message|a\nb\nc||-1>", 0},
  {"CRLF line ends", "data: a\r\ndata: b\r\n\r\n", 0, 0, 0, "<message|a\nb||-1>", 0},
  {"CR line ends", "data: a\rdata: b\r\r", 0, 0, 0, "<message|a\nb||-1>", 0},
  {"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", 0, 0, 0, "<message|a\nb\nc||-1>", 0},
  {"CR then LF is one line end", "data: a\r\n\r\ndata: b\n\n", 0, 0, 0, "<message|a||-1><message|b||-1>", 0},
  {"comments ignored", ": hello\ndata: a\n: keep-alive\n\n:\n", 0, 0, 0, "<message|a||-1>", 0},
  {"no space after the colon", "data:a\nevent:e\n\n", 0, 0, 0, "<e|a||-1>", 0},
  {"only one space removed", "data:  two\n\n", 0, 0, 0, "<message| two||-1>", 0},
  {"field without colon", "data\n\n", 0, 0, 0, "<message|||-1>", 0},
  {"empty data field", "data:\ndata:\n\n", 0, 0, 0, "<message|\n||-1>", 0},
  {"event type applies once", "event: a\ndata: 1\n\ndata: 2\n\n", 0, 0, 0, "<a|1||-1><message|2||-1>", 0},
  {"no data, no event", "event: a\n\ndata: 2\n\n", 0, 0, 0, "<message|2||-1>", 0},
  {"id persists", "id: 7\ndata: a\n\ndata: b\n\n", 0, 0, 0, "<message|a|7|-1><message|b|7|-1>", 0},
  {"empty id clears it", "id: 7\ndata: a\n\nid\ndata: b\n\n", 0, 0, 0, "<message|a|7|-1><message|b||-1>", 0},
  {"id with NUL ignored", NUL_ID, sizeof(NUL_ID) - 1, 0, 0, "<message|a|1|-1>", 0},
  {"retry digits", "retry: 1500\ndata: a\n\n", 0, 0, 0, "<message|a||1500>", 0},
  {"retry not digits", "retry: 15s\nretry: -1\nretry:\ndata: a\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"retry overflow ignored", "retry: 99999999999999999999999\ndata: a\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"unknown and case-mismatched fields", "Data: x\nfoo: y\ndata: a\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"BOM at start dropped", "\xEF\xBB\xBF" "data: a\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"BOM later is data", "data: a\n\n\xEF\xBB\xBF" "data: b\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"partial BOM kept", "\xEF\xBB" "data: a\n\ndata: b\n\n", 0, 0, 0, "<message|b||-1>", 0},
  {"partial BOM then line end", "\xEF\ndata: a\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"unterminated event dropped", "data: a\n\ndata: b\n", 0, 0, 0, "<message|a||-1>", 0},
  {"unterminated line dropped", "data: a\n\ndata: b", 0, 0, 0, "<message|a||-1>", 0},
  {"blank lines between events", "\n\n\ndata: a\n\n\n\n", 0, 0, 0, "<message|a||-1>", 0},
  {"colon inside value", "data: a:b: c\n\n", 0, 0, 0, "<message|a:b: c||-1>", 0},
  {"line at the cap", "data: 0123456789\n\n", 0, 16, 0, "<message|0123456789||-1>", 0},
  {"line over the cap", "data: 0123456789X\n\n", 0, 16, 0, "", AGENT_SSE_ETOOLONG},
  {"unterminated line over the cap", "data: a\n\ndata: 0123456789X", 0, 16, 0, "<message|a||-1>",
   AGENT_SSE_ETOOLONG},
  {"event data over the cap", "data: 01234567\ndata: 01234567\n\n", 0, 16, 0, "", AGENT_SSE_ETOOLONG},
  {"callback stops the feed", "data: a\n\ndata: b\n\ndata: c\n\n", 0, 0, 2,
   "<message|a||-1><message|b||-1>", 7},
};
/* clang-format on */

/* Feeds pieces of `c` as split by `cuts` (offsets, ascending) and records the result. */
static int feed_pieces(const struct sse_case *c, size_t len, const size_t *cuts, size_t ncuts,
                       struct record *r)
{
  struct agent_sse p;
  agent_sse_init(&p, c->max_line ? c->max_line : 64, on_event, r);
  int rc = 0;
  size_t from = 0;
  for (size_t k = 0; k <= ncuts && rc == 0; k++) {
    size_t to = k < ncuts ? cuts[k] : len;
    rc = agent_sse_feed(&p, c->input + from, to - from);
    from = to;
  }
  if (rc < 0) /* a failed parser stays failed */
    CHECK_INT(agent_sse_feed(&p, "data: z\n\n", 9), rc);
  agent_sse_free(&p);
  agent_sse_free(&p); /* idempotent */
  return rc;
}

static int check_case(const struct sse_case *c, const char *how, int rc, const struct record *r)
{
  if (rc == c->want_rc && strcmp(r->out, c->want) == 0)
    return 1;
  fprintf(stderr, "case '%s' (%s): rc %d (want %d), events \"%s\" (want \"%s\")\n", c->name, how,
          rc, c->want_rc, r->out, c->want);
  return 0;
}

static void run_case(const struct sse_case *c)
{
  size_t len = c->len ? c->len : strlen(c->input);
  struct record r = {.stop_after = c->stop_after};
  int rc = feed_pieces(c, len, NULL, 0, &r);
  CHECK(check_case(c, "whole", rc, &r));

  size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
  for (size_t i = 0; i < len; i++)
    cuts[i] = i + 1;
  struct record bytes = {.stop_after = c->stop_after};
  rc = feed_pieces(c, len, cuts, len ? len - 1 : 0, &bytes);
  CHECK(check_case(c, "byte by byte", rc, &bytes));

  for (size_t at = 0; at <= len; at++) {
    struct record two = {.stop_after = c->stop_after};
    rc = feed_pieces(c, len, &at, 1, &two);
    char how[64];
    snprintf(how, sizeof(how), "split at %zu", at);
    CHECK(check_case(c, how, rc, &two));
  }
  free(cuts);
}

/* A stream in two feeds where the callback's stop leaves the rest unparsed: the next feed
 * goes on from there, so a caller can pause on purpose. */
static void test_stop_then_resume(void)
{
  struct record r = {.stop_after = 1};
  struct agent_sse p;
  agent_sse_init(&p, 64, on_event, &r);
  CHECK_INT(agent_sse_feed(&p, "data: a\n\n", 9), 7);
  r.stop_after = 0;
  CHECK_INT(agent_sse_feed(&p, "data: b\n\n", 9), 0);
  CHECK_STR(r.out, "<message|a||-1><message|b||-1>");
  agent_sse_free(&p);
}

/* A long line spread over many chunks grows the buffer past its first size. */
static void test_long_line(void)
{
  static char line[20000];
  memcpy(line, "data: ", 6);
  memset(line + 6, 'x', sizeof(line) - 8);
  line[sizeof(line) - 2] = '\n';
  line[sizeof(line) - 1] = '\n';
  struct record r = {0};
  struct agent_sse p;
  agent_sse_init(&p, sizeof(line), on_event, &r);
  for (size_t i = 0; i < sizeof(line); i += 1000)
    CHECK_INT(agent_sse_feed(&p, line + i, sizeof(line) - i < 1000 ? sizeof(line) - i : 1000), 0);
  CHECK_INT(r.seen, 1);
  CHECK_INT(r.last_data_len, sizeof(line) - 8);
  CHECK(strncmp(r.out, "<message|xxx", 12) == 0);
  agent_sse_free(&p);
}

int main(void)
{
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    run_case(&cases[i]);
  test_stop_then_resume();
  test_long_line();
  return TEST_DONE();
}
