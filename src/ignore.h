/* gitignore patterns with git's semantics (gitignore(5); wildmatch with WM_PATHNAME), in plain
 * C with no Lua: one list per .gitignore file, matched against '/'-separated paths relative to
 * the walk root. The walker (walk.c) stacks lists from the root down; tests and the fuzzer call
 * this directly. */
#ifndef AGENT_IGNORE_H
#define AGENT_IGNORE_H

#include <stddef.h>

/* What a list says about a path: nothing matched, a pattern excludes it, or the last matching
 * pattern was a negation (`!pattern`) that re-includes it. */
enum ignore_verdict { IGNORE_NONE = 0, IGNORE_EXCLUDED, IGNORE_INCLUDED };

struct ignore_list;

/* A new, empty list for the patterns of the .gitignore in directory `base`: relative to the
 * root, without a trailing slash, "" (length 0) for the root itself. Patterns with a slash are
 * anchored there, and paths outside it never match. NULL when out of memory; the caller frees
 * the list with agent_ignore_free. */
struct ignore_list *agent_ignore_new(const char *base, size_t base_len);

void agent_ignore_free(struct ignore_list *list);

/* Adds every pattern of a .gitignore file's text: a UTF-8 BOM, CRLF line ends, blank lines,
 * `#` comments and unescaped trailing spaces are handled as git does. 0, or ENOMEM (the list
 * then holds the patterns added so far). */
int agent_ignore_add_text(struct ignore_list *list, const char *text, size_t len);

/* Adds one line as it would appear in a .gitignore (blank and comment lines add nothing).
 * 0 or ENOMEM. */
int agent_ignore_add_line(struct ignore_list *list, const char *line, size_t len);

/* Patterns the list holds (blank and comment lines are not patterns). */
size_t agent_ignore_count(const struct ignore_list *list);

/* The verdict of the last pattern of the list that matches `path` (relative to the root, no
 * trailing slash); is_dir says whether the path names a directory, for `dir/` patterns. */
enum ignore_verdict agent_ignore_match(const struct ignore_list *list, const char *path, size_t len,
                                       int is_dir);

/* git's wildmatch with WM_PATHNAME: `*`, `?` and `[...]` never match '/'; a double star
 * matches across directories only as a whole segment (leading, trailing or between slashes);
 * a backslash escapes the next character. Returns 1 when the whole text matches the whole
 * pattern. Iterative, in constant space, and polynomial whatever the pattern. */
int agent_ignore_wildmatch(const char *pattern, size_t pattern_len, const char *text,
                           size_t text_len);

#endif
