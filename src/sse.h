/* Server-sent events (the WHATWG "event stream" format) as a push parser: feed it bytes in
 * chunks of any size, it calls back once per dispatched event. Plain C, no Lua, so the C
 * tests and the fuzzer drive it directly; agent.http feeds it from libcurl's write callback. */
#ifndef AGENT_SSE_H
#define AGENT_SSE_H

#include "util.h"

#include <stddef.h>

/* One dispatched event. The pointers are valid only during the callback; none is
 * NUL-terminated (use the lengths). */
struct agent_sse_event {
  const char *type; /* "message" unless the stream named another type with `event:` */
  size_t type_len;
  const char *data; /* the event's `data:` lines joined with "\n" */
  size_t data_len;
  const char *id; /* the last event id the stream set (it persists across events); */
  size_t id_len;  /* id_len == 0 (and id maybe NULL) when none was set or `id:` cleared it */
  long retry;     /* reconnection time in ms the stream last set with `retry:`, or -1 */
};

/* Called for each event; return 0 to go on. Any other value stops agent_sse_feed, which
 * returns it; use positive values, the negative ones are the parser's errors. */
typedef int agent_sse_fn(void *ud, const struct agent_sse_event *ev);

enum {
  AGENT_SSE_OK = 0,
  AGENT_SSE_ENOMEM = -1,   /* an allocation failed */
  AGENT_SSE_ETOOLONG = -2, /* a line, or one event's data, is longer than max_line */
};

/* Parser state. Fields are private; the struct is public so callers can embed it. */
struct agent_sse {
  agent_sse_fn *fn;
  void *ud;
  size_t max_line;
  struct agent_buf line; /* the current line while it spans chunks */
  struct agent_buf data; /* data lines of the pending event, each followed by "\n" */
  struct agent_buf type; /* `event:` of the pending event */
  struct agent_buf id;   /* last event id */
  long retry;
  int bom;     /* bytes of a leading byte-order mark matched so far; 3 once past the start */
  int skip_lf; /* the last line ended with CR: an LF right after it belongs to that end */
  int failed;  /* sticky error: every later feed returns it */
};

/* Prepares p. max_line caps one line and one event's data (bytes, line ends excluded); fn
 * receives the events. Never fails: buffers are allocated as the stream needs them. */
void agent_sse_init(struct agent_sse *p, size_t max_line, agent_sse_fn *fn, void *ud);

/* Parses n more bytes of the stream. Returns AGENT_SSE_OK, a negative AGENT_SSE_E* (the
 * parser then stays failed), or the non-zero value a callback returned. An event still
 * open when the stream ends is never dispatched, as the format specifies. */
int agent_sse_feed(struct agent_sse *p, const char *buf, size_t n);

/* Releases the buffers; p may be initialised again afterwards. Idempotent. */
void agent_sse_free(struct agent_sse *p);

#endif
