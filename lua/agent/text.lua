-- Text helpers the pipeline shares: trimming, line ends as cmark counts them (LF, CRLF, CR;
-- a byte-order mark is not part of line 1), CommonMark fence tracking, and the status line
-- forms (`Status: X`, `**State:** X`) stories, ADRs, runbooks and the offline judge read.
-- One home each, so a story and a runbook never disagree about where a line or a fence ends.
local M = {}

M.BOM = "\239\187\191"

-- s without leading and trailing whitespace.
function M.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- s with every occurrence of the plain string old replaced by new (no pattern characters:
-- what it replaces is data, such as a key to mask).
function M.replace_plain(s, old, new)
  local at = s:find(old, 1, true)
  if not at then return s end
  local parts, from = {}, 1
  while at do
    parts[#parts + 1] = s:sub(from, at - 1)
    parts[#parts + 1] = new
    from = at + #old
    at = s:find(old, from, true)
  end
  parts[#parts + 1] = s:sub(from)
  return table.concat(parts)
end

-- text with its byte-order mark dropped and every CRLF or lone CR turned into LF.
function M.normalize(text)
  text = text:gsub("^" .. M.BOM, "")
  if text:find("\r", 1, true) then text = text:gsub("\r\n?", "\n") end
  return text
end

-- The lines of text without their endings (LF, CRLF or CR) or a leading byte-order mark. A
-- final line end ends the last line: "a\n" is one line, "a\nb" two, "" none.
function M.split_lines(text)
  local lines = {}
  local norm = M.normalize(text)
  for line in (norm .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  if norm:sub(-1) == "\n" or norm == "" then lines[#lines] = nil end
  return lines
end

-- An iterator over split_lines(text): for n, line in text.lines(s) do ... end
function M.lines(text)
  return ipairs(M.split_lines(text or ""))
end

-- The byte range of line n of text (its first and last byte, the ending left out), as
-- split_lines counts lines; nil past the last line.
function M.line_span(text, n)
  local pos = text:sub(1, 3) == M.BOM and 4 or 1
  for _ = 2, n do
    local i = text:find("[\r\n]", pos)
    if not i then return nil end
    pos = text:sub(i, i + 1) == "\r\n" and i + 2 or i + 1
  end
  return pos, (text:find("[\r\n]", pos) or #text + 1) - 1
end

-- The length of the longest run of backticks in s (0 when none): one plain find per run,
-- so a long text without backticks costs one memchr pass.
function M.longest_backticks(s)
  local longest, at = 0, 1
  while true do
    local first = s:find("`", at, true)
    if not first then return longest end
    at = s:find("[^`]", first) or #s + 1
    longest = math.max(longest, at - first)
  end
end

-- ---- Fences --------------------------------------------------------------------------------

-- The fence a line opens, per CommonMark: up to three spaces, then three or more backticks
-- or tildes; a backtick fence's info string may hold no backtick. Returns its character and
-- length, or nil.
function M.opening_fence(line)
  local indent, run, info = line:match("^( *)(```+)(.*)$")
  if not run then indent, run, info = line:match("^( *)(~~~+)(.*)$") end
  if not run or #indent > 3 or (run:sub(1, 1) == "`" and info:find("`", 1, true)) then return nil end
  return run:sub(1, 1), #run
end

-- Whether line closes a fence of ch repeated len times: up to three spaces, a run of the
-- same character at least as long, nothing after it but whitespace.
function M.closes_fence(line, ch, len)
  local indent, run = line:match("^( *)(" .. (ch == "`" and "`" or "~") .. "+)%s*$")
  return run ~= nil and #indent <= 3 and #run >= len
end

-- A fence tracker for reading a document line by line: each call takes the next line and
-- says where it stands, "open" (it opens a fence), "close" (it closes the open one), "code"
-- (inside a fence) or nil (ordinary text).
function M.fences()
  local ch, len
  return function(line)
    if ch then
      if M.closes_fence(line, ch, len) then
        ch = nil
        return "close"
      end
      return "code"
    end
    ch, len = M.opening_fence(line)
    return ch and "open" or nil
  end
end

-- ---- Status lines --------------------------------------------------------------------------

local STATE_NAMES = { state = true, status = true }

-- A `State: X` / `Status: X` / `**Status:** X` / `**State**: X` / `## Status: X` line:
-- returns X (the rest of the line after the colon and any emphasis marker, not empty) and
-- the column where it starts, else nil.
function M.status_value(line)
  local name, rest = line:match("^%s*#*%s*[%*_]*(%a+)[%*_]*%s*:(.*)$")
  if not name or not STATE_NAMES[name:lower()] then return nil end
  local pad, value = rest:match("^([%*_]*%s*)(.-)%s*$")
  if value == "" then return nil end
  return value, #line - #rest + #pad + 1
end

-- ---- Template placeholders ---------------------------------------------------------------

-- The line with f applied to each stretch outside its code spans (a span runs from a run
-- of backticks to the next run of the same length; an unclosed run is text).
local function outside_code_spans(line, f)
  local out, pos = {}, 1
  while true do
    local s, e = line:find("`+", pos)
    if not s then break end
    local run, from = line:sub(s, e), e + 1
    local close_s, close_e
    repeat
      close_s, close_e = line:find("`+", from)
      from = close_e and close_e + 1
    until not close_s or close_e - close_s + 1 == #run
    if not close_s then break end
    out[#out + 1] = f(line:sub(pos, s - 1))
    out[#out + 1] = line:sub(s, close_e)
    pos = close_e + 1
  end
  out[#out + 1] = f(line:sub(pos))
  return table.concat(out)
end

local function escape_brace_text(s)
  return (s:gsub("\\?([{}])", "\\%1")) -- an escaped brace stays escaped once
end

-- escape_braces(markdown) -> the markdown with every `{` and `}` outside code (fenced blocks
-- and code spans) backslash-escaped. It renders the same; the escape marks the braces as
-- text written on purpose, so `{tenant_id}` quoted from a story is never taken for a
-- template's unfilled `{placeholder}` (docs/runbook-format.md, the placeholders gate).
-- Not in agent.md: scripts escape with escape_inline, which escapes braces too.
function M.escape_braces(markdown)
  local text = tostring(markdown)
  if not text:find("[{}]") then return text end
  local out, fence = {}, M.fences()
  for _, line in M.lines(text) do
    out[#out + 1] = fence(line) == nil and outside_code_spans(line, escape_brace_text) or line
  end
  return table.concat(out, "\n") .. (text:find("\n$") and "\n" or "")
end

-- HTML elements a markdown text may use as they are: `<br>` is markup, not a placeholder.
local HTML_TAGS = {}
for tag in ([[a abbr b blockquote br code dd del details div dl dt em h1 h2 h3 h4 h5 h6 hr i img
  ins kbd li mark ol p pre q s samp small span strong sub summary sup table tbody td th thead
  tr u ul var wbr]]):gmatch("%S+") do
  HTML_TAGS[tag] = true
end

-- The `<role>`-style placeholders a story or runbook template leaves for a writer (lower-case
-- words in angle brackets, "<what must not happen, and how it is refused>") outside code
-- spans, each once per occurrence, in order. An HTML tag, an autolink (`<https://...>`,
-- `<a@b.c>`) or a generic (`List<string>`, after a word) is none.
function M.angle_placeholders(line)
  local hits = {}
  local text = line:gsub("(`+).-%1", function(ticks) return (" "):rep(#ticks) end)
  for before, body in text:gmatch("(.?)<(%l[^<>]-)>") do
    local word = body:match("^(%l[%w]*)/?$") or body:match("^(%l[%w]*)%s+[%w%-]+=")
    if not before:match("[%w_]") and not body:find("[:@=/\\]") and not (word and HTML_TAGS[word]) then
      hits[#hits + 1] = "<" .. body .. ">"
    end
  end
  return hits
end

return M
