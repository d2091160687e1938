/* Tests for util.c: array growth refuses sizes that would overflow, the byte buffer, the
 * decimal scanner's bounds, excerpts that never split a UTF-8 character, BOMs and hex. */
#include "util.h"

#include "test.h"

#include <stdint.h>
#include <stdlib.h>

static void test_reserve(void)
{
  int *a = NULL;
  size_t cap = 0;
  CHECK_INT(AGENT_RESERVE(a, cap, 1), 0);
  CHECK_INT(cap, 8);
  a[0] = 7;
  CHECK_INT(AGENT_RESERVE(a, cap, 100), 0);
  CHECK_INT(cap, 128);
  CHECK_INT(a[0], 7); /* realloc keeps the contents */
  CHECK_INT(AGENT_RESERVE(a, cap, 50), 0);
  CHECK_INT(cap, 128); /* enough room already: no change */
  /* need * size past SIZE_MAX: refused before any multiplication wraps */
  CHECK_INT(AGENT_RESERVE(a, cap, SIZE_MAX / 2), -1);
  CHECK_INT(AGENT_RESERVE(a, cap, SIZE_MAX), -1);
  CHECK_INT(cap, 128);
  CHECK_INT(a[0], 7);
  free(a);
}

static void test_buf(void)
{
  struct agent_buf b = {0};
  CHECK_INT(agent_buf_add(&b, "ab", 2), 0);
  CHECK_INT(agent_buf_add(&b, "", 0), 0);
  for (int i = 0; i < 1000; i++)
    CHECK_INT(agent_buf_add(&b, "xyz", 3), 0);
  CHECK_INT(b.len, 3002);
  CHECK(memcmp(b.p, "abxyzxyz", 8) == 0);
  CHECK_INT(agent_buf_add(&b, "q", SIZE_MAX), -1); /* len + n would wrap */
  CHECK_INT(b.len, 3002);
  agent_buf_free(&b);
  CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
}

static void test_scan_decimal(void)
{
  static const struct {
    const char *s;
    long long max;
    size_t used;
    long long v;
  } cases[] = {
      {"0", 100, 1, 0},
      {"42abc", 100, 2, 42},
      {"100", 100, 3, 100},
      {"101", 100, 0, 0}, /* over max */
      {"7", 5, 0, 0},     /* a single digit over a small max */
      {"5", 5, 1, 5},
      {"", 100, 0, 0},
      {"x1", 100, 0, 0},
      {"-1", 100, 0, 0},
      {"9223372036854775807", INT64_MAX, 19, INT64_MAX},
      {"9223372036854775808", INT64_MAX, 0, 0},
      {"99999999999999999999999", INT64_MAX, 0, 0},
      {"000000000000000000000012", 100, 24, 12}, /* leading zeros never overflow */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    long long v = -1;
    size_t used = agent_scan_decimal(cases[i].s, strlen(cases[i].s), cases[i].max, &v);
    CHECK_INT(used, cases[i].used);
    CHECK_INT(v, cases[i].v);
  }
}

static void test_excerpt(void)
{
  static const struct {
    const char *s;
    size_t max, keep;
    int cut;
  } cases[] = {
      {"short", 60, 5, 0},
      {"", 60, 0, 0},
      {"line one\nline two", 60, 8, 1},
      {"crlf\r\n", 60, 4, 1},
      {"abcdefgh", 4, 4, 1},
      {"abcd", 4, 4, 0},
      {"ab\xC3\xA9z", 3, 2, 1},              /* é is two bytes: not split after its first */
      {"ab\xC3\xA9z", 4, 4, 1},              /* é whole */
      {"\xE2\x82\xAC\xE2\x82\xAC", 5, 3, 1}, /* two euro signs, five bytes: one */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int cut = -1;
    CHECK_INT(agent_excerpt(cases[i].s, strlen(cases[i].s), cases[i].max, &cut), cases[i].keep);
    CHECK_INT(cut, cases[i].cut);
  }
}

static void test_small(void)
{
  CHECK_INT(agent_bom_length("\xEF\xBB\xBFx", 4), 3);
  CHECK_INT(agent_bom_length("\xEF\xBB", 2), 0);
  CHECK_INT(agent_bom_length("abc", 3), 0);
  CHECK(agent_is_blank(' ') && agent_is_blank('\t'));
  CHECK(!agent_is_blank('\n') && !agent_is_blank('x') && !agent_is_blank('\r'));
  CHECK(agent_ascii_lower('A') == 'a' && agent_ascii_lower('Z') == 'z');
  CHECK(agent_ascii_lower('a') == 'a' && agent_ascii_lower('@') == '@');
  CHECK(agent_ascii_lower('[') == '[' && agent_ascii_lower('\xC4') == '\xC4');
  const char *hay = "abcab\0cabd";
  CHECK(agent_find_bytes(hay, 10, "cab", 3) == hay + 2);
  CHECK(agent_find_bytes(hay, 10, "\0cabd", 5) == hay + 5);
  CHECK(agent_find_bytes(hay, 10, "abd", 3) == hay + 7);
  CHECK(agent_find_bytes(hay, 9, "abd", 3) == NULL); /* its last byte is outside */
  CHECK(agent_find_bytes(hay, 2, "abc", 3) == NULL);
  CHECK(agent_find_bytes(hay, 10, "", 0) == hay);
  CHECK(agent_find_bytes(NULL, 0, "x", 1) == NULL);
  char out[8];
  agent_hex((const unsigned char *)"\x00\x9f\xff\x10", 4, out);
  CHECK(memcmp(out, "009fff10", 8) == 0);
  double a = agent_monotonic_ms(), b = agent_monotonic_ms();
  CHECK(a > 0 && b >= a);
}

int main(void)
{
  test_reserve();
  test_buf();
  test_scan_decimal();
  test_excerpt();
  test_small();
  return TEST_DONE();
}
