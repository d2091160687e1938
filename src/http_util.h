/* The plain-C parts of agent.http (no Lua, no libcurl calls): status lines, response header
 * blocks, Retry-After, the URL form messages show, and how a libcurl failure is reported.
 * src/http.c uses them; tests/c/test_http_util.c and tests/fuzz/fuzz_http_util.c call them
 * directly. */
#ifndef AGENT_HTTP_UTIL_H
#define AGENT_HTTP_UTIL_H

#include <curl/curl.h>
#include <stddef.h>
#include <time.h>

/* The status code of a status line ("HTTP/1.1 200 OK", "HTTP/2 200", with or without its
 * line end): exactly three digits, 100..999, after "HTTP/<version> ". 0 when malformed. */
long agent_http_parse_status(const char *line, size_t n);

/* Called once per header of a response head. name is as sent (any letter case), value is
 * trimmed of blanks. folded is 1 for an obsolete folded line (RFC 9112 §5.2: one starting
 * with a space or tab), which continues the previous header: name is then that header's. A
 * non-zero return stops the walk. */
typedef int (*agent_http_header_fn)(void *ud, const char *name, size_t name_len, const char *value,
                                    size_t value_len, int folded);

/* Calls fn for each header of head[0..len) (status line first, then "Name: value" lines
 * ended by LF or CRLF; the status line, blank lines and lines without a name before ':' are
 * skipped). Returns fn's first non-zero value, else 0. */
int agent_http_each_header(const char *head, size_t len, agent_http_header_fn fn, void *ud);

/* The trimmed value of the first header called name (give it lower-case; matched in any
 * case), or NULL. Only its first line: folded continuations are not part of it. */
const char *agent_http_header_value(const char *head, size_t len, const char *name,
                                    size_t *value_len);

/* Whether the head announces a body over max bytes: a Content-Length above max (a number
 * too long to parse counts), unless the head has a Content-Encoding, since Content-Length
 * then counts encoded bytes and only the decoded count, checked as the body arrives,
 * matters. A malformed Content-Length announces nothing. */
int agent_http_announces_too_big(const char *head, size_t len, size_t max);

/* The URL as messages show it: scheme, host, port and path only. User info, query and
 * fragment are dropped because they are where secrets (keys, tokens) travel; an '@' in the
 * path or query is not user info. A malloc'd string the caller frees; NULL without memory. */
char *agent_http_display_url(const char *url);

/* The wait a Retry-After value (trimmed) asks for, in ms from now: delta-seconds (a number
 * too large for a double is HUGE_VAL), or an HTTP-date read by getdate (curl_getdate's
 * signature; NULL accepts only seconds), 0 for a date in the past. -1 when unusable. */
double agent_http_retry_after_ms(const char *value, size_t n, time_t now,
                                 time_t (*getdate)(const char *, const time_t *));

/* How a libcurl failure is reported: code is the failure code of the contract ("connect",
 * "dns", "timeout", "tls", "http", "aborted"), what a few words for the message. */
struct agent_http_failure {
  const char *code, *what;
};

/* The failure rc stands for; anything unlisted is a protocol failure ("http") described by
 * fallback (curl_easy_strerror's text). */
struct agent_http_failure agent_http_classify(CURLcode rc, const char *fallback);

/* Whether curl's error text for a failed connection or host lookup only repeats the
 * classification and the URL: "Failed to connect to HOST port N after M ms: ..." or "Could not
 * resolve host: HOST" where HOST is url's own host. Another host (a proxy) is news: 0. */
int agent_http_detail_redundant(const char *detail, const char *url);

/* Writes "<what><why> (<detail>)" to out[0..size) (size >= 4): why may be "" and detail, curl's
 * error buffer, is left out when empty after trailing spaces and newlines are dropped. Always
 * one line (CR and LF become spaces); a reason cut to fit ends with "...". */
void agent_http_reason(char *out, size_t size, const char *what, const char *why,
                       const char *detail);

#endif
