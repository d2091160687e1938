/* agent.http: HTTP for the pipeline, many requests at once on one libcurl multi handle.
 * request() and request_all() run a single poll loop that starts transfers (at most
 * `parallel` at a time), retries with backoff, hands server-sent events and finished results
 * to Lua as they arrive, and stops everything on SIGINT/SIGTERM. Lua runs only from that
 * loop, never inside a libcurl callback; all transfer state lives in a to-be-closed userdata. */
#include "agent_limits.h"
#include "curl_api.h"
#include "host.h"
#include "http_util.h"
#include "luax.h"
#include "sse.h"
#include "util.h"

#include <curl/curl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#define BATCH_MT "agent.HttpBatch"
#define CURL_MT "agent.HttpCurl"

/* The longest the loop sleeps before it looks at the signal flag and the retry timers again:
 * an interrupt is noticed within this many milliseconds. */
#define HTTP_POLL_SLICE_MS 100

/* Room for the system's side of a failure (": Connection refused") in a reason. */
#define REASON_WHY_MAX 128

static const int DEFAULT_RETRY_STATUSES[] = {408, 429, 500, 502, 503, 504};

/* __gc(lib): unloads the state's libcurl, once every batch (younger) is gone. */
static int curl_lib_gc(lua_State *L)
{
  agent_curl_unload(luaL_checkudata(L, 1, CURL_MT));
  return 0;
}

/* ==== Transfers =========================================================================== */

/* A server-sent event parsed inside the write callback, waiting in its transfer's queue for
 * the poll loop to hand it to Lua. */
struct queued_event {
  struct queued_event *next;
  long retry;
  size_t type_len, data_len, id_len;
  char text[]; /* type, data and id, back to back */
};

enum xfer_state {
  XFER_QUEUED,   /* not started yet */
  XFER_RUNNING,  /* in the multi handle */
  XFER_WAITING,  /* between attempts, until wake_ms */
  XFER_DONE,     /* outcome known, waiting to be reported */
  XFER_REPORTED, /* result handed to Lua; resources released */
};

struct xfer {
  /* the request, read once from its Lua table */
  char *url;   /* owned */
  char *where; /* the URL for messages (agent_http_display_url); owned */
  char method[16];
  const char *payload; /* the request body: a Lua string the batch anchors; NULL when none */
  size_t payload_len;
  struct curl_slist *headers; /* owned */
  long timeout_ms, connect_timeout_ms, backoff_ms, backoff_max_ms;
  double deadline_ms; /* no attempt starts at or after it (sys.clock() scale); HUGE_VAL: none */
  size_t max_bytes, max_header_bytes, max_event_bytes;
  int retries;
  unsigned char retry_on[600 / 8]; /* bit per status 0..599 that earns a retry */
  /* final_if_body: a retry status whose body holds one of these is final (owned copies) */
  char *final_if[AGENT_HTTP_FINAL_IF_MAX];
  size_t final_if_len[AGENT_HTTP_FINAL_IF_MAX], n_final_if;
  int streams; /* has on_event */

  /* the transfer */
  CURL *easy;
  enum xfer_state state;
  int attempts;
  double started_ms, wake_ms, elapsed_ms;
  int deadline_bound; /* this attempt's timeout is the time left before the deadline, and no
                         connect timeout can come first: its timeout is the deadline's */
  long status;        /* of the response whose headers are arriving */
  int sse_on;         /* this response's body goes through the SSE parser */
  struct agent_sse sse;
  struct queued_event *events, **events_tail;
  size_t events_queued;        /* in this attempt: a transfer that streamed is not retried */
  struct agent_buf body, head; /* response body; header lines of the latest response */
  const char *abort_code;      /* why a callback stopped the transfer: "toobig", "aborted" */
  const char *abort_what;
  size_t abort_limit;     /* the cap that was hit, for the message; 0 when none */
  double refused_wait_ms; /* a Retry-After not waited for (past the deadline); -1: none */
  /* the outcome, once XFER_DONE */
  const char *fail_code; /* NULL: a response */
  /* our words (under 64 bytes), a system message and curl's error text fit whole */
  char fail_reason[64 + REASON_WHY_MAX + CURL_ERROR_SIZE];
  char errbuf[CURL_ERROR_SIZE];
};

struct batch {
  const struct curl_api *curl; /* the state's libcurl, which outlives every batch */
  CURLM *multi;
  struct xfer *x;
  size_t n, parallel, running;
  size_t *done; /* indices in the order their outcomes became known */
  size_t done_head, done_tail;
  uint64_t rng; /* xorshift state for retry jitter */
};

static int retry_bit(const struct xfer *x, long status)
{
  return status >= 0 && status < 600 && (x->retry_on[status / 8] >> (status % 8) & 1);
}

static void set_retry_bit(struct xfer *x, long status)
{
  x->retry_on[status / 8] |= (unsigned char)(1u << (status % 8));
}

static void free_events(struct xfer *x)
{
  while (x->events) {
    struct queued_event *e = x->events;
    x->events = e->next;
    free(e);
  }
  x->events_tail = &x->events;
}

/* Releases what one transfer holds; safe on a half-built or already released one. */
static void xfer_release(struct batch *b, struct xfer *x)
{
  if (x->easy) {
    if (x->state == XFER_RUNNING) {
      b->curl->multi_remove_handle(b->multi, x->easy);
      b->running--;
    }
    b->curl->easy_cleanup(x->easy);
    x->easy = NULL;
  }
  b->curl->slist_free_all(x->headers);
  x->headers = NULL;
  free(x->url);
  free(x->where);
  x->url = x->where = NULL;
  for (size_t k = 0; k < x->n_final_if; k++)
    free(x->final_if[k]);
  x->n_final_if = 0;
  agent_buf_free(&x->body);
  agent_buf_free(&x->head);
  agent_sse_free(&x->sse);
  free_events(x);
}

