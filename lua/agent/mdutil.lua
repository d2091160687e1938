-- Markdown helpers for scripts that write markdown (the runbook template, personas): fences
-- that survive nested fences, inline escaping, bullets, headings and tables. Team scripts see
-- this module as `agent.md`. Pure functions of their arguments.
--
-- Every block helper (fence, bullets, heading, table) returns text ending in "\n", or "" when
-- there is nothing to write, so blocks join with a blank line: table.concat(blocks, "\n").
local text_mod = require("agent.text")

local M = {}

-- The fence info string of a file, by its extension (or its name, for Dockerfile and
-- Makefile). One table for the runbook's steps, the synthesis and the prompt's context.
local LANGUAGES = {
  py = "python", js = "javascript", mjs = "javascript", ts = "typescript", tsx = "tsx", jsx = "jsx",
  go = "go", rs = "rust", rb = "ruby", sh = "bash", bash = "bash", yaml = "yaml", yml = "yaml",
  json = "json", toml = "toml", md = "markdown", mdc = "markdown", lua = "lua", c = "c", h = "c",
  cc = "cpp", cpp = "cpp", hpp = "cpp", sql = "sql", tf = "hcl", java = "java", kt = "kotlin",
  cs = "csharp", swift = "swift", scala = "scala", php = "php", html = "html", css = "css",
  xml = "xml", ini = "ini", dockerfile = "dockerfile", makefile = "makefile",
}

-- language(path) -> the fence info string for the file at path ("python" for a .py file),
-- or nil when its kind is not known.
function M.language(path)
  local base = tostring(path):match("([^/]*)$"):lower()
  return LANGUAGES[base] or LANGUAGES[base:match("%.([%w]+)$") or ""]
end

-- fence(text [, info]) -> a fenced code block holding text verbatim.
-- The fence is one backtick longer than the longest backtick run inside text (at least three),
-- so no line of text can close it: CommonMark closes a backtick fence only with a run at least
-- as long. A final newline is added when text lacks one (a fenced block's content always ends
-- with one). Backticks and line breaks are dropped from info: an info string may hold neither.
function M.fence(text, info)
  assert(type(text) == "string", "fence: text must be a string")
  info = info and tostring(info):gsub("[`\r\n]", ""):match("^%s*(.-)%s*$") or ""
  local bar = ("`"):rep(math.max(3, text_mod.longest_backticks(text) + 1))
  if text ~= "" and text:sub(-1) ~= "\n" then text = text .. "\n" end
  return bar .. info .. "\n" .. text .. bar .. "\n"
end

-- escape_inline(text) -> text safe to place inside a paragraph, list item, table cell or
-- heading: one line (runs of whitespace holding a line break become one space), markdown's
-- inline punctuation backslash-escaped, and a leading character that would start a block
-- (heading, list item, setext underline) escaped.
function M.escape_inline(text)
  local s = tostring(text)
  s = s:gsub("%s*[\r\n]%s*", " ")
  s = s:gsub("[\\`*_%[%]<>|{}]", "\\%0")
  if s:match("^[#+%-=]") then
    s = "\\" .. s
  else
    s = s:gsub("^(%d+)([.)])", "%1\\%2")
  end
  return s
end

-- code(text) -> an inline code span holding text verbatim (one line): the backtick string is
-- longer than any run inside, and a space pads text that starts or ends with a backtick.
function M.code(text)
  local s = tostring(text):gsub("[\r\n]+", " ")
  local bar = ("`"):rep(text_mod.longest_backticks(s) + 1)
  if s:match("^`") or s:match("`$") or s:match("^ .* $") then s = " " .. s .. " " end
  return bar .. s .. bar
end

-- bullets(list) -> "- a\n- b\n". Items are markdown, written as given; an item spanning
-- several lines has its later lines indented so they stay inside the item.
function M.bullets(list)
  local out = {}
  for _, item in ipairs(list) do
    local text = tostring(item):gsub("\n+$", "")
    out[#out + 1] = "- " .. text:gsub("\n(.)", "\n  %1") .. "\n"
  end
  return table.concat(out)
end

-- heading(level, text) -> "## text\n", text escaped as inline text; trailing '#' characters
-- are escaped too, as CommonMark would otherwise read them as a closing sequence.
function M.heading(level, text)
  assert(math.type(level) == "integer" and level >= 1 and level <= 6, "heading: level must be an integer from 1 to 6")
  local s = M.escape_inline(text):gsub("#+$", function(run) return ("\\#"):rep(#run) end)
  return ("#"):rep(level) .. " " .. s .. "\n"
end

-- nest(markdown, level) -> markdown that stays inside a section of level-1: every ATX
-- heading outside code is pushed down to at least `level` (at most 6), a heading that would
-- read as a runbook step ([MODIFY] ...) has its bracket escaped, a setext underline is cut
-- off from the paragraph it would turn into a heading, and a fence left open at the end is
-- closed. For markdown from a model, which must not add sections or steps.
function M.nest(text, level)
  assert(math.type(level) == "integer" and level >= 1 and level <= 6, "nest: level must be an integer from 1 to 6")
  text = tostring(text)
  local ends_nl = text:sub(-1) == "\n"
  local out, fence_ch, fence_len = {}, nil, 0
  local after_text = false -- the previous line continues a paragraph
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local was_text = after_text
    after_text = false
    if fence_ch then
      if text_mod.closes_fence(line, fence_ch, fence_len) then fence_ch = nil end
    else
      local ch, len = text_mod.opening_fence(line)
      if ch then
        fence_ch, fence_len = ch, len
      else
        local indent, hashes, rest = line:match("^( ? ? ?)(#+)(.*)$")
        if hashes and #hashes <= 6 and (rest == "" or rest:match("^%s")) then
          rest = rest:gsub("^(%s+)%[(%a+%])", "%1\\[%2")
          line = indent .. ("#"):rep(math.min(6, math.max(level, #hashes))) .. rest
        elseif was_text and (line:match("^ ? ? ?=+%s*$") or line:match("^ ? ? ?%-+%s*$")) then
          out[#out + 1] = "" -- a blank line first: a rule or text, never a setext heading
        else
          after_text = line:find("%S") ~= nil
        end
      end
    end
    out[#out + 1] = line
  end
  if ends_nl then out[#out] = nil end -- text .. "\n" ended in an empty piece
  local s = table.concat(out, "\n") .. (ends_nl and "\n" or "")
  if fence_ch then
    s = s .. ((s == "" or ends_nl) and "" or "\n") .. fence_ch:rep(fence_len) .. "\n"
  end
  return s
end

local function cell(v)
  return M.escape_inline(v == nil and "" or tostring(v))
end

-- table(rows) -> a pipe table; rows[1] is the header row, the others are data rows. Cells are
-- escaped as inline text ('|' included); short rows are padded to the header's width.
function M.table(rows)
  if #rows == 0 then return "" end
  local width = 0
  for _, row in ipairs(rows) do width = math.max(width, #row) end
  local out = {}
  local function line(row)
    local cells = {}
    for i = 1, width do cells[i] = cell(row[i]) end
    out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |\n"
  end
  line(rows[1])
  out[#out + 1] = "|" .. (" --- |"):rep(width) .. "\n"
  for i = 2, #rows do line(rows[i]) end
  return table.concat(out)
end

return M
