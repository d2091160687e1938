-- Configuration: built-in defaults merged with the repo's .agent/etc/agent.yaml.
-- docs/configuration.md lists every key.
local M = {}

local function defaults()
  return {
    agent = { provider = nil, models = {} },
    providers = {}, -- <name> -> {base_url=, json_mode=} (docs/providers.md)
    -- max_tokens: one persona reply's output budget; synthesis_max_tokens: the synthesis and
    -- repair calls' (panel.lua and synthesis.lua hold the same numbers for callers without
    -- a config). overrides: persona id -> {provider=, model=}.
    panel = { personas = nil, overrides = {}, jobs = 8, timeout = 120, deadline = 900,
              max_tokens = 4096, synthesis_max_tokens = 16384 },
    scripts = { trusted = false, limits = { memory = 256 * 1024 * 1024, instructions = 200000000, time_ms = 10000 } },
    context = { budget_tokens = nil },
    redact = { emails = false, ips = false },
    limits = { story_bytes = 1024 * 1024, rule_bytes = 512 * 1024, file_bytes = 256 * 1024 },
  }
end
M.defaults = defaults

-- Deep-merges src into dst: tables merge, everything else (including lists) replaces.
local function merge(dst, src)
  for k, v in pairs(src) do
    if type(v) == "table" and type(dst[k]) == "table" and v[1] == nil and next(v) ~= nil then
      merge(dst[k], v)
    else
      dst[k] = v
    end
  end
  return dst
end
M.merge = merge

-- Loads root/.agent/etc/agent.yaml over the defaults. A broken file is a failure that names
-- the file and line.
function M.load(root)
  local cfg = defaults()
  local path = root .. "/.agent/etc/agent.yaml"
  local fs = require("agent.fs")
  if not fs.exists or not fs.exists(path) then return cfg end
  local text, err = fs.read(path)
  if not text then require("agent.cli").fail(1, err) end
  local yaml = require("agent.yaml")
  local data, yerr = yaml.decode(text)
  if data == nil then require("agent.cli").fail(1, (".agent/etc/agent.yaml: %s (fix the file or remove it)"):format(yerr)) end
  if type(data) == "table" then merge(cfg, data) end
  return cfg
end

return M
