/* Tests for http_util.c, table-driven: status lines (HTTP/1.x and HTTP/2), header blocks with
 * CRLF, bare LF and obsolete folding, Content-Length caps, display URLs with '@' outside the
 * user info, Retry-After as seconds, past, future and malformed dates (through the real
 * curl_getdate, loaded like agent.http loads it), libcurl failure codes and reasons. */
#include "curl_api.h"
#include "http_util.h"

#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_parse_status(void)
{
  static const struct {
    const char *line;
    long status;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\n", 200},
      {"HTTP/1.0 404 Not Found", 404},
      {"HTTP/2 200\r\n", 200}, /* HTTP/2 has no reason phrase */
      {"HTTP/2 200", 200},
      {"HTTP/3 503 \r\n", 503},
      {"HTTP/1.1 100 Continue\r\n", 100},
      {"HTTP/1.1 2000 OK", 0}, /* four digits */
      {"HTTP/1.1 20 OK", 0},
      {"HTTP/1.1 099 Odd", 0},
      {"HTTP/1.1 2x0 OK", 0},
      {"HTTP/1.1", 0},
      {"HTTP/1.1 ", 0},
      {"ICY 200 OK", 0},
      {"", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK_INT(agent_http_parse_status(cases[i].line, strlen(cases[i].line)), cases[i].status);
}

/* Collects every header as "name=value|" (folded lines as "+name=value|"). */
static int collect(void *ud, const char *name, size_t name_len, const char *value, size_t value_len,
                   int folded)
{
  char *out = ud;
  size_t len = strlen(out);
  snprintf(out + len, 512 - len, "%s%.*s=%.*s|", folded ? "+" : "", (int)name_len, name,
           (int)value_len, value);
  return 0;
}

static void test_each_header(void)
{
  static const struct {
    const char *head, *want;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nA: 1\r\nB:2\r\n\r\n", "A=1|B=2|"},
      {"HTTP/1.1 200 OK\nA: 1\nB: 2\n", "A=1|B=2|"}, /* bare LF line ends */
      {"HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\n\tthree \r\nY: y\r\n",
       "X-Long=one|+X-Long=two|+X-Long=three|Y=y|"},
      {"HTTP/1.1 200 OK\r\n folded first\r\nA: 1\r\n", "A=1|"}, /* continues nothing */
      {"HTTP/1.1 200 OK\r\n: no name\r\nno colon\r\nA:\r\n", "A=|"},
      {"HTTP/1.1 200 OK\r\nA:  spaced  \t\r\n", "A=spaced|"},
      {"HTTP/1.1 200 OK", ""},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[512] = "";
    agent_http_each_header(cases[i].head, strlen(cases[i].head), collect, out);
    CHECK_STR(out, cases[i].want);
  }
}

static void test_header_value(void)
{
  const char *head = "HTTP/1.1 429 Too Many\r\nRetry-After: 5\r\n  more\r\nretry-after: 9\r\n"
                     "Content-Lengthy: 1\r\n";
  size_t n = 0;
  const char *v = agent_http_header_value(head, strlen(head), "retry-after", &n);
  CHECK(v != NULL && n == 1 && v[0] == '5'); /* the first, without its folded part */
  CHECK(agent_http_header_value(head, strlen(head), "content-length", &n) == NULL);
  CHECK(agent_http_header_value(head, strlen(head), "retry", &n) == NULL);
}

static void test_announces_too_big(void)
{
  static const struct {
    const char *head;
    size_t max;
    int too_big;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n", 100, 0},
      {"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n", 100, 1},
      {"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n", 100, 1},
      {"HTTP/1.1 200 OK\r\nContent-Length: 101\r\nContent-Encoding: gzip\r\n", 100, 0},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1e9\r\n", 100, 0}, /* malformed: on_body decides */
      {"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n", 100, 0},
      {"HTTP/1.1 200 OK\r\n", 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK_INT(agent_http_announces_too_big(cases[i].head, strlen(cases[i].head), cases[i].max),
              cases[i].too_big);
}

static void test_display_url(void)
{
  static const struct {
    const char *url, *want;
  } cases[] = {
      {"https://api.example.com/v1/chat?key=secret#frag", "https://api.example.com/v1/chat"},
      {"https://user:pw@host:8443/p", "https://host:8443/p"},
      {"https://a@b@host/p", "https://host/p"},
      {"https://host/users/@me/repos", "https://host/users/@me/repos"}, /* '@' in the path */
      {"https://host?to=a@b.c", "https://host"},                        /* '@' in the query */
      {"https://host/p?u=http://x@y", "https://host/p"},
      {"host/path", "host/path"},
      {"user@host/path", "host/path"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *got = agent_http_display_url(cases[i].url);
    CHECK_STR(got, cases[i].want);
    free(got);
  }
}

static void test_retry_after(const struct curl_api *curl)
{
  /* 1994-11-06 08:49:37 UTC, the date of RFC 9110's examples */
  const time_t then = 784111777;
  static const struct {
    const char *value;
    double ms;
  } cases[] = {
      {"0", 0},
      {"120", 120000},
      {"Sun, 06 Nov 1994 08:49:37 GMT", 0},      /* IMF-fixdate, now */
      {"Sun, 06 Nov 1994 08:50:37 GMT", 60000},  /* a minute ahead */
      {"Sunday, 06-Nov-94 08:49:47 GMT", 10000}, /* RFC 850 */
      {"Sun Nov  6 08:49:57 1994", 20000},       /* asctime */
      {"Sat, 05 Nov 1994 08:49:37 GMT", 0},      /* in the past: no wait */
      {"soon", -1},
      {"-5", -1},
      {"", -1},
      {"Sun, 06 Nov 1994 08:49:37 GMT and then a lot more text past the date buffer", -1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    double got = agent_http_retry_after_ms(cases[i].value, strlen(cases[i].value), then,
                                           curl ? curl->getdate : NULL);
    if (curl || cases[i].ms < 0 || strspn(cases[i].value, "0123456789") == strlen(cases[i].value))
      CHECK(got == cases[i].ms);
  }
  const char *huge = "9999999999999999999999999999999999999999";
  CHECK(agent_http_retry_after_ms(huge, strlen(huge), then, NULL) > 1e30);
  CHECK(agent_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 29, then, NULL) == -1);
}

static void test_classify(void)
{
  struct agent_http_failure f = agent_http_classify(CURLE_COULDNT_CONNECT, "curl text");
  CHECK_STR(f.code, "connect");
  f = agent_http_classify(CURLE_OPERATION_TIMEDOUT, "curl text");
  CHECK_STR(f.code, "timeout");
  f = agent_http_classify(CURLE_PEER_FAILED_VERIFICATION, "curl text");
  CHECK_STR(f.code, "tls");
  f = agent_http_classify(CURLE_WEIRD_SERVER_REPLY, "Weird server reply");
  CHECK_STR(f.code, "http");
  CHECK_STR(f.what, "Weird server reply");
}

static void test_reason(void)
{
  char out[64];
  agent_http_reason(out, sizeof(out), "cannot connect", ": Connection refused",
                    "Failed to connect to 127.0.0.1 port 1\n");
  CHECK_STR(out, "cannot connect: Connection refused (Failed to connect to 127...");
  agent_http_reason(out, sizeof(out), "timed out", "", " \n");
  CHECK_STR(out, "timed out");
  agent_http_reason(out, sizeof(out), "x", "", "line\none\r\n");
  CHECK_STR(out, "x (line one)");
  char tiny[8];
  agent_http_reason(tiny, sizeof(tiny), "much too long", "", "");
  CHECK_STR(tiny, "much...");
}

static void test_detail_redundant(void)
{
  const char *url = "http://127.0.0.1:38999/v1/chat/completions";
  CHECK(agent_http_detail_redundant(
      "Failed to connect to 127.0.0.1 port 38999 after 0 ms: Couldn't connect to server", url));
  /* a proxy's name is news */
  CHECK(!agent_http_detail_redundant(
      "Failed to connect to proxy.lan port 3128 after 2 ms: Couldn't connect to server", url));
  CHECK(agent_http_detail_redundant("Could not resolve host: api.nowhere.invalid",
                                    "https://api.nowhere.invalid/v1/messages"));
  /* the host is looked for in the authority only, never in the path */
  CHECK(!agent_http_detail_redundant("Could not resolve host: v1", "https://h.example/v1/x"));
  CHECK(!agent_http_detail_redundant("Failed to connect to ", url));
  CHECK(!agent_http_detail_redundant("SSL certificate problem", url));
  CHECK(!agent_http_detail_redundant("", url));
}

int main(void)
{
  test_parse_status();
  test_each_header();
  test_header_value();
  test_announces_too_big();
  test_display_url();
  test_classify();
  test_reason();
  test_detail_redundant();
  struct curl_lib lib = {0};
  char msg[512];
  int loaded = agent_curl_load(&lib, msg, sizeof(msg)) == 0;
  if (!loaded)
    fprintf(stderr, "dates untested: %s\n", msg);
  test_retry_after(loaded ? &lib.api : NULL);
  agent_curl_unload(&lib);
  return TEST_DONE();
}
