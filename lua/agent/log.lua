-- Diagnostics on stderr, as human lines or as one JSON object per line (--log-format json or
-- AGENT_LOG_FORMAT=json). Every line of one invocation carries the same run_id. A JSON line
-- starts with ts, level, run_id and event, then the event's fields in name order
-- (docs/usage.md lists the events). Nothing that could be a credential is written: fields
-- named like one are dropped, and the provider keys in the environment are masked wherever
-- they appear.
local sys = require("agent.sys")
local json = require("agent.json")
local replace_plain = require("agent.text").replace_plain

local M = {}

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40 }

local state = {
  format = "text",
  level = LEVELS.info,
  color = false,
  run_id = nil,
  out = io.stderr,
  program = "agent",
  secrets = nil, -- the provider keys to mask, looked up at the first line written
}

-- Field names that may carry a credential, whole or as a suffix ("openai_api_key").
local SECRET_FIELD = { key = true, api_key = true, token = true, authorization = true, password = true, secret = true }
local SECRET_SUFFIXES = { "_key", "_token", "_secret", "_password" }

-- Credentials shorter than this are not masked: a short value would mask ordinary words.
local MIN_SECRET = 8

local function secret_field(name)
  if type(name) ~= "string" then return false end
  local n = name:lower()
  if SECRET_FIELD[n] then return true end
  for _, suffix in ipairs(SECRET_SUFFIXES) do
    if n:sub(-#suffix) == suffix then return true end
  end
  return false
end

-- The values of the key variables the providers read (OPENAI_API_KEY...), longest first so
-- a key that contains another is masked whole.
local function provider_keys()
  local ok, providers = pcall(require, "agent.providers")
  if not ok then return {} end
  local keys = {}
  for _, name in ipairs(providers.names()) do
    local p = providers.get(name)
    for _, var in ipairs({ p and p.key_env, p and p.key_env_alt }) do
      local v = sys.getenv(var)
      if v and #v >= MIN_SECRET then keys[#keys + 1] = v end
    end
  end
  table.sort(keys, function(a, b) return #a > #b end)
  return keys
end

local function mask(s)
  state.secrets = state.secrets or provider_keys()
  for _, key in ipairs(state.secrets) do s = replace_plain(s, key, "[key]") end
  return s
end

-- opts: { format = "text"|"json", level = "debug"|"info"|"warn"|"error", color = bool,
--         program = "agent new-runbook", out = file }
function M.setup(opts)
  opts = opts or {}
  if opts.format then
    assert(opts.format == "text" or opts.format == "json", "log format must be text or json")
    state.format = opts.format
  end
  if opts.level then state.level = assert(LEVELS[opts.level], "unknown log level") end
  if opts.color ~= nil then state.color = opts.color end
  if opts.program then state.program = opts.program end
  if opts.out then state.out = opts.out end
  state.run_id = state.run_id or sys.random_id(8)
  state.secrets = nil -- the environment may differ from the last setup's
end

function M.run_id()
  state.run_id = state.run_id or sys.random_id(8)
  return state.run_id
end

-- Starts a new invocation in a long-lived process (require "agent"'s pipeline functions):
-- a fresh run_id for the lines that follow. Returns it.
function M.new_run()
  state.run_id = sys.random_id(8)
  return state.run_id
end

function M.format() return state.format end
-- Whether stderr gets colour (setup's color: on a terminal, without --no-color or NO_COLOR).
function M.color() return state.color end
function M.enabled(level) return LEVELS[level] >= state.level end

local function iso_time()
  local t = sys.time()
  local ms = math.floor((t % 1) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", ms)
end

-- One value as JSON; a value JSON cannot hold (a function, NaN) is written as its string.
local function encode(v)
  local ok, s = pcall(json.encode, v)
  if ok then return s end
  return json.encode(tostring(v))
end

-- The JSON line: the fixed fields first (msg only when there is one), then the rest sorted,
-- so lines read alike.
local FIXED = { "ts", "level", "run_id", "event", "msg" }
local RESERVED = { ts = true, level = true, run_id = true, msg = true }

local function json_line(level, msg, fields)
  local rec = { ts = iso_time(), level = level, run_id = M.run_id(), event = "message", msg = msg }
  local names = {}
  for k, v in pairs(fields or {}) do
    if k == "event" then
      rec.event = tostring(v)
    elseif type(k) == "string" and not RESERVED[k] and not secret_field(k) then
      rec[k] = v
      names[#names + 1] = k
    end
  end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(FIXED) do
    if rec[k] ~= nil then parts[#parts + 1] = json.encode(k) .. ":" .. encode(rec[k]) end
  end
  for _, k in ipairs(names) do parts[#parts + 1] = json.encode(k) .. ":" .. encode(rec[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local COLORS = { warn = "\27[33m", error = "\27[31m", debug = "\27[2m" }

local function emit(level, msg, fields)
  if LEVELS[level] < state.level then return end
  if state.format == "json" then
    state.out:write(mask(json_line(level, msg, fields)), "\n")
    return
  end
  if msg == nil then return end
  local prefix = level == "error" and "error: " or level == "warn" and "warning: " or ""
  local line = state.program .. ": " .. prefix .. mask(tostring(msg))
  if state.color and COLORS[level] then line = COLORS[level] .. line .. "\27[0m" end
  state.out:write(line, "\n")
end

-- log.info(msg [, fields]): msg is the human line; fields (event = name, and the event's
-- data) appear only in JSON lines.
function M.debug(msg, fields) emit("debug", msg, fields) end
function M.info(msg, fields) emit("info", msg, fields) end
function M.warn(msg, fields) emit("warn", msg, fields) end
function M.error(msg, fields) emit("error", msg, fields) end

-- A structured event with no human line in text mode (JSON only): timings, usage.
function M.event(level, fields)
  if state.format == "json" then emit(level, nil, fields) end
end

-- The fields of a timed model call or review: duration_ms (whole ms), tokens_in, tokens_out.
function M.usage_fields(fields, elapsed_ms, tokens)
  tokens = tokens or {}
  fields.duration_ms = math.floor((elapsed_ms or 0) + 0.5)
  fields.tokens_in = tokens.input or 0
  fields.tokens_out = tokens.output or 0
  return fields
end

return M