/* Idempotent: __gc, the error path of a callback and the normal end all come here. Every
 * easy handle leaves the multi handle before either is cleaned up, as libcurl requires. */
static void batch_close(struct batch *b)
{
  for (size_t i = 0; b->x && i < b->n; i++)
    xfer_release(b, &b->x[i]);
  free(b->x);
  free(b->done);
  b->x = NULL;
  b->done = NULL;
  b->n = 0;
  if (b->multi)
    b->curl->multi_cleanup(b->multi);
  b->multi = NULL;
}

/* __gc(batch) and __close(batch): releases every transfer and the multi handle. */
static int batch_gc(lua_State *L)
{
  batch_close(luaL_checkudata(L, 1, BATCH_MT));
  return 0;
}

static double random01(struct batch *b)
{
  b->rng ^= b->rng << 13;
  b->rng ^= b->rng >> 7;
  b->rng ^= b->rng << 17;
  return (double)(b->rng >> 11) / 9007199254740992.0; /* 2^53 */
}

/* ---- libcurl callbacks: record and return, never touch Lua --------------------------- */

static size_t stop_transfer(struct xfer *x, const char *code, const char *what, size_t limit)
{
  x->abort_code = code;
  x->abort_what = what;
  x->abort_limit = limit;
  return CURL_WRITEFUNC_ERROR;
}

static int queue_event(void *ud, const struct agent_sse_event *ev)
{
  struct xfer *x = ud;
  size_t size = ev->type_len + ev->data_len + ev->id_len;
  struct queued_event *e = malloc(sizeof(*e) + size);
  if (!e)
    return 1;
  e->next = NULL;
  e->retry = ev->retry;
  e->type_len = ev->type_len;
  e->data_len = ev->data_len;
  e->id_len = ev->id_len;
  memcpy(e->text, ev->type, ev->type_len);
  if (ev->data_len)
    memcpy(e->text + ev->type_len, ev->data, ev->data_len);
  if (ev->id_len)
    memcpy(e->text + ev->type_len + ev->data_len, ev->id, ev->id_len);
  *x->events_tail = e;
  x->events_tail = &e->next;
  x->events_queued++;
  return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
  struct xfer *x = ud;
  n *= size;
  if (n > x->max_bytes - x->body.len)
    return stop_transfer(x, "toobig", "response body larger than max_bytes", x->max_bytes);
  if (agent_buf_add(&x->body, p, n) != 0)
    return stop_transfer(x, "aborted", "out of memory", 0);
  if (x->sse_on) {
    int rc = agent_sse_feed(&x->sse, p, n);
    if (rc == AGENT_SSE_ETOOLONG)
      return stop_transfer(x, "toobig", "server-sent event larger than its cap", x->sse.max_line);
    if (rc)
      return stop_transfer(x, "aborted", "out of memory", 0);
  }
  return n;
}

/* The blank line after a final response's headers: decide how its body is handled, and
 * refuse an announced body over the cap before a byte of it arrives. */
static size_t on_headers_end(struct xfer *x)
{
  x->sse_on = x->streams && x->status >= 200 && x->status < 300;
  if (x->sse_on) {
    size_t cap = x->max_bytes < x->max_event_bytes ? x->max_bytes : x->max_event_bytes;
    agent_sse_free(&x->sse); /* a proxy's CONNECT reply came first: start afresh */
    agent_sse_init(&x->sse, cap, queue_event, x);
  }
  /* HEAD replies announce a body they never send. */
  if (strcmp(x->method, "HEAD") != 0 &&
      agent_http_announces_too_big(x->head.p, x->head.len, x->max_bytes))
    return stop_transfer(x, "toobig", "response body larger than max_bytes", x->max_bytes);
  return 0;
}

/* libcurl passes one complete header line per call, for every response it reads (1xx
 * interim replies and a proxy's CONNECT reply too); a status line starts a new head. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
  struct xfer *x = ud;
  n *= size;
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    x->head.len = 0;
    x->status = agent_http_parse_status(p, n);
    x->sse_on = 0;
  }
  if (n > x->max_header_bytes - x->head.len)
    return stop_transfer(x, "toobig", "response headers larger than max_header_bytes",
                         x->max_header_bytes);
  if (agent_buf_add(&x->head, p, n) != 0)
    return stop_transfer(x, "aborted", "out of memory", 0);
  if ((n == 2 && p[0] == '\r') || (n == 1 && p[0] == '\n'))
    if (x->status >= 200 && on_headers_end(x))
      return CURL_WRITEFUNC_ERROR;
  return n;
}

/* ---- Attempts ---------------------------------------------------------------------- */

static CURL *new_easy(const struct curl_api *curl, struct xfer *x)
{
  CURL *e = curl->easy_init();
  if (!e)
    return NULL;
  if (curl->easy_setopt(e, CURLOPT_URL, x->url) != CURLE_OK) {
    curl->easy_cleanup(e);
    return NULL;
  }
  /* No CURLOPT_PROXY: left unset, libcurl reads http_proxy, https_proxy and no_proxy from
   * the environment itself, which is the contract. */
  curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* signals belong to the host, not to DNS timeouts */
  curl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, x->connect_timeout_ms);
  curl->easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding this libcurl decodes */
  curl->easy_setopt(e, CURLOPT_USERAGENT, "agent/" AGENT_VERSION);
  curl->easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
  curl->easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf); /* lives as long as the handle */
  curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl->easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl->easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl->easy_setopt(e, CURLOPT_PRIVATE, x);
  int has_body = x->payload != NULL;
  if (has_body) {
    curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->payload_len);
    curl->easy_setopt(e, CURLOPT_POSTFIELDS, x->payload); /* not copied: the batch anchors it */
  }
  if (strcmp(x->method, "HEAD") == 0)
    curl->easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(x->method, has_body ? "POST" : "GET") != 0)
    curl->easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
  return e;
}

