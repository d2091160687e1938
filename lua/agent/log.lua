-- Diagnostics on stderr, as human lines or as one JSON object per line (--log-format json or
-- AGENT_LOG_FORMAT=json). Every line of one invocation carries the same run_id. Fields whose
-- name looks like a credential are never written.
local sys = require("agent.sys")
local cjson = require("cjson")

local M = {}

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40 }

local state = {
  format = "text",
  level = LEVELS.info,
  color = false,
  run_id = nil,
  out = io.stderr,
  program = "agent",
}

local SECRET_FIELD = { key = true, api_key = true, token = true, authorization = true, password = true, secret = true }

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
end

function M.run_id()
  state.run_id = state.run_id or sys.random_id(8)
  return state.run_id
end

function M.format() return state.format end
function M.enabled(level) return LEVELS[level] >= state.level end

local function iso_time()
  local t = sys.time()
  local ms = math.floor((t % 1) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. string.format(".%03dZ", ms)
end

local COLORS = { warn = "\27[33m", error = "\27[31m", debug = "\27[2m" }

local function emit(level, msg, fields)
  if LEVELS[level] < state.level then return end
  if state.format == "json" then
    local rec = { ts = iso_time(), level = level, run_id = M.run_id(), event = "message", msg = msg }
    for k, v in pairs(fields or {}) do
      if not SECRET_FIELD[k] then rec[k] = v end
    end
    state.out:write(cjson.encode(rec), "\n")
    return
  end
  if msg == nil then return end
  local prefix = level == "error" and "error: " or level == "warn" and "warning: " or ""
  local line = state.program .. ": " .. prefix .. msg
  if state.color and COLORS[level] then line = COLORS[level] .. line .. "\27[0m" end
  state.out:write(line, "\n")
end

function M.debug(msg, fields) emit("debug", msg, fields) end
function M.info(msg, fields) emit("info", msg, fields) end
function M.warn(msg, fields) emit("warn", msg, fields) end
function M.error(msg, fields) emit("error", msg, fields) end

-- A structured event with no human line in text mode (JSON only): timings, usage.
function M.event(level, fields)
  if state.format == "json" then emit(level, nil, fields) end
end

return M
