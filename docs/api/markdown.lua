---@meta
-- agent.markdown: CommonMark through cmark 0.30 (src/markdown.c, src/markdown_source.c).
-- Annotation stub for the Lua language server; the code is in C.
--
-- Lines are numbered from 1 as cmark numbers them: "\n", "\r\n" and a lone "\r" each end a
-- line, and a UTF-8 byte order mark is not part of line 1. Headings and code blocks are found
-- at any depth (in block quotes and list items too); headings inside code are not headings.
-- The walk is iterative, so deep nesting cannot overflow the C stack. cmark replaces NUL bytes
-- with U+FFFD in titles and code text; parse keeps other bytes as they are.

---@class agent.markdown
local markdown = {}

---@class agent.markdown.section
---@field level integer 1..6
---@field title string the heading's plain text: text and code spans, line breaks as spaces, no markup or inline HTML
---@field line integer the heading's first line
---@field body_line integer the line after the heading (after a setext heading's underline)
---@field end_line integer the last line before the next heading of the same or a higher level, or the last line; body_line - 1 when the section is empty
---@field text string source lines body_line..end_line joined by "\n" (CRLF and CR read as "\n"), "" when empty
---@field children agent.markdown.section[] the sections one level down, in order

---@class agent.markdown.code_block
---@field info string the info string after the opening fence ("" for indented code)
---@field lang string the first word of info
---@field text string the literal content, each line ending in "\n"
---@field line integer the first line (the opening fence, or the first indented line)
---@field end_line integer the last line (the closing fence, or the last content line when the fence is not closed)
---@field fence string the opening fence as written ("```", "~~~~"...), "" for indented code; the content starts at line + 1 when it is not ""

---@class agent.markdown.document
---@field sections agent.markdown.section[] the tree's roots (headings with no heading of a lower level before them)
---@field headings agent.markdown.section[] every heading in document order (the same tables as in the tree)
---@field code_blocks agent.markdown.code_block[] every code block in document order

---Parses markdown into its heading tree and code blocks.
---@param text string
---@param opts? {max_bytes?: integer} input size cap (default AGENT_MARKDOWN_INPUT_MAX, 64 MiB)
---@return agent.markdown.document|nil doc
---@return string? message "markdown: input of N bytes is over the limit of M bytes (max_bytes)"
---@return string? code "toobig"
function markdown.parse(text, opts) end

---Renders markdown to HTML without CMARK_OPT_UNSAFE: raw HTML becomes
---"<!-- raw HTML omitted -->" and javascript:, vbscript:, file: and non-image data: links
---get an empty href. Invalid UTF-8 is replaced by U+FFFD, so the HTML is valid UTF-8.
---@param text string
---@param opts? {max_bytes?: integer}
---@return string|nil html
---@return string? message as for parse
---@return string? code "toobig"
function markdown.to_html(text, opts) end

return markdown
