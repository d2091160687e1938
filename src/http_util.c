/* Status lines, response headers, Retry-After, display URLs and failure reasons for
 * agent.http: plain C over byte ranges, so the parsing libcurl's callbacks feed can be
 * tested and fuzzed on its own (tests/c/test_http_util.c, tests/fuzz/fuzz_http_util.c). */
#include "http_util.h"

#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* Strips blanks (and a line's CR) from both ends of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
  while (*n > 0 && agent_is_blank(s[0])) {
    s++;
    (*n)--;
  }
  while (*n > 0 && (agent_is_blank(s[*n - 1]) || s[*n - 1] == '\r'))
    (*n)--;
  return s;
}

long agent_http_parse_status(const char *line, size_t n)
{
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  if (n < 5 || memcmp(line, "HTTP/", 5) != 0)
    return 0;
  const char *sp = memchr(line, ' ', n);
  if (!sp)
    return 0;
  size_t rest = n - (size_t)(sp + 1 - line);
  const char *code = sp + 1;
  if (rest < 3 || code[0] == '0' || !is_digit(code[0]) || !is_digit(code[1]) ||
      !is_digit(code[2]) || (rest > 3 && code[3] != ' '))
    return 0;
  return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

/* One line of a head, line end removed: a folded continuation, a header, or nothing. */
static int header_line(const char *p, size_t n, const char **last, size_t *last_len,
                       agent_http_header_fn fn, void *ud)
{
  if (agent_is_blank(p[0])) {
    if (!*last)
      return 0; /* a continuation of nothing */
    const char *v = trim(p, &n);
    return fn(ud, *last, *last_len, v, n, 1);
  }
  const char *colon = memchr(p, ':', n);
  if (!colon || colon == p)
    return 0;
  size_t name_len = (size_t)(colon - p), value_len = n - name_len - 1;
  const char *value = trim(colon + 1, &value_len);
  *last = p;
  *last_len = name_len;
  return fn(ud, p, name_len, value, value_len, 0);
}

int agent_http_each_header(const char *head, size_t len, agent_http_header_fn fn, void *ud)
{
  if (!head || len == 0)
    return 0;
  const char *end = head + len, *nl = memchr(head, '\n', len);
  const char *last = NULL;
  size_t last_len = 0;
  for (const char *p = nl ? nl + 1 : end; p < end;) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((eol ? eol : end) - p);
    if (n > 0 && p[n - 1] == '\r')
      n--;
    int rc = n > 0 ? header_line(p, n, &last, &last_len, fn, ud) : 0;
    if (rc)
      return rc;
    p = eol ? eol + 1 : end;
  }
  return 0;
}

struct header_query {
  const char *name; /* lower-case */
  size_t name_len;
  const char *value;
  size_t value_len;
};

static int match_header(void *ud, const char *name, size_t name_len, const char *value,
                        size_t value_len, int folded)
{
  struct header_query *q = ud;
  if (folded || name_len != q->name_len)
    return 0;
  for (size_t i = 0; i < name_len; i++)
    if (agent_ascii_lower(name[i]) != q->name[i])
      return 0;
  q->value = value;
  q->value_len = value_len;
  return 1;
}

const char *agent_http_header_value(const char *head, size_t len, const char *name,
                                    size_t *value_len)
{
  struct header_query q = {name, strlen(name), NULL, 0};
  if (!agent_http_each_header(head, len, match_header, &q))
    return NULL;
  *value_len = q.value_len;
  return q.value;
}

/* Whether s[0..n) is a non-empty run of digits only. */
static int all_digits(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && is_digit(s[i]))
    i++;
  return n > 0 && i == n;
}

int agent_http_announces_too_big(const char *head, size_t len, size_t max)
{
  size_t n, enc;
  const char *cl = agent_http_header_value(head, len, "content-length", &n);
  if (!cl || !all_digits(cl, n) || agent_http_header_value(head, len, "content-encoding", &enc))
    return 0;
  long long v;
  long long cap = max < (size_t)LLONG_MAX ? (long long)max : LLONG_MAX;
  return agent_scan_decimal(cl, n, cap, &v) != n; /* stops short only past the cap */
}

char *agent_http_display_url(const char *url)
{
  size_t n = strcspn(url, "?#");
  const char *sep = strstr(url, "://");
  const char *authority = sep && (size_t)(sep - url) < n ? sep + 3 : url;
  size_t auth_len = strcspn(authority, "/?#");
  const char *host = authority; /* after the last '@' of the authority: user info ends there */
  for (size_t i = 0; i < auth_len; i++)
    if (authority[i] == '@')
      host = authority + i + 1;
  size_t head = (size_t)(authority - url), tail = n - (size_t)(host - url);
  char *out = malloc(head + tail + 1);
  if (!out)
    return NULL;
  memcpy(out, url, head);
  memcpy(out + head, host, tail);
  out[head + tail] = '\0';
  return out;
}

/* The longest HTTP-date (RFC 850's "Wednesday, 09-Nov-1994 08:49:37 GMT") fits with room. */
#define HTTP_DATE_MAX 64

