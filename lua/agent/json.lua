-- JSON for agent's own output and wire formats, on top of lua-cjson:
--   * json.array(t) marks a table as a JSON array, so an empty one encodes as [] (Debian's
--     lua-cjson 2.1.0 has no array_mt and encodes every empty table as {});
--   * '/' is not escaped (cjson writes "\/", which is valid but noisy);
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

-- A placeholder for [] that no real string can equal: NUL bytes (which cjson writes as
-- \u0000) around a random nonce drawn once per process.
local NONCE = require("agent.sys").random_id(8)
local EMPTY = "\0agent:empty-array:" .. NONCE .. "\0"
local EMPTY_JSON = '"\\u0000agent:empty-array:' .. NONCE .. '\\u0000"'

local function prepare(v, seen)
  if type(v) ~= "table" then return v end
  if seen[v] then error("json.encode: cycle in the value", 3) end
  if getmetatable(v) == ARRAY and next(v) == nil then return EMPTY end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do out[k] = prepare(x, seen) end
  seen[v] = nil
  return out
end

-- cjson escapes every '/' as "\/", so in its output the byte before a '/' is always that
-- slash's own escape (an escaped backslash "\\" is never followed by a bare '/'): removing
-- the backslash of each "\/" restores the slashes and nothing else. A plain replacement, not
-- a function call per slash: a prompt's request body holds thousands of paths.
local function unescape_slashes(s)
  return (s:gsub("\\/", "/"))
end

-- Encodes a Lua value. Raises only for values JSON cannot hold (functions, cycles).
function M.encode(v)
  local s = cjson.encode(prepare(v, {}))
  if s:find(NONCE, 1, true) then s = s:gsub(EMPTY_JSON:gsub("%p", "%%%0"), "[]") end
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
