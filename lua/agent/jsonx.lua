-- Tolerant JSON from model replies. Models wrap the JSON they were asked for in all sorts
-- of things: <think> blocks from reasoning models, ```json fences, a sentence before and
-- after, trailing commas. extract() finds the object inside and says plainly what was wrong
-- when there is none. (Encoding is agent.json's job.)
local cjson = require("cjson")

local M = {}

-- ---- Finding the object ------------------------------------------------------------------

-- Blanks [from, to] of s with spaces: offsets into the result stay offsets into the reply,
-- so error positions point at the model's own text.
local function blank(s, from, to)
  return s:sub(1, from - 1) .. string.rep(" ", to - from + 1) .. s:sub(to + 1)
end

-- Reasoning models open their reply with <think>...</think> (or <thinking>). Blanks those
-- leading blocks, and the rest of the text when one never closes (the reply is all
-- reasoning). A "<think>" later in the reply is left alone: it may sit inside a JSON string.
local function strip_leading_think(s)
  local lower = s:lower()
  local pos = lower:find("%S") or #s + 1
  while lower:find("^<think", pos) do
    local close = lower:find("</think", pos, true)
    local close_end = close and (lower:find(">", close, true) or #s) or #s
    s = blank(s, pos, close_end)
    pos = lower:find("%S", close_end + 1) or #s + 1
  end
  return s
end

-- When a chat template put the opening <think> into the prompt, the reply holds only the
-- closing tag. Returns s with everything up to that orphan "</think>" blanked, or nil when
-- there is none.
local function strip_orphan_close(s)
  local lower = s:lower()
  local close = lower:find("</think", 1, true)
  if not close or lower:find("<think", 1, true) then return nil end
  return blank(s, 1, lower:find(">", close, true) or #s)
end

-- The reply with reasoning blanked: s (leading blocks gone) and, when there is an orphan
-- closing tag, alt (everything before it gone too), which is tried first.
local function strip_think(text)
  local s = strip_leading_think(text)
  return s, strip_orphan_close(s)
end

-- Whether the "```" at `at` opens a line (up to three spaces of indent, as CommonMark
-- allows). A fence inside a JSON string never does: its newline is the escape "\n".
local function at_line_start(s, at)
  local j = at - 1
  while j > 0 and at - j <= 3 and s:byte(j) == 32 do j = j - 1 end
  return j == 0 or s:byte(j) == 10
end

-- The body of the first fenced block that looks like JSON: ```json first, else any fence
-- whose body starts with "{". Returns its first and last offsets, or nil. An unclosed
-- fence runs to the end of the text (a truncated reply).
local function json_fence(s)
  local fallback_from, fallback_to
  local pos = 1
  while true do
    local start, header_end, info = s:find("```[ \t]*([%w_+-]*)[^\n]*\n", pos)
    if not start then break end
    if at_line_start(s, start) then
      local close = s:find("\n[ \t]*```", header_end)
      local body_from, body_to = header_end + 1, close or #s
      info = info:lower()
      if info == "json" or info == "jsonc" then return body_from, body_to end
      if not fallback_from and s:find("^%s*{", body_from) and body_from <= body_to then
        fallback_from, fallback_to = body_from, body_to
      end
      if not close then break end
      pos = s:find("```", close, true) + 3
    else
      pos = start + 3
    end
  end
  return fallback_from, fallback_to
end

-- From the "{" at `open`, the offset of the matching "}" (strings and escapes respected), or
-- nil when `last` comes first. Jumps between interesting bytes with find, so plain text
-- and long strings are skipped at C speed.
local function balanced_end(s, open, last)
  local depth, i = 0, open
  while true do
    i = s:find('[{}"]', i)
    if not i or i > last then return nil end
    local c = s:byte(i)
    if c == 34 then -- a string: find its closing quote, skipping escaped characters
      repeat
        i = s:find('["\\]', i + 1)
        if not i or i > last then return nil end
        local escaped = s:byte(i) == 92
        if escaped then i = i + 1 end
      until not escaped
    elseif c == 123 then
      depth = depth + 1
    else
      depth = depth - 1
      if depth == 0 then return i end
    end
    i = i + 1
  end
end

