/* An arena for cmark: everything cmark allocates while one markdown.parse call is under way
 * comes from a few large blocks, freed together when the call ends, instead of a malloc and a
 * free per node, string and buffer (on a 5 MB document, freeing the tree node by node and
 * glibc merging the freed chunks afterwards cost a fifth of parse's time). */
#ifndef AGENT_MD_ARENA_H
#define AGENT_MD_ARENA_H

#include <cmark.h>
#include <stdalign.h>
#include <stddef.h>

/* Bytes of a block; allocations of MD_BIG_BYTES or more are a malloc of their own, so a
 * buffer cmark grows by doubling does not leave its old copies in blocks. */
#define MD_BLOCK_BYTES (64 * 1024)
#define MD_BIG_BYTES (4 * 1024)

/* Before every allocation: its usable size, and whether it is an md_big. */
struct md_hdr {
  size_t size;
  size_t big;
};
/* Allocations start right after their header: it must keep them aligned for any type. */
_Static_assert(sizeof(struct md_hdr) % alignof(max_align_t) == 0, "md_hdr breaks alignment");

struct md_block {
  struct md_block *next;
  size_t used;
  alignas(max_align_t) unsigned char data[MD_BLOCK_BYTES];
};

struct md_big {
  struct md_big *prev, *next;
  alignas(max_align_t) struct md_hdr hdr; /* the allocation follows */
};

struct md_arena {
  struct md_block *blocks; /* the current block first */
  struct md_big *big;      /* allocations too large for a block, each a malloc of its own */
  struct md_arena *outer;  /* the arena that was current before this one */
  int active;              /* between agent_md_arena_begin and agent_md_arena_end */
};

/* Makes a (zeroed by the caller) the thread's current arena and returns the allocator to
 * hand cmark (cmark_parser_new_with_mem). cmark's callbacks take no context, so they find the
 * arena through a thread-local pointer: it stays a's until agent_md_arena_end(a), and calls
 * nest (a finalizer may parse a document in the middle of another parse). Allocation
 * failures abort, as cmark's default allocator does: cmark does not check for NULL. */
cmark_mem *agent_md_arena_begin(struct md_arena *a);

/* Frees everything allocated in a and makes the arena that was current before it current
 * again (when a is current). Idempotent; a no-op for an arena never begun. Arenas usually end
 * in the reverse order of their beginning, but not always: a coroutine that dies in an error
 * leaves its calls' boxes to the collector, so an arena can stay current, then ended, for a
 * while. That is harmless only because cmark allocates right after agent_md_arena_begin
 * (cmark_parser_*, cmark_iter_new) and never while results are built: keep it so, or a
 * callback may find an arena that is gone. */
void agent_md_arena_end(struct md_arena *a);

#endif