/* Starts an attempt; the caller has checked that the deadline is still ahead (now <
 * x->deadline_ms), so the time left is positive. */
static void start_attempt(lua_State *L, struct batch *b, struct xfer *x, double now)
{
  if (!x->easy) {
    x->easy = new_easy(b->curl, x);
    if (!x->easy)
      luaL_error(L, "http: cannot create a transfer (out of memory)");
  }
  /* Capped to the time left before the deadline, rounded up: curl's 0 would mean "never" */
  long timeout_ms = x->timeout_ms;
  if (x->deadline_ms - now < (double)timeout_ms)
    timeout_ms = (long)ceil(x->deadline_ms - now);
  x->deadline_bound = timeout_ms < x->timeout_ms && timeout_ms <= x->connect_timeout_ms;
  b->curl->easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  x->body.len = x->head.len = 0;
  x->status = 0;
  x->sse_on = 0;
  agent_sse_free(&x->sse);
  x->events_queued = 0;
  x->abort_code = x->abort_what = NULL;
  x->abort_limit = 0;
  x->refused_wait_ms = -1;
  x->fail_code = NULL;
  x->errbuf[0] = '\0';
  CURLMcode mc = b->curl->multi_add_handle(b->multi, x->easy);
  if (mc != CURLM_OK)
    luaL_error(L, "http: %s", b->curl->multi_strerror(mc));
  if (x->attempts == 0)
    x->started_ms = now;
  x->attempts++;
  x->state = XFER_RUNNING;
  b->running++;
}

static void finish(struct batch *b, struct xfer *x, double now)
{
  x->state = XFER_DONE;
  x->elapsed_ms = x->attempts ? now - x->started_ms : 0;
  b->done[b->done_tail++] = (size_t)(x - b->x);
}

/* Why the attempt failed, as a failure code and a one-line reason. */
static void classify(struct batch *b, struct xfer *x, CURLcode rc, double now)
{
  if (x->abort_code) { /* one of our callbacks stopped it */
    x->fail_code = x->abort_code;
    if (x->abort_limit)
      snprintf(x->fail_reason, sizeof(x->fail_reason), "%s (%zu bytes)", x->abort_what,
               x->abort_limit);
    else
      snprintf(x->fail_reason, sizeof(x->fail_reason), "%s", x->abort_what);
    return;
  }
  struct agent_http_failure f = agent_http_classify(rc, b->curl->easy_strerror(rc));
  const char *what = f.what;
  x->fail_code = f.code;
  /* The attempt's timeout was cut to the deadline (start_attempt): a timeout at or past the
   * deadline is the deadline's doing, and so is any timeout of an attempt whose cut timeout
   * comes before its connect timeout (curl counts whole milliseconds and may stop a fraction
   * of one before our clock reaches the deadline). */
  if (rc == CURLE_OPERATION_TIMEDOUT && (now >= x->deadline_ms || x->deadline_bound))
    what = "the deadline passed";
  /* For a failed connection the system's word ("Connection refused") says most; curl's own
   * text is kept only when it adds something: another host than the URL's (a proxy). */
  char why[REASON_WHY_MAX] = "";
  long os_errno = 0;
  if (rc == CURLE_COULDNT_CONNECT) {
    b->curl->easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno)
      snprintf(why, sizeof(why), ": %s", strerror((int)os_errno));
  }
  int said = (rc == CURLE_COULDNT_CONNECT && os_errno) || rc == CURLE_COULDNT_RESOLVE_HOST;
  const char *detail = said && agent_http_detail_redundant(x->errbuf, x->url) ? "" : x->errbuf;
  agent_http_reason(x->fail_reason, sizeof(x->fail_reason), what, why, detail);
}

/* A failure worth another attempt: the connection failed or broke before anything reached
 * the caller. DNS and TLS failures are not (they do not heal in seconds), nor a timeout
 * once connected (it already took the whole budget). */
static int transient(const struct batch *b, struct xfer *x, CURLcode rc)
{
  if (x->abort_code || x->events_queued > 0)
    return 0;
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    curl_off_t connect_us = 0;
    b->curl->easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    return connect_us == 0;
  }
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR ||
         rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE;
}

/* Exponential backoff with "equal jitter": half the delay fixed, half random, so clients
 * that failed together spread out yet still back off. */
static double backoff_delay(struct batch *b, const struct xfer *x)
{
  double d = (double)x->backoff_ms;
  for (int k = 1; k < x->attempts && d < (double)x->backoff_max_ms; k++)
    d *= 2;
  if (d > (double)x->backoff_max_ms)
    d = (double)x->backoff_max_ms;
  return d / 2 + d / 2 * random01(b);
}

/* The wait the response's Retry-After header asks for, in ms: -1 without a usable one. */
static double retry_after_ms(const struct batch *b, const struct xfer *x)
{
  size_t n;
  const char *v = agent_http_header_value(x->head.p, x->head.len, "retry-after", &n);
  return v ? agent_http_retry_after_ms(v, n, time(NULL), b->curl->getdate) : -1;
}

/* Whether the response's body holds one of the request's final_if_body strings: an error
 * waiting cannot clear (OpenAI's 429 insufficient_quota), so no retry. */
static int final_body(const struct xfer *x)
{
  for (size_t k = 0; k < x->n_final_if; k++)
    if (agent_find_bytes(x->body.p, x->body.len, x->final_if[k], x->final_if_len[k]))
      return 1;
  return 0;
}