-- Removes commas that directly precede "}" or "]" outside strings: the most common way a
-- model's JSON is almost right.
local function drop_trailing_commas(s)
  local out, in_string, escaped = {}, false, false
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if in_string then
      if escaped then escaped = false
      elseif c == "\\" then escaped = true
      elseif c == '"' then in_string = false end
      out[#out + 1] = c
    elseif c == '"' then
      in_string = true
      out[#out + 1] = c
    elseif c == "," and s:find("^%s*[}%]]", i + 1) then
      out[#out + 1] = " "
    else
      out[#out + 1] = c
    end
    i = i + 1
  end
  return table.concat(out)
end

-- cjson says "Expected comma or object end but found T_STRING at character 25"; this turns
-- it into "JSON error at character N: expected comma ..." with N counted in the reply.
local TOKEN_NAMES = {
  T_OBJ_BEGIN = "'{'", T_OBJ_END = "'}'", T_ARR_BEGIN = "'['", T_ARR_END = "']'",
  T_STRING = "a string", T_NUMBER = "a number", T_BOOLEAN = "a boolean", T_NULL = "null",
  T_COLON = "':'", T_COMMA = "','", T_END = "the end of the text", T_ERROR = "an invalid token",
}

local function decode_error(msg, offset)
  msg = tostring(msg):gsub("^.-:%d+: ", ""):gsub("T_[%u_]+", TOKEN_NAMES)
  local what, at = msg:match("^(.-)%s+at character (%d+)$")
  if not what then return "JSON error: " .. msg end
  return ("JSON error at character %d: %s"):format(offset + tonumber(at), what:sub(1, 1):lower() .. what:sub(2))
end

local function decode(candidate, offset)
  local ok, value = pcall(cjson.decode, candidate)
  if ok then return value end
  local first_err = value
  ok, value = pcall(cjson.decode, drop_trailing_commas(candidate))
  if ok then return value end
  return nil, decode_error(first_err, offset)
end

-- Each "{" tried scans to its matching brace, so a reply full of braces that are not JSON
-- could cost quadratic time. Trying stops after this many candidates, or once the bytes
-- scanned reach four times the range (plus a little for short replies).
local MAX_CANDIDATES = 64
local function scan_budget(from, to) return 4 * (to - from + 1) + 65536 end

-- Tries each "{" in s[from..to] in order. Returns value, or nil, first decode error,
-- whether some object never closed.
local function scan(s, from, to)
  local first_err, unclosed, pos = nil, false, from
  local budget = scan_budget(from, to)
  for _ = 1, MAX_CANDIDATES do
    local open = s:find("{", pos, true)
    if not open or open > to or budget <= 0 then break end
    local close = balanced_end(s, open, to)
    budget = budget - ((close or to) - open + 1)
    if close then
      local value, err = decode(s:sub(open, close), open - 1)
      if value ~= nil then return value end
      first_err = first_err or err
    else
      unclosed = true
    end
    pos = open + 1
  end
  return nil, first_err, unclosed
end

-- The first object in s: a JSON fence's body first, then the whole text. Returns value,
-- or nil, msg.
local function search(s)
  local fence_from, fence_to = json_fence(s)
  local err, unclosed
  if fence_from then
    local value
    value, err, unclosed = scan(s, fence_from, fence_to)
    if value ~= nil then return value end
  end
  local value, whole_err, whole_unclosed = scan(s, 1, #s)
  if value ~= nil then return value end
  err = err or whole_err
  if err then return nil, err end
  if unclosed or whole_unclosed then
    return nil, "JSON object is not closed (the reply looks truncated)"
  end
  return nil, "no JSON object in the reply"
end

-- jsonx.extract(text) -> value | nil, msg: the first JSON object in a model reply, outside
-- its reasoning. Offsets in messages count from the reply's first byte.
function M.extract(text)
  if type(text) ~= "string" then
    error(("jsonx.extract: expected a string, got %s"):format(type(text)), 2)
  end
  if not text:find("%S") then return nil, "no JSON object in the reply (the reply is empty)" end
  local s, alt = strip_think(text)
  if not (alt or s):find("%S") then return nil, "no JSON object in the reply (only a <think> block)" end
  local value, err = search(alt or s)
  if value ~= nil or not alt then return value, err end
  -- the "</think>" may have been text inside a JSON string, not a template's leftover
  value = search(s)
  if value ~= nil then return value end
  return nil, err
end

-- jsonx.truncated_hint(text) -> bool: the reply opens a JSON object it never closes, as a
-- reply cut off by the token limit does.
function M.truncated_hint(text)
  if type(text) ~= "string" then return false end
  local s, alt = strip_think(text)
  s = alt or s
  local from, to = json_fence(s)
  if not from then from, to = 1, #s end
  local pos = from
  for _ = 1, MAX_CANDIDATES do
    local open = s:find("{", pos, true)
    if not open or open > to then return false end
    local close = balanced_end(s, open, to)
    if not close then return true end
    pos = close + 1
  end
  return false
end

return M
