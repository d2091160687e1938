/* Tests for md_arena.c: cmark's three callbacks on small and big allocations (zeroing,
 * growth in place and by copy, frees), arenas nested on one thread (the inner one's end makes
 * the outer current again), an end with live allocations (ASan and valgrind see no leak), and
 * a real document parsed in an arena giving the tree the default allocator gives. */
#include "md_arena.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How many blocks and big allocations an arena holds. */
static size_t count_blocks(const struct md_arena *a)
{
  size_t n = 0;
  for (const struct md_block *b = a->blocks; b; b = b->next)
    n++;
  return n;
}

static size_t count_big(const struct md_arena *a)
{
  size_t n = 0;
  for (const struct md_big *b = a->big; b; b = b->next)
    n++;
  return n;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != v)
      return 0;
  return 1;
}

static void test_small_and_big(void)
{
  struct md_arena a = {0};
  cmark_mem *mem = agent_md_arena_begin(&a);
  unsigned char *p = mem->calloc(10, 10);
  CHECK(p != NULL && all_bytes(p, 100, 0));
  CHECK((uintptr_t)p % 16 == 0);
  memset(p, 0xab, 100);
  CHECK_INT(count_blocks(&a), 1);
  CHECK_INT(count_big(&a), 0);

  /* the last allocation of the block grows in place; an earlier one moves, keeping its bytes */
  unsigned char *q = mem->realloc(p, 200);
  CHECK(q == p && all_bytes(q, 100, 0xab));
  unsigned char *r = mem->calloc(1, 32);
  unsigned char *q2 = mem->realloc(q, 300);
  CHECK(q2 != q && all_bytes(q2, 100, 0xab));
  CHECK(all_bytes(r, 32, 0));

  /* big allocations are mallocs of their own: freed, grown and shrunk as such */
  unsigned char *big = mem->calloc(1, 10000);
  CHECK(all_bytes(big, 10000, 0));
  CHECK_INT(count_big(&a), 1);
  memset(big, 0x5a, 10000);
  big = mem->realloc(big, 100000);
  CHECK(all_bytes(big, 10000, 0x5a));
  CHECK_INT(count_big(&a), 1);
  unsigned char *small_to_big = mem->realloc(q2, 50000);
  CHECK(all_bytes(small_to_big, 100, 0xab));
  CHECK_INT(count_big(&a), 2);
  mem->free(big);
  CHECK_INT(count_big(&a), 1);
  mem->free(r); /* block memory: a no-op */
  mem->free(NULL);
  CHECK(mem->realloc(small_to_big, 10) == small_to_big); /* shrinking keeps the place */

  /* a block fills up and another starts */
  for (int i = 0; i < 2000; i++)
    CHECK(mem->calloc(1, 100) != NULL);
  CHECK(count_blocks(&a) > 1);
  agent_md_arena_end(&a); /* frees the rest: valgrind and ASan would name a leak */
  CHECK_INT(a.active, 0);
  agent_md_arena_end(&a); /* idempotent */
}

static void test_nesting(void)
{
  struct md_arena outer = {0}, inner = {0};
  cmark_mem *mem = agent_md_arena_begin(&outer);
  mem->calloc(1, 8);
  size_t outer_blocks = count_blocks(&outer);
  CHECK(agent_md_arena_begin(&inner) == mem);
  mem->calloc(1, 8);
  CHECK_INT(count_blocks(&inner), 1);
  CHECK_INT(count_blocks(&outer), outer_blocks);
  mem->calloc(1, 5000);
  CHECK_INT(count_big(&inner), 1);
  CHECK_INT(count_big(&outer), 0);
  agent_md_arena_end(&inner);
  /* the outer arena is current again */
  mem->calloc(1, 6000);
  CHECK_INT(count_big(&outer), 1);
  agent_md_arena_end(&outer);
}

/* Renders a document to HTML with the tree parsed in an arena and with cmark's default
 * allocator: the same bytes. */
static void test_cmark_document(void)
{
  const char *doc = "# Title\n\nSome *emphasis*, `code`, [a link](https://example.com).\n\n"
                    "```lua\nlocal x = 1\n```\n\n- one\n- two\n  - nested\n\n> quoted\n";
  char *want = cmark_markdown_to_html(doc, strlen(doc), CMARK_OPT_DEFAULT);
  struct md_arena a = {0};
  cmark_parser *parser = cmark_parser_new_with_mem(CMARK_OPT_DEFAULT, agent_md_arena_begin(&a));
  cmark_parser_feed(parser, doc, strlen(doc));
  cmark_node *root = cmark_parser_finish(parser);
  cmark_parser_free(parser);
  char *got = cmark_render_html(root, CMARK_OPT_DEFAULT); /* in the arena too */
  CHECK_STR(got, want);
  agent_md_arena_end(&a);
  free(want);
}

int main(void)
{
  test_small_and_big();
  test_nesting();
  test_cmark_document();
  return TEST_DONE();
}
