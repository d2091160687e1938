/* Glob patterns for rule selection, in plain C (no Lua): a compiler from pattern text to a
 * small per-segment program, a matcher that never backtracks exponentially, and a path index
 * that lets one glob be tried against only the paths that could match it. */
#ifndef AGENT_GLOB_H
#define AGENT_GLOB_H

#include <stddef.h>

enum {
  AGENT_GLOB_OK = 0,
  AGENT_GLOB_EPATTERN = -1, /* the pattern is malformed; the error buffer says why */
  AGENT_GLOB_ENOMEM = -2,
};

struct agent_glob;

/* Compiles pattern[0..len) (not NUL-terminated; a NUL byte is an ordinary character).
 * Syntax: `**` as a whole segment matches zero or more segments (one or more when it ends
 * the pattern: everything below the directory before it); `*` and `?` never cross `/`; `[...]`
 * with ranges, `!`/`^` negation and `[:alpha:]`-style classes; `{a,b}` alternatives,
 * nestable, at most AGENT_GLOB_BRACE_MAX in all; `\x` escapes x. A pattern with no `/`
 * (other than a trailing one) matches the basename at any depth; a leading `/` or `./`
 * anchors it at the root; a trailing `/` means everything below. `?` and classes match one
 * UTF-8 character; matching is bytewise and case-sensitive, and `*` matches dot files.
 * On success *out owns the program (free with agent_glob_free). On failure a one-line reason
 * ("unclosed '['") is written to err (errsize bytes, always NUL-terminated when errsize>0). */
int agent_glob_compile(const char *pattern, size_t len, struct agent_glob **out, char *err,
                       size_t errsize);

/* Per-call caps for agent_glob_compile_with; a 0 takes the default from agent_limits.h. */
struct agent_glob_limits {
  size_t max_bytes;        /* pattern length (AGENT_GLOB_PATTERN_MAX) */
  size_t max_alternatives; /* brace alternatives in all (AGENT_GLOB_BRACE_MAX) */
};

/* agent_glob_compile with caps of the caller's (lim may be NULL: the defaults). */
int agent_glob_compile_with(const char *pattern, size_t len, const struct agent_glob_limits *lim,
                            struct agent_glob **out, char *err, size_t errsize);

void agent_glob_free(struct agent_glob *g);

/* 1 when path[0..len) matches, else 0. Leading "./" of the path is ignored. Time is
 * O(pattern x path) at worst; no input makes it exponential. */
int agent_glob_match(const struct agent_glob *g, const char *path, size_t len);

/* How many brace alternatives the pattern expanded to (1 without braces). */
size_t agent_glob_alternatives(const struct agent_glob *g);

/* ---- Path index -------------------------------------------------------------------------
 * Built once from many paths, then queried by many globs: paths sorted bytewise (a glob's
 * literal prefix is a binary-searched range), and hash tables from a key to the paths that
 * have it, in bytewise order: by extension, basename, directory name and the basename's
 * first bytes (a glob's required suffix, folder or basename prefix picks one bucket). Each
 * table is built on the first query that needs it. The index keeps its own copy of every
 * path: the caller's bytes may change or go as soon as agent_glob_index_add returns. */
struct agent_glob_index;

/* An empty index sized for `capacity` paths (it grows past that). NULL when out of memory. */
struct agent_glob_index *agent_glob_index_new(size_t capacity);

/* Adds (a copy of) one path; 0, or AGENT_GLOB_ENOMEM. Positions count from 0 in the order of
 * adding. A leading "./" does not count for sorting or matching. */
int agent_glob_index_add(struct agent_glob_index *ix, const char *path, size_t len);

/* Sorts the added paths (when they were not added sorted already); call once, after the last
 * add. 0 or AGENT_GLOB_ENOMEM. */
int agent_glob_index_build(struct agent_glob_index *ix);

/* The position of the bytewise-smallest path g matches, or -1. Tests only candidate paths
 * and stops at the first match. Not const: it may build a table (when memory for one runs
 * out it falls back to a wider run of candidates, with the same answer). */
long agent_glob_index_first(struct agent_glob_index *ix, const struct agent_glob *g);

/* The same answer by trying every path in bytewise order: the naive loop, for tests and
 * for measuring what the index saves. */
long agent_glob_index_scan(const struct agent_glob_index *ix, const struct agent_glob *g);

/* The index's copy of the path added at `position`, exactly as added ("./" included), its
 * length in *len; valid until agent_glob_index_free. NULL when there is no such position. */
const char *agent_glob_index_path(const struct agent_glob_index *ix, long position, size_t *len);

void agent_glob_index_free(struct agent_glob_index *ix);

#endif
