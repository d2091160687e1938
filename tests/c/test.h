/* A tiny test harness for the plain-C units: CHECK records a failure and goes on, the
 * summary line goes to stdout, and the exit status tells ctest. */
#ifndef AGENT_TEST_H
#define AGENT_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures = 0;
static int test_checks = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    test_checks++;                                                                                 \
    if (!(cond)) {                                                                                 \
      test_failures++;                                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
    }                                                                                              \
  } while (0)

#define CHECK_STR(got, want)                                                                       \
  do {                                                                                             \
    const char *got_ = (got), *want_ = (want);                                                     \
    test_checks++;                                                                                 \
    if (!got_ || !want_ || strcmp(got_, want_) != 0) {                                             \
      test_failures++;                                                                             \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__,                  \
              want_ ? want_ : "(null)", got_ ? got_ : "(null)");                                   \
    }                                                                                              \
  } while (0)

#define CHECK_INT(got, want)                                                                       \
  do {                                                                                             \
    long long got_ = (long long)(got), want_ = (long long)(want);                                  \
    test_checks++;                                                                                 \
    if (got_ != want_) {                                                                           \
      test_failures++;                                                                             \
      fprintf(stderr, "%s:%d: expected %lld, got %lld (%s)\n", __FILE__, __LINE__, want_, got_,    \
              #got);                                                                               \
    }                                                                                              \
  } while (0)

/* A lua_Alloc (ud: a struct alloc_limit) that refuses to grow anything once `left`
 * allocations have been made (-1: no limit), for sweeping a call's out-of-memory paths.
 * Shrinking and freeing always succeed, as Lua requires. */
struct alloc_limit {
  long left;
  int refused; /* set once a growth was refused */
};

static inline void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  struct alloc_limit *lim = ud;
  if (nsize == 0) {
    free(ptr);
    return NULL;
  }
  if (nsize > (ptr ? osize : 0) && lim->left >= 0) {
    if (lim->left == 0) {
      lim->refused = 1;
      return NULL;
    }
    lim->left--;
  }
  return realloc(ptr, nsize);
}

#define TEST_DONE()                                                                                \
  (printf("%d checks, %d failures\n", test_checks, test_failures), test_failures ? 1 : 0)

#endif
