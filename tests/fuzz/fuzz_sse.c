/* Fuzz target for the server-sent-events parser (src/sse.c). Beyond memory safety it checks
 * the parser's central promise: the events and the status do not depend on how the stream
 * is cut into chunks. The first input byte picks the chunk size and the line cap. */
#include "sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A digest of every event seen (FNV-1a over fields and lengths), and sanity checks on each. */
struct digest {
  uint64_t h;
  size_t events;
  size_t max_line;
};

static void mix(struct digest *d, const void *p, size_t n)
{
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++)
    d->h = (d->h ^ s[i]) * 1099511628211u;
}

static int on_event(void *ud, const struct agent_sse_event *ev)
{
  struct digest *d = ud;
  if (ev->data_len > d->max_line || ev->type_len > d->max_line || ev->id_len > d->max_line ||
      ev->type_len == 0 || (ev->id_len && memchr(ev->id, '\0', ev->id_len)))
    abort();
  size_t lens[3] = {ev->type_len, ev->data_len, ev->id_len};
  mix(d, lens, sizeof(lens));
  mix(d, ev->type, ev->type_len);
  mix(d, ev->data, ev->data_len);
  mix(d, ev->id, ev->id_len);
  mix(d, &ev->retry, sizeof(ev->retry));
  d->events++;
  return 0;
}

static int run(const uint8_t *s, size_t n, size_t chunk, size_t max_line, struct digest *d)
{
  struct agent_sse p;
  d->h = 14695981039346656037u;
  d->events = 0;
  d->max_line = max_line;
  agent_sse_init(&p, max_line, on_event, d);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i += chunk)
    rc = agent_sse_feed(&p, (const char *)s + i, n - i < chunk ? n - i : chunk);
  agent_sse_free(&p);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  size_t chunk = (size_t)(data[0] & 31) + 1;
  size_t max_line = data[0] & 0x80 ? 16 : 4096;
  struct digest whole, pieces;
  int rc_whole = run(data + 1, size - 1, size, max_line, &whole);
  int rc_pieces = run(data + 1, size - 1, chunk, max_line, &pieces);
  if (rc_whole != rc_pieces || whole.h != pieces.h || whole.events != pieces.events)
    abort();
  return 0;
}