/* The wait before retrying a response with a retry status, or -1 for none. The server's
 * Retry-After is honoured whenever the retry could still start in time: before the deadline,
 * or without one within a single attempt's timeout. Past that the caller gets the response
 * at once, with the wait it was asked for (res.retry_after), rather than waiting in vain. */
static double response_delay(struct batch *b, struct xfer *x, double now)
{
  if (!retry_bit(x, x->status) || final_body(x))
    return -1;
  double asked = retry_after_ms(b, x);
  if (asked < 0)
    return backoff_delay(b, x);
  double limit = isfinite(x->deadline_ms) ? x->deadline_ms - now : (double)x->timeout_ms;
  if (asked >= limit && x->attempts <= x->retries) {
    x->refused_wait_ms = asked;
    return -1;
  }
  return asked;
}

/* One attempt ended with curl's verdict rc: schedule another, or settle the outcome. No
 * wait may end at or past the deadline, since no attempt could start after it. */
static void attempt_done(struct batch *b, struct xfer *x, CURLcode rc)
{
  double now = agent_monotonic_ms(), delay = -1;
  b->curl->multi_remove_handle(b->multi, x->easy);
  b->running--;
  if (rc == CURLE_OK) {
    b->curl->easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    delay = response_delay(b, x, now);
  } else {
    classify(b, x, rc, now);
    if (transient(b, x, rc))
      delay = backoff_delay(b, x);
  }
  if (delay >= 0 && x->attempts <= x->retries && now + delay < x->deadline_ms) {
    x->state = XFER_WAITING;
    x->wake_ms = now + delay;
    free_events(x);
    return;
  }
  finish(b, x, now);
}

/* ==== The poll loop ======================================================================== */

struct run {
  lua_State *L;
  struct batch *b;
  int self;    /* stack index of the batch userdata */
  int results; /* stack index of the results array */
  int on_done; /* stack index of on_done, or 0 */
};

/* The deadline came before x's next attempt could start. A request never started (still
 * queued for a free slot) fails with "timeout"; one between attempts keeps the outcome of
 * its last (attempt_done schedules no wait past the deadline: the loop woke late). */
static void miss_deadline(struct batch *b, struct xfer *x, double now)
{
  if (x->state == XFER_QUEUED) {
    x->fail_code = "timeout";
    snprintf(x->fail_reason, sizeof(x->fail_reason),
             "the deadline passed before the request started");
  }
  finish(b, x, now);
}

/* Starts every attempt that is due while slots are free, and ends those whose deadline
 * came first, free slot or not. */
static void start_due(struct run *r)
{
  struct batch *b = r->b;
  double now = agent_monotonic_ms();
  for (size_t i = 0; i < b->n; i++) {
    struct xfer *x = &b->x[i];
    if (x->state != XFER_QUEUED && !(x->state == XFER_WAITING && x->wake_ms <= now))
      continue;
    if (now >= x->deadline_ms)
      miss_deadline(b, x, now);
    else if (b->running < b->parallel)
      start_attempt(r->L, b, x, now);
  }
}

static void perform(struct run *r)
{
  const struct curl_api *curl = r->b->curl;
  int still_running, left;
  CURLMcode mc = curl->multi_perform(r->b->multi, &still_running);
  if (mc != CURLM_OK)
    luaL_error(r->L, "http: %s", curl->multi_strerror(mc));
  for (CURLMsg *m = curl->multi_info_read(r->b->multi, &left); m;
       m = curl->multi_info_read(r->b->multi, &left)) {
    if (m->msg != CURLMSG_DONE)
      continue;
    char *priv = NULL;
    curl->easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
    attempt_done(r->b, (struct xfer *)(void *)priv, m->data.result); /* m dies here */
  }
}

/* SIGINT or SIGTERM: stop every transfer now; each reports "interrupted". */
static void interrupt_all(struct batch *b)
{
  double now = agent_monotonic_ms();
  for (size_t i = 0; i < b->n; i++) {
    struct xfer *x = &b->x[i];
    if (x->state >= XFER_DONE)
      continue;
    if (x->state == XFER_RUNNING) {
      b->curl->multi_remove_handle(b->multi, x->easy);
      b->running--;
    }
    free_events(x);
    x->fail_code = "interrupted";
    snprintf(x->fail_reason, sizeof(x->fail_reason), "interrupted");
    finish(b, x, now);
  }
}

/* Calls the function under nargs arguments. If it raises, every transfer is released at
 * once (not at some later collection) and the callback's own error value is re-raised. */
static void call_back(struct run *r, int nargs)
{
  if (lua_pcall(r->L, nargs, 0, 0) != LUA_OK) {
    batch_close(r->b);
    lua_error(r->L);
  }
}

/* ev = {event=, data=, id= (when set), retry= (ms, when set)} */
static void push_event(lua_State *L, const struct queued_event *e)
{
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, e->text, e->type_len);
  lua_setfield(L, -2, "event");
  lua_pushlstring(L, e->text + e->type_len, e->data_len);
  lua_setfield(L, -2, "data");
  if (e->id_len) {
    lua_pushlstring(L, e->text + e->type_len + e->data_len, e->id_len);
    lua_setfield(L, -2, "id");
  }
  if (e->retry >= 0) {
    lua_pushinteger(L, e->retry);
    lua_setfield(L, -2, "retry");
  }
}

static void deliver_events(struct run *r)
{
  lua_State *L = r->L;
  for (size_t i = 0; r->b->x && i < r->b->n; i++) {
    struct xfer *x = &r->b->x[i];
    while (x->events) {
      lua_getiuservalue(L, r->self, 2); /* stack: handlers */
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      lua_remove(L, -2); /* stack: on_event */
      struct queued_event *e = x->events;
      push_event(L, e); /* the event stays queued until pushed, so a raise cannot leak it */
      x->events = e->next;
      if (!x->events)
        x->events_tail = &x->events;
      free(e);
      call_back(r, 1);
    }
  }
}

