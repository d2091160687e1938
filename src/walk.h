/* The directory walker behind fs.walk and fs.list, in plain C with no Lua: iterative (no
 * recursion, no depth limit, paths longer than PATH_MAX included), skips .git, honours
 * .gitignore files and extra patterns, never loops on symlinks, records unreadable entries and
 * goes on, and returns paths relative to the root sorted bytewise. */
#ifndef AGENT_WALK_H
#define AGENT_WALK_H

#include <stdatomic.h>
#include <stddef.h>

/* NUL-terminated strings packed back to back in one buffer, listed by offset. Owned by the
 * struct: free with agent_walk_strings_free. */
struct walk_strings {
  char *buf;
  size_t len, cap;
  size_t *off; /* off[i]: where string i starts in buf */
  size_t n, cap_off;
};

static inline const char *walk_string(const struct walk_strings *s, size_t i)
{
  return s->buf + s->off[i];
}

void agent_walk_strings_free(struct walk_strings *s);

/* One extra pattern (a .gitignore line); not NUL-terminated, may be empty. */
struct walk_pattern {
  const char *text;
  size_t len;
};

struct walk_opts {
  int hidden;    /* list dot files and descend into dot directories (.git never) */
  int follow;    /* descend through symlinks to directories (loops are detected) */
  int dirs;      /* also list directories, with a trailing '/' */
  int gitignore; /* honour the .gitignore files found in the tree */
  const struct walk_pattern *ignore; /* extra patterns, as in a .gitignore at the root */
  size_t nignore;
  size_t max_files;         /* stop after this many listed entries (with follow, directories entered
                               count too); 0: AGENT_FS_WALK_MAX_FILES */
  size_t threads;           /* readers at most, the caller included (1: the calling thread alone);
                               0: one per online CPU. Capped at AGENT_FS_WALK_THREADS_MAX. */
  size_t max_ignore_bytes;  /* a larger .gitignore is skipped (reported), as git does;
                               0: AGENT_FS_IGNORE_FILE_MAX */
  const atomic_int *cancel; /* NULL, or a flag another thread may set: the walk then stops
                               before its next directory and fails with ECANCELED */
};

struct walk_result {
  struct walk_strings files;  /* paths relative to the root ("a/b.txt", "a/" for dirs) */
  struct walk_strings errors; /* "walk '<path>': <reason>", one per unreadable entry */
};

/* Walks the tree under root. Returns 0 with *out filled (files and errors sorted bytewise), or
 * an errno when root itself cannot be read (*out is then empty), memory runs out or the walk
 * was cancelled (ECANCELED, opts->cancel). Either
 * way, the caller frees *out with agent_walk_result_free. A tree of more than a few dozen
 * directories is read by a few threads at once (opts->threads); they never outlive the call,
 * and the result is the same. Past max_files the walk stops and keeps the bytewise-first
 * max_files of the entries it listed. */
int agent_walk_tree(const char *root, const struct walk_opts *opts, struct walk_result *out);

void agent_walk_result_free(struct walk_result *r);

/* The names in one directory (not "." or ".."), sorted bytewise. 0 or an errno; the caller
 * frees *out with agent_walk_strings_free either way. */
int agent_walk_list_dir(const char *dir, struct walk_strings *out);

#endif
