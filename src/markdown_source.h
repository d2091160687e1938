/* Facts about markdown source lines that cmark 0.30 does not report: where each line starts
 * (cmark's own line numbering), how long a code fence is, whether a line closes a fence or
 * underlines a setext heading. Plain C, used by markdown.c, tested without Lua. */
#ifndef AGENT_MARKDOWN_SOURCE_H
#define AGENT_MARKDOWN_SOURCE_H

#include <stddef.h>
#include <stdint.h>

/* A byte offset into markdown source. Four bytes, not eight: a document of newlines only has
 * as many lines as bytes, and the index is built for every parse. Inputs are capped below
 * 4 GiB (markdown.c refuses a larger max_bytes). */
typedef uint32_t agent_md_offset;

#define AGENT_MD_OFFSET_MAX UINT32_MAX

/* The number of lines in text, counted as cmark counts them: "\n", "\r\n" and a lone "\r"
 * each end a line, and a last line without an ending counts too ("" has none). */
size_t agent_md_count_lines(const char *text, size_t len);

/* Fills starts[0..count] (count from agent_md_count_lines) with the byte offset where each
 * line begins, and starts[count] = len. A UTF-8 byte order mark is not part of line 1
 * (cmark skips it too). len must be at most AGENT_MD_OFFSET_MAX. */
void agent_md_index_lines(const char *text, size_t len, agent_md_offset *starts, size_t count);

/* The bytes of line n (1-based) without its line ending: text[*begin .. *end). */
void agent_md_line(const char *text, const agent_md_offset *starts, size_t n, size_t *begin,
                   size_t *end);

/* Whether line (len bytes) opens an ATX heading at byte col: 1 to 6 '#' then a space, a
 * tab or the end of the line. */
int agent_md_is_atx(const char *line, size_t len, size_t col);

/* The length of the opening fence of the code block cmark reports at byte col of line, or 0
 * when it is an indented code block. info and literal are cmark's for the block. An indented
 * block can begin with ``` too; it is told apart because its literal starts with that same
 * line, which in a fenced block would have closed the fence. *fence_char gets '`' or '~'. */
size_t agent_md_fence_length(const char *line, size_t len, size_t col, const char *info,
                             const char *literal, char *fence_char);

/* Whether line closes a fence of n fence_char: container markers ('>', spaces, tabs), at
 * least n fence_char, then only spaces and tabs. */
int agent_md_is_closing_fence(const char *line, size_t len, char fence_char, size_t n);

/* Whether line underlines a setext heading whose text starts at byte content_col of a line
 * with `quotes` block-quote markers before that column: the same markers, at most three
 * spaces of indentation more, a run of '=' or '-', then only spaces and tabs. */
int agent_md_is_setext_underline(const char *line, size_t len, size_t content_col, size_t quotes);

/* How many '>' appear in line[0..col). */
size_t agent_md_count_quotes(const char *line, size_t len, size_t col);

#endif