static void add_header(lua_State *L, const char *name, size_t name_len, const char *value,
                       size_t value_len, const char *sep)
{
  luaL_Buffer lb; /* stack: headers */
  char *lower = luaL_buffinitsize(L, &lb, name_len);
  for (size_t i = 0; i < name_len; i++)
    lower[i] = agent_ascii_lower(name[i]);
  luaL_pushresultsize(&lb, name_len); /* stack: headers name */
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -3) == LUA_TSTRING) { /* stack: headers name old */
    lua_pushstring(L, sep);
    lua_pushlstring(L, value, value_len);
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
    lua_pushlstring(L, value, value_len);
  }
  lua_rawset(L, -3);
}

/* Adds each header of a response to the headers table on top of the stack. */
static int push_header(void *ud, const char *name, size_t name_len, const char *value,
                       size_t value_len, int folded)
{
  add_header(ud, name, name_len, value, value_len, folded ? " " : ", ");
  return 0;
}

/* res = {status=, headers={lower-case name = value, repeats joined with ", "}, body=,
 * attempts=, elapsed_ms= [, retry_after= (seconds the server asked to wait, not waited for:
 * past the deadline)]} */
static void push_response(lua_State *L, const struct xfer *x)
{
  lua_createtable(L, 0, 6);
  if (x->refused_wait_ms >= 0) {
    lua_pushnumber(L, x->refused_wait_ms / 1e3);
    lua_setfield(L, -2, "retry_after");
  }
  lua_pushinteger(L, x->status);
  lua_setfield(L, -2, "status");
  lua_newtable(L);
  agent_http_each_header(x->head.p, x->head.len, push_header, L);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, x->body.p ? x->body.p : "", x->body.len);
  lua_setfield(L, -2, "body");
}

static void push_timing(lua_State *L, const struct xfer *x)
{
  lua_pushinteger(L, x->attempts);
  lua_setfield(L, -2, "attempts");
  lua_pushinteger(L, (lua_Integer)(x->elapsed_ms + 0.5));
  lua_setfield(L, -2, "elapsed_ms");
}

/* Stores results[i] and calls on_done(i, res) or on_done(i, nil, msg, code). */
static void report(struct run *r, size_t i)
{
  lua_State *L = r->L;
  struct xfer *x = &r->b->x[i];
  int base = lua_gettop(L);
  if (r->on_done)
    lua_pushvalue(L, r->on_done);
  lua_pushinteger(L, (lua_Integer)i + 1);
  if (!x->fail_code) {
    push_response(L, x); /* stack: [on_done] i res */
    push_timing(L, x);
    lua_pushvalue(L, -1);
    lua_rawseti(L, r->results, (lua_Integer)i + 1);
  } else {
    lua_pushnil(L);
    if (x->attempts > 1) /* as an HTTP error's message says, so a retried failure is seen as one */
      lua_pushfstring(L, "%s '%s': %s (after %d attempts)", x->method, x->where, x->fail_reason,
                      x->attempts);
    else
      lua_pushfstring(L, "%s '%s': %s", x->method, x->where, x->fail_reason);
    lua_pushstring(L, x->fail_code); /* stack: [on_done] i nil msg code */
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "error");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "code");
    push_timing(L, x);
    lua_rawseti(L, r->results, (lua_Integer)i + 1);
  }
  xfer_release(r->b, x); /* the body now lives in Lua: free the C copy and the handle */
  x->state = XFER_REPORTED;
  if (r->on_done)
    call_back(r, x->fail_code ? 4 : 2);
  else
    lua_settop(L, base);
}

/* Sleeps until a socket is ready, curl has a timer due, a retry wakes, a queued request's
 * deadline comes, or one slice passes. */
static void wait_for_activity(struct run *r)
{
  struct batch *b = r->b;
  double now = agent_monotonic_ms(), timeout = HTTP_POLL_SLICE_MS;
  for (size_t i = 0; i < b->n; i++) {
    const struct xfer *x = &b->x[i];
    double wake = HUGE_VAL;
    if (x->state == XFER_WAITING)
      wake = x->wake_ms;
    else if (x->state == XFER_QUEUED)
      wake = b->running < b->parallel ? now : x->deadline_ms;
    if (wake - now < timeout)
      timeout = wake - now;
  }
  CURLMcode mc = b->curl->multi_poll(b->multi, NULL, 0, timeout > 0 ? (int)ceil(timeout) : 0, NULL);
  if (mc != CURLM_OK)
    luaL_error(r->L, "http: %s", b->curl->multi_strerror(mc));
}

static void run_batch(struct run *r)
{
  struct batch *b = r->b;
  size_t reported = 0, n = b->n;
  while (reported < n) {
    if (agent_signal_pending()) {
      interrupt_all(b);
    } else {
      start_due(r);
      perform(r);
    }
    deliver_events(r); /* a transfer's last events come before its result */
    while (b->done_head < b->done_tail) {
      report(r, b->done[b->done_head++]);
      reported++;
    }
    if (reported < n)
      wait_for_activity(r);
  }
}

/* ==== Reading requests ===================================================================== */

/* Raises "bad argument #1 to 'request_all' (request 3: 'url' must be a string)". label is
 * the request's position in request_all, 0 for request. */
static int request_error(lua_State *L, lua_Integer label, const char *msg)
{
  if (label > 0)
    msg = lua_pushfstring(L, "request %I: %s", (LUAI_UACINT)label, msg);
  return luaL_argerror(L, 1, msg);
}

