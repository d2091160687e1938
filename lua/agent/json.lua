-- JSON for agent's own output and wire formats, on top of lua-cjson:
--   * json.array(t) marks a table as a JSON array, so an empty one encodes as [] (Debian's
--     lua-cjson 2.1.0 has no array_mt and encodes every empty table as {});
--   * '/' is not escaped (cjson writes "\/", which is valid but noisy);
--   * object keys are sorted, so equal values encode to equal bytes (cache keys, --json);
--   * decode never raises: it returns nil, message.
local cjson = require("cjson")

local M = {}

M.null = cjson.null

local ARRAY = { __name = "json.array" }

-- Marks t as an array (also when empty) and returns it.
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

function M.is_array(t) return getmetatable(t) == ARRAY end

-- Whether t holds exactly the keys 1..#t (at least one): cjson's idea of an array, short of
-- its sparse-array allowance, which agent never relies on.
local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function key_text(k)
  local kind = type(k)
  if kind ~= "string" and kind ~= "number" then
    error("json.encode: a table key must be a string or a number, got " .. kind, 0)
  end
  return tostring(k)
end

-- Appends v's JSON to out. Scalars (strings above all) are cjson's; the structure is written
-- here so an object's keys come out sorted: the same value gives the same bytes in every
-- process, whatever order its table was built in (pairs follows a per-run hash seed).
local function write(v, out, seen)
  if type(v) ~= "table" then
    out[#out + 1] = cjson.encode(v)
    return
  end
  if seen[v] then error("json.encode: cycle in the value", 0) end
  seen[v] = true
  if getmetatable(v) == ARRAY or is_sequence(v) then
    out[#out + 1] = "["
    for i = 1, #v do
      if i > 1 then out[#out + 1] = "," end
      write(v[i], out, seen)
    end
    out[#out + 1] = "]"
  else
    local keys, text = {}, {}
    for k in pairs(v) do
      local s = key_text(k)
      keys[#keys + 1], text[s] = s, k
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, s in ipairs(keys) do
      out[#out + 1] = (i > 1 and "," or "") .. cjson.encode(s) .. ":"
      write(v[text[s]], out, seen)
    end
    out[#out + 1] = "}"
  end
  seen[v] = nil
end

-- cjson escapes every '/' as "\/", so in its output the byte before a '/' is always that
-- slash's own escape (an escaped backslash "\\" is never followed by a bare '/'): removing
-- the backslash of each "\/" restores the slashes and nothing else. A plain replacement, not
-- a function call per slash: a prompt's request body holds thousands of paths.
local function unescape_slashes(s)
  return (s:gsub("\\/", "/"))
end

-- Encodes a Lua value, objects with their keys sorted bytewise. Raises only for values JSON
-- cannot hold (functions, cycles, keys that are neither strings nor numbers).
function M.encode(v)
  local out = {}
  write(v, out, {})
  local s = table.concat(out)
  if s:find("\\/", 1, true) then s = unescape_slashes(s) end
  return s
end

-- Decodes JSON text: value, or nil, "json: <problem>".
function M.decode(text)
  if type(text) ~= "string" then return nil, "json: expected a string, got " .. type(text) end
  local ok, v = pcall(cjson.decode, text)
  if not ok then return nil, "json: " .. tostring(v):gsub("^Expected", "expected") end
  return v
end

return M