double agent_http_retry_after_ms(const char *value, size_t n, time_t now,
                                 time_t (*getdate)(const char *, const time_t *))
{
  if (all_digits(value, n)) {
    double secs = 0; /* a double: an absurd number is a very long wait, not a parse error */
    for (size_t i = 0; i < n; i++)
      secs = secs * 10 + (value[i] - '0');
    return secs * 1e3;
  }
  if (!getdate || n == 0 || n >= HTTP_DATE_MAX)
    return -1;
  char date[HTTP_DATE_MAX];
  memcpy(date, value, n);
  date[n] = '\0';
  time_t when = getdate(date, NULL);
  if (when == (time_t)-1)
    return -1;
  double wait = difftime(when, now) * 1e3;
  return wait > 0 ? wait : 0;
}

/* How each libcurl failure is reported; anything else is a protocol failure ("http"). */
static const struct {
  CURLcode rc;
  struct agent_http_failure f;
} FAILURES[] = {
    {CURLE_COULDNT_CONNECT, {"connect", "cannot connect"}},
    {CURLE_PROXY, {"connect", "proxy failure"}},
    {CURLE_COULDNT_RESOLVE_HOST, {"dns", "cannot resolve host"}},
    {CURLE_COULDNT_RESOLVE_PROXY, {"dns", "cannot resolve proxy"}},
    {CURLE_OPERATION_TIMEDOUT, {"timeout", "timed out"}},
    {CURLE_SSL_CONNECT_ERROR, {"tls", "TLS handshake failed"}},
    {CURLE_PEER_FAILED_VERIFICATION, {"tls", "TLS certificate not trusted"}},
    {CURLE_SSL_CERTPROBLEM, {"tls", "TLS client certificate problem"}},
    {CURLE_SSL_CIPHER, {"tls", "TLS cipher problem"}},
    {CURLE_SSL_CACERT_BADFILE, {"tls", "TLS CA file unusable"}},
    {CURLE_SSL_ISSUER_ERROR, {"tls", "TLS issuer check failed"}},
    {CURLE_SSL_PINNEDPUBKEYNOTMATCH, {"tls", "TLS pinned key mismatch"}},
    {CURLE_SSL_INVALIDCERTSTATUS, {"tls", "TLS certificate status invalid"}},
    {CURLE_SSL_CRL_BADFILE, {"tls", "TLS CRL file unusable"}},
    {CURLE_SSL_ENGINE_INITFAILED, {"tls", "TLS engine failed"}},
    {CURLE_SSL_CLIENTCERT, {"tls", "TLS client certificate refused"}},
    {CURLE_USE_SSL_FAILED, {"tls", "TLS required but unavailable"}},
    {CURLE_PARTIAL_FILE, {"http", "connection closed before the end of the body"}},
    {CURLE_GOT_NOTHING, {"http", "connection closed without a response"}},
    {CURLE_SEND_ERROR, {"http", "connection lost while sending"}},
    {CURLE_RECV_ERROR, {"http", "connection lost while receiving"}},
    {CURLE_URL_MALFORMAT, {"http", "malformed URL"}},
    {CURLE_UNSUPPORTED_PROTOCOL, {"http", "unsupported URL scheme (http and https only)"}},
    {CURLE_ABORTED_BY_CALLBACK, {"aborted", "aborted"}},
};

struct agent_http_failure agent_http_classify(CURLcode rc, const char *fallback)
{
  for (size_t i = 0; i < sizeof(FAILURES) / sizeof(FAILURES[0]); i++)
    if (FAILURES[i].rc == rc)
      return FAILURES[i].f;
  return (struct agent_http_failure){"http", fallback};
}

/* Whether host[0..n) occurs in the authority (host and port) of url. */
static int in_authority(const char *url, const char *host, size_t n)
{
  const char *sep = strstr(url, "://");
  const char *auth = sep ? sep + 3 : url;
  return n > 0 && agent_find_bytes(auth, strcspn(auth, "/?#"), host, n) != NULL;
}

int agent_http_detail_redundant(const char *detail, const char *url)
{
  static const char *const LEADS[] = {"Failed to connect to ", "Could not resolve host: "};
  for (size_t k = 0; k < sizeof(LEADS) / sizeof(LEADS[0]); k++) {
    size_t lead = strlen(LEADS[k]);
    if (strncmp(detail, LEADS[k], lead) == 0) {
      const char *host = detail + lead;
      return in_authority(url, host, strcspn(host, " \r\n"));
    }
  }
  return 0;
}

void agent_http_reason(char *out, size_t size, const char *what, const char *why,
                       const char *detail)
{
  size_t n = strlen(detail);
  while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == '\r' || detail[n - 1] == ' '))
    n--;
  if (n > INT_MAX)
    n = INT_MAX;
  int len = n > 0 ? snprintf(out, size, "%s%s (%.*s)", what, why, (int)n, detail)
                  : snprintf(out, size, "%s%s", what, why);
  if (len < 0 || (size_t)len >= size)
    memcpy(out + size - 4, "...", 4); /* so a cut is never mistaken for the whole story */
  for (char *c = out; *c; c++)        /* one line, whatever curl wrote */
    if (*c == '\n' || *c == '\r')
      *c = ' ';
}
