-- Configuration: built-in defaults merged with the repo's .agent/etc/agent.yaml, checked key
-- by key. docs/configuration.md lists every key.
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

-- ---- Checking the file ---------------------------------------------------------------------

local FILE = ".agent/etc/agent.yaml"

local function is_mapping(v) return type(v) == "table" and v[1] == nil end

local function is_list_of_strings(v)
  if type(v) ~= "table" then return false end
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" or type(x) ~= "string" then return false end
  end
  return true
end

local function is_budget(v)
  if type(v) == "number" then return v > 0 end
  if not is_mapping(v) then return false end
  for k, x in pairs(v) do
    if type(k) ~= "string" or type(x) ~= "number" or x <= 0 then return false end
  end
  return true
end

-- Value kinds: what a message calls them, and the test.
local KINDS = {
  string = { "a string", function(v) return type(v) == "string" end },
  boolean = { "true or false", function(v) return type(v) == "boolean" end },
  seconds = { "a positive number of seconds", function(v) return type(v) == "number" and v > 0 end },
  count = { "a positive integer", function(v) return math.type(v) == "integer" and v > 0 end },
  limit = { "a non-negative integer (0: no limit)", function(v) return math.type(v) == "integer" and v >= 0 end },
  ids = { "a list of persona ids", is_list_of_strings },
  budget = { "a positive number of tokens, or a map from model or provider name (or 'default') to tokens", is_budget },
}

-- Every key the file may hold (docs/configuration.md). A table is a section; ["*"] stands
-- for any name (a provider's, a persona's, a model's).
local SCHEMA = {
  agent = { provider = "string", models = { ["*"] = "string" } },
  providers = { ["*"] = { base_url = "string", json_mode = "boolean" } },
  panel = {
    personas = "ids", overrides = { ["*"] = { provider = "string", model = "string" } },
    jobs = "count", timeout = "seconds", deadline = "seconds", max_tokens = "count", synthesis_max_tokens = "count",
  },
  scripts = { trusted = "boolean", limits = { memory = "limit", instructions = "limit", time_ms = "limit" } },
  context = { budget_tokens = "budget" },
  redact = { emails = "boolean", ips = "boolean" },
  limits = { story_bytes = "count", rule_bytes = "count", file_bytes = "count" },
}

-- Every key's dotted name with its kind ("panel.jobs", "count"), sorted; "*" for any name.
function M.keys()
  local out = {}
  local function walk(schema, prefix)
    for k, v in pairs(schema) do
      if type(v) == "table" then walk(v, prefix .. k .. ".") else out[#out + 1] = { prefix .. k, v } end
    end
  end
  walk(SCHEMA, "")
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

local function shown(v)
  if type(v) == "string" then return ("'%s'"):format(#v > 40 and (v:sub(1, 37) .. "...") or v) end
  if type(v) == "table" then return is_mapping(v) and "a mapping" or "a list" end
  return tostring(v)
end

-- Checks data against schema in place: a key left empty (YAML null) is dropped so the
-- default stands; an unknown key is dropped and named in `unknown`; a value of the wrong
-- kind is a failure naming the key.
local function check(data, schema, prefix, unknown)
  local null = require("agent.yaml").null
  local keys = {}
  for k in pairs(data) do keys[#keys + 1] = k end
  for _, k in ipairs(keys) do
    local v, name = data[k], prefix .. tostring(k)
    local want = type(k) == "string" and (schema[k] or schema["*"]) or nil
    if v == null then
      data[k] = nil
    elseif want == nil then
      unknown[#unknown + 1] = name
      data[k] = nil
    elseif type(want) == "table" then
      if not is_mapping(v) then require("agent.cli").fail(1, ("%s: %s must be a mapping (got %s)"):format(FILE, name, shown(v))) end
      check(v, want, name .. ".", unknown)
    elseif not KINDS[want][2](v) then
      require("agent.cli").fail(1, ("%s: %s must be %s (got %s)"):format(FILE, name, KINDS[want][1], shown(v)))
    end
  end
end

-- Loads root/.agent/etc/agent.yaml over the defaults. A file that is not YAML, or a key of
-- the wrong kind, is a failure naming the file (and line, or key); an unknown key is a
-- warning, so a misspelt one is never silently ignored.
function M.load(root)
  local cfg = defaults()
  local path = root .. "/" .. FILE
  local fs = require("agent.fs")
  if not fs.exists(path) then return cfg end
  local text, err = fs.read(path)
  if not text then require("agent.cli").fail(1, err) end
  local yaml = require("agent.yaml")
  local data, yerr = yaml.decode(text)
  if data == nil then require("agent.cli").fail(1, ("%s: %s (fix the file or remove it)"):format(FILE, yerr)) end
  if data == yaml.null then return cfg end -- an empty file
  if not is_mapping(data) then
    require("agent.cli").fail(1, ("%s: expected a mapping of sections (agent:, panel:, ...), got %s"):format(FILE, shown(data)))
  end
  local unknown = {}
  check(data, SCHEMA, "", unknown)
  table.sort(unknown)
  for _, name in ipairs(unknown) do
    require("agent.log").warn(("%s: unknown key '%s' ignored (docs/configuration.md lists the keys)"):format(FILE, name))
  end
  return merge(cfg, data)
end

return M
