/* Fuzz target for the response parsing of agent.http (src/http_util.c): the input is a
 * response head as libcurl hands it over. Beyond memory safety it checks what the callers
 * rely on: a status is 0 or 100..999, every header name and value lies inside the head,
 * holds no line break and is trimmed, header_value agrees with the walk, and a display URL
 * is never longer than the URL and keeps no query, fragment or user info, and curl's text
 * counts as redundant only after one of the leads agent_http_detail_redundant knows. */
#include "http_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
  const char *head;
  size_t len;
  const char *first_name; /* of the first unfolded header */
  size_t first_name_len;
  const char *first_value;
  size_t first_value_len;
};

static int inside(const struct walk *w, const char *p, size_t n)
{
  return p >= w->head && n <= w->len && (size_t)(p - w->head) <= w->len - n;
}

static int check_header(void *ud, const char *name, size_t name_len, const char *value,
                        size_t value_len, int folded)
{
  struct walk *w = ud;
  if (name_len == 0 || !inside(w, name, name_len) || !inside(w, value, value_len) ||
      memchr(name, '\n', name_len) || memchr(value, '\n', value_len) ||
      memchr(name, ':', name_len) || (folded != 0 && folded != 1))
    abort();
  if (value_len > 0 && (value[0] == ' ' || value[0] == '\t' || value[value_len - 1] == ' ' ||
                        value[value_len - 1] == '\t' || value[value_len - 1] == '\r'))
    abort();
  if (!folded && !w->first_name) {
    w->first_name = name;
    w->first_name_len = name_len;
    w->first_value = value;
    w->first_value_len = value_len;
  }
  return 0;
}

/* header_value must find the first header's value under its lower-cased name, unless an
 * earlier header has the same name in another case (then that one's value comes first). */
static void check_lookup(const struct walk *w)
{
  if (!w->first_name || w->first_name_len > 64)
    return;
  char lower[65];
  for (size_t i = 0; i < w->first_name_len; i++) {
    char c = w->first_name[i];
    lower[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
  }
  lower[w->first_name_len] = '\0';
  if (memchr(lower, '\0', w->first_name_len))
    return; /* a NUL in the name: strlen would see a shorter name */
  size_t n = 0;
  const char *v = agent_http_header_value(w->head, w->len, lower, &n);
  if (v != w->first_value || n != w->first_value_len)
    abort();
}

static void check_url(const char *head, size_t len)
{
  char *url = malloc(len + 1);
  if (!url)
    return;
  memcpy(url, head, len);
  url[len] = '\0';
  char *shown = agent_http_display_url(url);
  if (shown) {
    const char *sep = strstr(shown, "://");
    const char *auth = sep ? sep + 3 : shown;
    if (strlen(shown) > strlen(url) || strpbrk(shown, "?#") ||
        memchr(auth, '@', strcspn(auth, "/")))
      abort();
  }
  free(shown);
  /* curl's text against a URL, both from the input: redundant only after a known lead */
  const char *nl = strchr(url, '\n');
  const char *other = nl ? nl + 1 : "http://127.0.0.1:1/";
  int r = agent_http_detail_redundant(url, other);
  if (r != 0 && r != 1)
    abort();
  if (r && strncmp(url, "Failed to connect to ", 21) != 0 &&
      strncmp(url, "Could not resolve host: ", 24) != 0)
    abort();
  free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *head = (const char *)data;
  const char *nl = memchr(head, '\n', size);
  long status = agent_http_parse_status(head, nl ? (size_t)(nl - head) + 1 : size);
  if (status != 0 && (status < 100 || status > 999))
    abort();
  struct walk w = {head, size, NULL, 0, NULL, 0};
  agent_http_each_header(head, size, check_header, &w);
  check_lookup(&w);
  agent_http_announces_too_big(head, size, (size_t)size * 7);
  size_t n = 0;
  const char *ra = agent_http_header_value(head, size, "retry-after", &n);
  if (ra && agent_http_retry_after_ms(ra, n, 0, NULL) < -1)
    abort();
  check_url(head, size);
  return 0;
}