static int field_error(lua_State *L, lua_Integer label, const char *field, const char *what)
{
  return request_error(L, label, lua_pushfstring(L, "'%s' %s", field, what));
}

/* An optional number of seconds, as milliseconds. */
static long field_ms(lua_State *L, int t, lua_Integer label, const char *field, long dflt,
                     int zero_ok)
{
  long ms = dflt;
  if (agent_rawfield(L, t, field) != LUA_TNIL) {
    int isnum = 0;
    lua_Number s = lua_tonumberx(L, -1, &isnum);
    if (!isnum || !(s > 0 || (zero_ok && s == 0)) || s > AGENT_HTTP_TIMEOUT_MAX_S)
      field_error(L, label, field, zero_ok ? "must be seconds (>= 0)" : "must be seconds (> 0)");
    ms = (long)ceil(s * 1e3);
  }
  lua_pop(L, 1);
  return ms;
}

/* The optional `deadline`: an absolute time in ms on sys.clock()'s monotonic scale (the
 * clock agent_monotonic_ms reads), HUGE_VAL without one. One in the past is allowed: the request
 * then fails at once without connecting, as a caller that computed it late would want. */
static double field_deadline(lua_State *L, int t, lua_Integer label)
{
  double ms = HUGE_VAL;
  if (agent_rawfield(L, t, "deadline") != LUA_TNIL) {
    int isnum = 0;
    ms = (double)lua_tonumberx(L, -1, &isnum);
    if (!isnum || isnan(ms))
      field_error(L, label, "deadline", "must be a time in ms on the sys.clock() scale");
  }
  lua_pop(L, 1);
  return ms;
}

static lua_Integer field_int(lua_State *L, int t, lua_Integer label, const char *field,
                             lua_Integer dflt, lua_Integer min, lua_Integer max)
{
  lua_Integer v = dflt;
  if (agent_rawfield(L, t, field) != LUA_TNIL) {
    int isint = 0;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < min || v > max)
      field_error(
          L, label, field,
          lua_pushfstring(L, "must be an integer in %I..%I", (LUAI_UACINT)min, (LUAI_UACINT)max));
  }
  lua_pop(L, 1);
  return v;
}

static int is_token_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void read_method(lua_State *L, int t, lua_Integer label, struct xfer *x)
{
  size_t n = 0;
  const char *m = NULL;
  if (agent_rawfield(L, t, "method") == LUA_TNIL) {
    m = x->payload ? "POST" : "GET";
    n = strlen(m);
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    m = lua_tolstring(L, -1, &n);
  }
  int ok = m && n > 0 && n < sizeof(x->method);
  for (size_t i = 0; ok && i < n; i++)
    ok = m[i] >= 'A' && m[i] <= 'Z';
  if (!ok)
    field_error(L, label, "method", "must be an upper-case HTTP method such as \"POST\"");
  memcpy(x->method, m, n);
  x->method[n] = '\0';
  lua_pop(L, 1);
}

/* One "Name: value" line for curl. Names are tokens; values may not hold line breaks,
 * which would let a value smuggle in headers of its own. */
static void add_request_header(lua_State *L, lua_Integer label, const struct curl_api *curl,
                               struct xfer *x)
{
  /* stack: ... name value */
  size_t nlen, vlen;
  const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &nlen) : NULL;
  int ok = name && nlen > 0;
  for (size_t i = 0; ok && i < nlen; i++)
    ok = is_token_char((unsigned char)name[i]);
  if (!ok)
    field_error(L, label, "headers", "must map header names (tokens) to values");
  if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
    request_error(L, label, lua_pushfstring(L, "header '%s' must be a string", name));
  const char *value = lua_tolstring(L, -1, &vlen); /* a number becomes a string in place */
  if (memchr(value, '\r', vlen) || memchr(value, '\n', vlen) || strlen(value) != vlen)
    request_error(L, label, lua_pushfstring(L, "header '%s' holds a line break or NUL", name));
  /* curl sends "Name;" as an empty header, while "Name:" would remove one of its own */
  const char *line =
      vlen ? lua_pushfstring(L, "%s: %s", name, value) : lua_pushfstring(L, "%s;", name);
  struct curl_slist *l = curl->slist_append(x->headers, line);
  if (!l)
    luaL_error(L, "http: out of memory");
  x->headers = l;
  lua_pop(L, 1); /* the line */
}

/* Whether the headers table at index t names `lower` in any letter case. */
static int has_header(lua_State *L, int t, const char *lower)
{
  size_t want = strlen(lower);
  for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
    size_t n;
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
    int same = k && n == want;
    for (size_t i = 0; same && i < n; i++)
      same = agent_ascii_lower(k[i]) == lower[i];
    if (same) {
      lua_pop(L, 2); /* key and value: the traversal ends early */
      return 1;
    }
  }
  return 0;
}

static void read_headers(lua_State *L, int t, lua_Integer label, const struct curl_api *curl,
                         struct xfer *x)
{
  int type = agent_rawfield(L, t, "headers");
  if (type != LUA_TNIL && type != LUA_TTABLE)
    field_error(L, label, "headers", "must be a table");
  int headers = lua_gettop(L);
  if (type == LUA_TTABLE) {
    for (lua_pushnil(L); lua_next(L, headers); lua_pop(L, 1)) {
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2); /* stack: headers k v k v (copies: lua_next needs k untouched) */
      add_request_header(L, label, curl, x);
      lua_pop(L, 2);
    }
  }
  /* curl would send "Expect: 100-continue" for large bodies and stall a second on servers
   * that ignore it; an empty Expect turns that off unless the caller set one. */
  if (type != LUA_TTABLE || !has_header(L, headers, "expect")) {
    struct curl_slist *l = curl->slist_append(x->headers, "Expect:");
    if (!l)
      luaL_error(L, "http: out of memory");
    x->headers = l;
  }
  lua_pop(L, 1);
}

