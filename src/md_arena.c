/* The cmark arena (see md_arena.h). Small allocations are carved from 64 KiB blocks and
 * never freed one by one; large ones (growing buffers, long literals) are a malloc each,
 * linked so that realloc and free still work on them and the arena's end frees the rest. */
#include "md_arena.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The arena cmark's callbacks allocate from on this thread (they take no context). */
static _Thread_local struct md_arena *current;

static _Noreturn void out_of_memory(void)
{
  fputs("agent: out of memory in the markdown parser, aborting\n", stderr);
  abort();
}

static struct md_arena *arena_now(void)
{
  if (!current) {
    fputs("agent: cmark allocated outside a markdown arena, aborting\n", stderr);
    abort();
  }
  return current;
}

static size_t round_up(size_t n)
{
  return (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
}

static struct md_hdr *hdr_of(void *p)
{
  return (struct md_hdr *)p - 1;
}

/* Puts b (holding size bytes) at the head of a's big allocations; returns its memory. */
static void *big_link(struct md_arena *a, struct md_big *b, size_t size)
{
  b->prev = NULL;
  b->next = a->big;
  if (a->big)
    a->big->prev = b;
  a->big = b;
  b->hdr = (struct md_hdr){size, 1};
  return &b->hdr + 1;
}

/* b, grown or shrunk to hold size bytes (b == NULL: a new one), or an abort. */
static struct md_big *big_resize(struct md_big *b, size_t size)
{
  if (size > SIZE_MAX - sizeof(*b))
    out_of_memory();
  struct md_big *r = realloc(b, sizeof(*b) + size);
  if (!r)
    out_of_memory();
  return r;
}

static void *big_alloc(struct md_arena *a, size_t size)
{
  return big_link(a, big_resize(NULL, size), size);
}

static struct md_big *big_of(void *p)
{
  return (struct md_big *)((unsigned char *)hdr_of(p) - offsetof(struct md_big, hdr));
}

static void big_unlink(struct md_arena *a, struct md_big *b)
{
  if (b->prev)
    b->prev->next = b->next;
  else
    a->big = b->next;
  if (b->next)
    b->next->prev = b->prev;
}

/* size < MD_BIG_BYTES: always fits a fresh block. Not zeroed. */
static void *small_alloc(struct md_arena *a, size_t size)
{
  size_t need = sizeof(struct md_hdr) + round_up(size);
  struct md_block *b = a->blocks;
  if (!b || MD_BLOCK_BYTES - b->used < need) {
    b = malloc(sizeof(*b));
    if (!b)
      out_of_memory();
    b->next = a->blocks;
    b->used = 0;
    a->blocks = b;
  }
  struct md_hdr *h = (struct md_hdr *)(b->data + b->used);
  b->used += need;
  *h = (struct md_hdr){need - sizeof(*h), 0};
  return h + 1;
}

static void *arena_alloc(struct md_arena *a, size_t size)
{
  return size >= MD_BIG_BYTES ? big_alloc(a, size) : small_alloc(a, size);
}

static void *arena_calloc(size_t n, size_t size)
{
  if (size && n > SIZE_MAX / size)
    out_of_memory();
  void *p = arena_alloc(arena_now(), n * size);
  memset(p, 0, n * size);
  return p;
}

/* Grows the current block's last allocation in place when the block has room. */
static int grow_in_place(struct md_arena *a, struct md_hdr *h, size_t size)
{
  struct md_block *b = a->blocks;
  unsigned char *end = (unsigned char *)(h + 1) + h->size;
  if (h->big || !b || end != b->data + b->used || size >= MD_BIG_BYTES)
    return 0;
  size_t extra = round_up(size) - h->size;
  if (MD_BLOCK_BYTES - b->used < extra)
    return 0;
  b->used += extra;
  h->size += extra;
  return 1;
}

static void *arena_realloc(void *p, size_t size)
{
  struct md_arena *a = arena_now();
  if (!p)
    return arena_alloc(a, size);
  struct md_hdr *h = hdr_of(p);
  if (size <= h->size || grow_in_place(a, h, size))
    return p;
  if (h->big) { /* it held MD_BIG_BYTES or more and must grow: it stays big */
    struct md_big *b = big_of(p);
    big_unlink(a, b);
    return big_link(a, big_resize(b, size), size);
  }
  void *q = arena_alloc(a, size);
  memcpy(q, p, h->size);
  return q;
}

static void arena_free(void *p)
{
  if (!p || !hdr_of(p)->big)
    return; /* block memory goes with the arena */
  struct md_big *b = big_of(p);
  big_unlink(arena_now(), b);
  free(b);
}

/* Read-only after compile time; cmark's API takes a non-const pointer. */
static cmark_mem arena_mem = {arena_calloc, arena_realloc, arena_free};

cmark_mem *agent_md_arena_begin(struct md_arena *a)
{
  a->outer = current;
  a->active = 1;
  current = a;
  return &arena_mem;
}

void agent_md_arena_end(struct md_arena *a)
{
  if (!a->active)
    return;
  while (a->blocks) {
    struct md_block *next = a->blocks->next;
    free(a->blocks);
    a->blocks = next;
  }
  while (a->big) {
    struct md_big *next = a->big->next;
    free(a->big);
    a->big = next;
  }
  if (current == a)
    current = a->outer;
  a->active = 0;
}
