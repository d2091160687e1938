/* The shared plain-C helpers (see util.h). */
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int agent_reserve(void *arrp, size_t *cap, size_t need, size_t size)
{
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 8;
  while (n < need) {
    if (n > SIZE_MAX / 2)
      return -1;
    n *= 2;
  }
  if (n > SIZE_MAX / size)
    return -1;
  void *arr;
  memcpy(&arr, arrp, sizeof(arr));
  arr = realloc(arr, n * size);
  if (!arr)
    return -1;
  memcpy(arrp, &arr, sizeof(arr));
  *cap = n;
  return 0;
}

int agent_buf_add(struct agent_buf *b, const char *s, size_t n)
{
  if (n > SIZE_MAX - b->len || agent_reserve(&b->p, &b->cap, b->len + n, 1) != 0)
    return -1;
  if (n > 0)
    memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

void agent_buf_free(struct agent_buf *b)
{
  free(b->p);
  memset(b, 0, sizeof(*b));
}

double agent_monotonic_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

size_t agent_bom_length(const char *s, size_t n)
{
  return n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

int agent_is_blank(char c)
{
  return c == ' ' || c == '\t';
}

char agent_ascii_lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

size_t agent_scan_decimal(const char *s, size_t n, long long max, long long *v)
{
  size_t i = 0;
  long long x = 0;
  for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
    int d = s[i] - '0';
    if (x > max / 10 || (x == max / 10 && d > max % 10)) { /* x * 10 + d > max */
      *v = 0;
      return 0;
    }
    x = x * 10 + d;
  }
  *v = x;
  return i;
}

size_t agent_excerpt(const char *s, size_t n, size_t max, int *cut)
{
  size_t k = 0;
  while (k < n && k < max && s[k] != '\n' && s[k] != '\r')
    k++;
  *cut = k < n;
  if (*cut) /* never end inside a character: back off over continuation bytes */
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
      k--;
  return k;
}

const char *agent_find_bytes(const char *s, size_t n, const char *lit, size_t len)
{
  if (len == 0)
    return s;
  if (len > n)
    return NULL;
  for (const char *end = s + n - len, *p = s; p <= end; p++) {
    p = memchr(p, lit[0], (size_t)(end - p) + 1);
    if (!p)
      return NULL;
    if (memcmp(p, lit, len) == 0)
      return p;
  }
  return NULL;
}

void agent_hex(const unsigned char *in, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
}