static void read_retry_statuses(lua_State *L, int t, lua_Integer label, struct xfer *x)
{
  int type = agent_rawfield(L, t, "retry_statuses");
  if (type == LUA_TNIL) {
    for (size_t i = 0; i < sizeof(DEFAULT_RETRY_STATUSES) / sizeof(DEFAULT_RETRY_STATUSES[0]); i++)
      set_retry_bit(x, DEFAULT_RETRY_STATUSES[i]);
  } else if (type != LUA_TTABLE) {
    field_error(L, label, "retry_statuses", "must be an array of status codes");
  } else {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer k = 1; k <= n; k++) {
      int isint = 0;
      lua_rawgeti(L, -1, k);
      lua_Integer status = lua_tointegerx(L, -1, &isint);
      if (!isint || status < 100 || status > 599)
        field_error(L, label, "retry_statuses", "must be an array of status codes (100..599)");
      set_retry_bit(x, (long)status);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* final_if_body = {plain strings}: copied, since the caller may change its table. */
static void read_final_if(lua_State *L, int t, lua_Integer label, struct xfer *x)
{
  int type = agent_rawfield(L, t, "final_if_body");
  if (type != LUA_TNIL && type != LUA_TTABLE)
    field_error(L, label, "final_if_body", "must be an array of strings");
  lua_Integer n = type == LUA_TTABLE ? (lua_Integer)lua_rawlen(L, -1) : 0;
  if (n > AGENT_HTTP_FINAL_IF_MAX)
    field_error(L, label, "final_if_body",
                lua_pushfstring(L, "holds more than %d strings", AGENT_HTTP_FINAL_IF_MAX));
  for (lua_Integer k = 1; k <= n; k++) {
    size_t len;
    if (lua_rawgeti(L, -1, k) != LUA_TSTRING)
      field_error(L, label, "final_if_body", "must be an array of strings");
    const char *v = lua_tolstring(L, -1, &len);
    if (len == 0)
      field_error(L, label, "final_if_body", "must not hold an empty string");
    char *copy = malloc(len);
    if (!copy)
      luaL_error(L, "http: out of memory");
    memcpy(copy, v, len);
    x->final_if[x->n_final_if] = copy;
    x->final_if_len[x->n_final_if++] = len;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Reads the request table at index t into x. Bodies and on_event handlers are anchored in
 * the batch's user values (self) so they outlive any change the caller makes to its tables. */
static void read_request(lua_State *L, int self, int t, size_t i, lua_Integer label)
{
  struct batch *b = lua_touserdata(L, self);
  struct xfer *x = &b->x[i];
  if (agent_rawfield(L, t, "url") != LUA_TSTRING)
    field_error(L, label, "url", "must be a string");
  const char *url = lua_tostring(L, -1);
  x->url = strdup(url);
  x->where = agent_http_display_url(url);
  if (!x->url || !x->where)
    luaL_error(L, "http: out of memory");
  lua_pop(L, 1);

  int type = agent_rawfield(L, t, "body");
  if (type == LUA_TSTRING) {
    x->payload = lua_tolstring(L, -1, &x->payload_len);
    lua_getiuservalue(L, self, 1);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)i + 1); /* bodies[i] = body */
    lua_pop(L, 1);
  } else if (type != LUA_TNIL) {
    field_error(L, label, "body", "must be a string");
  }
  lua_pop(L, 1);

  read_method(L, t, label, x);
  read_headers(L, t, label, b->curl, x);
  read_retry_statuses(L, t, label, x);
  read_final_if(L, t, label, x);
  x->timeout_ms = field_ms(L, t, label, "timeout", AGENT_HTTP_TIMEOUT_MS, 0);
  x->connect_timeout_ms =
      field_ms(L, t, label, "connect_timeout", AGENT_HTTP_CONNECT_TIMEOUT_MS, 0);
  x->backoff_ms = field_ms(L, t, label, "backoff", AGENT_HTTP_BACKOFF_MS, 1);
  x->backoff_max_ms = field_ms(L, t, label, "backoff_max", AGENT_HTTP_BACKOFF_MAX_MS, 1);
  x->max_bytes = (size_t)field_int(L, t, label, "max_bytes", AGENT_HTTP_BODY_MAX, 0,
                                   (lua_Integer)(SIZE_MAX / 2));
  x->max_header_bytes = (size_t)field_int(L, t, label, "max_header_bytes", AGENT_HTTP_HEADERS_MAX,
                                          1, (lua_Integer)(SIZE_MAX / 2));
  x->retries = (int)field_int(L, t, label, "retries", 0, 0, AGENT_HTTP_RETRIES_MAX);
  x->max_event_bytes = (size_t)field_int(L, t, label, "max_event_bytes", AGENT_SSE_LINE_MAX, 1,
                                         (lua_Integer)(SIZE_MAX / 2));
  x->deadline_ms = field_deadline(L, t, label);

  type = agent_rawfield(L, t, "on_event");
  if (type == LUA_TFUNCTION) {
    x->streams = 1;
    lua_getiuservalue(L, self, 2);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)i + 1); /* handlers[i] = on_event */
    lua_pop(L, 1);
  } else if (type != LUA_TNIL) {
    field_error(L, label, "on_event", "must be a function");
  }
  lua_pop(L, 1);
}

/* Pushes a batch of n transfers, to-be-closed. Everything it allocates hangs off the userdata
 * at once, so a raise anywhere later (bad field, no memory, an error from on_done) releases
 * every easy handle and socket right then, through __close, not at some later collection. */
