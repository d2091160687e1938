/* Frontmatter of rule files in plain C (no Lua): finding the fenced YAML block, the leniency
 * pre-pass that makes the not-quite-YAML of real .mdc files parse, and the splitting of a
 * comma-separated `globs` value. rules.c decodes the YAML and builds the Lua values. */
#ifndef AGENT_FRONTMATTER_H
#define AGENT_FRONTMATTER_H

#include <stddef.h>

struct agent_frontmatter {
  int found;       /* 1 when the text opens with a `---` fence */
  size_t yaml_off; /* the block between the fences: text[yaml_off, yaml_off+yaml_len) */
  size_t yaml_len;
  long yaml_line;  /* file line (1-based) of the block's first line */
  size_t body_off; /* the body: text[body_off, len) (0 without frontmatter) */
  long body_line;  /* file line of the body's first line */
};

/* Splits text[0..len). The first line must be `---` (after an optional UTF-8 BOM; trailing
 * blanks and CR allowed); the block ends at the next line that is `---` or `...`. Returns 0
 * and fills *fm (found = 0 and the whole text as body when there is no opening fence), or
 * -1 when the opening fence is never closed (the problem is on line 1). */
int agent_frontmatter_split(const char *text, size_t len, struct agent_frontmatter *fm);

/* The leniency pre-pass over a frontmatter block: CRLF becomes LF, a lone CR (a line break to
 * YAML but not to our line count) becomes a space, and plain values a strict YAML parser
 * would misread or reject are single-quoted:
 *  - top-level values and block-sequence items that start with an indicator: `*` (a glob
 *    starting with `**`, an alias to YAML), `@`, backtick, `%`, `,`, `]`, `}`;
 *  - a quoted value followed by more text (`"a", "b"`);
 *  - a `[` value that is not closed, and a `{` value that is not closed or holds a `*`
 *    (a glob, not a collection);
 *  - a top-level value holding `: ` (an error in YAML, prose in a description);
 *  - inside a one-line flow sequence, items with such starts or with brackets or braces.
 * Block scalars (`|`, `>`) and comments are left alone. No line is added or removed, so YAML
 * line numbers are file line numbers offset by the fence. Writes at most cap bytes to out
 * (out may be NULL) and returns the length of the whole result: call once to size, once to
 * write. */
size_t agent_frontmatter_lenient(const char *yaml, size_t len, char *out, size_t cap);

/* The line (1-based within yaml) of the top-level key `key`, or 0 when absent: for pointing
 * an error about a value at the line that holds it. */
long agent_frontmatter_key_line(const char *yaml, size_t len, const char *key);

/* Iterates the globs of one comma-separated string, as people write them in a `globs`
 * value: commas inside `{...}`, `[...]` and quotes do not split, and each item is trimmed
 * and loses one level of surrounding quotes. Returns 1 with the item at s[*off, *off+*n)
 * and *pos advanced, or 0 when no non-empty item is left. Start with *pos = 0. */
int agent_frontmatter_next_glob(const char *s, size_t len, size_t *pos, size_t *off, size_t *n);

#endif
