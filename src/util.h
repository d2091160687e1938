/* Small plain-C helpers every module needs once (no Lua): array growth that cannot overflow,
 * a growable byte buffer, the monotonic clock, byte-order marks, blanks, ASCII lower case,
 * bounded decimal numbers, one-line excerpts for messages, byte search and hex digits. Tested in
 * tests/c/test_util.c. */
#ifndef AGENT_UTIL_H
#define AGENT_UTIL_H

#include <stddef.h>

/* Makes room for `need` elements of `size` bytes in the array whose pointer is at arrp (a
 * `T **` passed as void *), doubling from 8 so appends stay O(1). The pointer is read and
 * written with memcpy, so one function serves every element type without type punning.
 * 0, or -1 when the size would overflow or memory runs out (the array is then unchanged).
 * Use AGENT_RESERVE. */
int agent_reserve(void *arrp, size_t *cap, size_t need, size_t size);

#define AGENT_RESERVE(arr, cap, need) agent_reserve(&(arr), &(cap), (need), sizeof(*(arr)))

/* A growable byte string; zero-initialise it, free it with agent_buf_free. */
struct agent_buf {
  char *p;
  size_t len, cap;
};

/* Appends s[0..n). 0, or -1 when memory runs out (b is unchanged then). */
int agent_buf_add(struct agent_buf *b, const char *s, size_t n);

/* Releases the bytes; b is empty and reusable afterwards. */
void agent_buf_free(struct agent_buf *b);

/* Milliseconds on CLOCK_MONOTONIC, the scale of agent.sys.clock(): for durations and
 * deadlines, never for dates. */
double agent_monotonic_ms(void);

/* 3 when s[0..n) starts with a UTF-8 byte-order mark, else 0: the bytes to skip. */
size_t agent_bom_length(const char *s, size_t n);

/* A space or a tab: the blanks of YAML, markdown and gitignore lines. */
int agent_is_blank(char c);

/* c with A-Z turned into a-z and every other byte as it is, whatever the locale: for names
 * matched in any letter case (HTTP header names). */
char agent_ascii_lower(char c);

/* Reads the run of ASCII digits at s[0..n) as a decimal number no larger than max (>= 0).
 * Returns how many bytes it read (*v set), or 0 when s does not start with a digit or the
 * number would exceed max (*v is then 0). Stops at the first byte that is not a digit. */
size_t agent_scan_decimal(const char *s, size_t n, long long max, long long *v);

/* How many bytes of s[0..n) to quote in a one-line message: up to the first line break and at
 * most max bytes, cut back to a UTF-8 character boundary. *cut is set when that is not all of
 * s, so the caller can add "...". */
size_t agent_excerpt(const char *s, size_t n, size_t max, int *cut);

/* The first occurrence of lit[0..len) in s[0..n) (byte strings, not C strings), or NULL; s
 * itself when len is 0. memmem is a GNU extension, so the project has this one. */
const char *agent_find_bytes(const char *s, size_t n, const char *lit, size_t len);

/* Writes the 2*n lower-case hex digits of in[0..n) to out (not NUL-terminated). */
void agent_hex(const unsigned char *in, size_t n, char *out);

#endif