static struct batch *new_batch(lua_State *L, const struct curl_api *curl, size_t n, size_t parallel)
{
  struct batch *b = agent_pushbox(L, sizeof(*b), 2, BATCH_MT);
  b->curl = curl;
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1); /* request bodies, by index */
  lua_newtable(L);
  lua_setiuservalue(L, -2, 2); /* on_event handlers, by index */
  b->x = calloc(n, sizeof(*b->x));
  b->done = calloc(n, sizeof(*b->done));
  b->multi = curl->multi_init();
  if (!b->x || !b->done || !b->multi)
    luaL_error(L, "http: out of memory");
  b->n = n;
  b->parallel = parallel;
  for (size_t i = 0; i < n; i++)
    b->x[i].events_tail = &b->x[i].events;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  b->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)b;
  if (!b->rng)
    b->rng = 0x9e3779b97f4a7c15u;
  return b;
}

/* ==== The module =========================================================================== */

/* This state's libcurl, loaded by the first call that sends a request (the upvalue every
 * module function holds). NULL when it cannot be loaded, with the one-line reason pushed;
 * the next call tries again, so installing libcurl mid-session is enough. */
static const struct curl_api *state_curl(lua_State *L)
{
  struct curl_lib *lib = lua_touserdata(L, lua_upvalueindex(1));
  char msg[512];
  if (!lib->dl && agent_curl_load(lib, msg, sizeof(msg)) != 0) {
    lua_pushstring(L, msg);
    return NULL;
  }
  return &lib->api;
}

/* Turns the reason state_curl pushed into: nil, msg, "unavailable". */
static int curl_unavailable(lua_State *L)
{
  luaL_pushfail(L);
  lua_insert(L, -2);
  lua_pushliteral(L, "unavailable");
  return 3;
}

/* http.request(req) -> res | nil, msg, code */
static int http_request(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  const struct curl_api *curl = state_curl(L);
  if (!curl)
    return curl_unavailable(L);
  struct batch *b = new_batch(L, curl, 1, 1); /* stack: req batch */
  read_request(L, 2, 1, 0, 0);
  lua_createtable(L, 1, 0); /* stack: req batch results */
  struct run r = {L, b, 2, 3, 0};
  run_batch(&r);
  batch_close(b);
  lua_rawgeti(L, 3, 1);
  if (lua_getfield(L, -1, "error") == LUA_TNIL) {
    lua_pop(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_insert(L, -2); /* stack: ... entry nil msg */
  lua_getfield(L, -3, "code");
  return 3;
}

/* http.request_all(reqs [, {parallel=, on_done=}]) -> {res | {error=, code=}} | nil, msg, code */
static int http_request_all(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_Integer parallel = AGENT_HTTP_PARALLEL_MAX;
  int has_opts = lua_istable(L, 2);
  if (has_opts) {
    parallel = agent_optfield_int(L, 2, "parallel", AGENT_HTTP_PARALLEL_MAX);
    luaL_argcheck(L, parallel >= 1, 2, "'parallel' must be at least 1");
    agent_rawfield(L, 2, "on_done");
  } else {
    lua_pushnil(L);
  }
  luaL_argcheck(L, lua_isnil(L, 3) || lua_isfunction(L, 3), 2, "'on_done' must be a function");
  size_t n = lua_rawlen(L, 1);
  if (n == 0) {
    lua_newtable(L); /* nothing to send: no libcurl needed */
    return 1;
  }
  const struct curl_api *curl = state_curl(L);
  if (!curl)
    return curl_unavailable(L);
  lua_createtable(L, (int)(n < 1024 ? n : 1024), 0);         /* stack: reqs opts on_done results */
  struct batch *b = new_batch(L, curl, n, (size_t)parallel); /* stack: ... results batch */
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, 1, (lua_Integer)i + 1) != LUA_TTABLE)
      luaL_argerror(L, 1, lua_pushfstring(L, "request %I must be a table", (LUAI_UACINT)(i + 1)));
    read_request(L, 5, lua_gettop(L), i, (lua_Integer)i + 1);
    lua_pop(L, 1);
  }
  struct run r = {L, b, 5, 4, lua_isnil(L, 3) ? 0 : 3};
  run_batch(&r);
  batch_close(b);
  lua_settop(L, 4);
  return 1;
}

static const luaL_Reg batch_metamethods[] = {
    {"__close", batch_gc},
    {"__gc", batch_gc},
    {NULL, NULL},
};

static const luaL_Reg curl_lib_metamethods[] = {
    {"__gc", curl_lib_gc},
    {NULL, NULL},
};

static const luaL_Reg http_funcs[] = {
    {"request", http_request},
    {"request_all", http_request_all},
    {NULL, NULL},
};

/* luaopen_agent_http(L) -> the agent.http table. Opening the module loads nothing: libcurl
 * waits for the first request (state_curl), so requiring agent.http, or agent as a whole,
 * stays cheap and works without libcurl. */
int luaopen_agent_http(lua_State *L)
{
  agent_newclass(L, BATCH_MT, NULL, batch_metamethods);

  /* No batch outlives the libcurl it runs on: a running call holds the curl_lib as its
   * upvalue, and Lua runs finalizers in the reverse order their objects got them, so at
   * lua_close every batch (always younger) is closed before curl_lib_gc unloads libcurl. */
  agent_newclass(L, CURL_MT, NULL, curl_lib_metamethods);

  luaL_newlibtable(L, http_funcs); /* stack: M */
  struct curl_lib *lib = lua_newuserdatauv(L, sizeof(*lib), 0);
  memset(lib, 0, sizeof(*lib));
  luaL_setmetatable(L, CURL_MT); /* stack: M lib */
  luaL_setfuncs(L, http_funcs, 1);
  return 1;
}
