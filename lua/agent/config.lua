-- Configuration in three layers, each checked key by key: the built-in defaults, the user's
-- own file ($XDG_CONFIG_HOME/agent/agent.yaml), then the repository's .agent/etc/agent.yaml.
-- A repository is untrusted input (a clone of anyone's): the keys that decide where an API
-- key is sent or what runs unsandboxed (PERSONAL) are taken from the user's file alone, and
-- a repository that sets one is named in a warning and ignored. docs/configuration.md lists
-- every key.
local M = {}

local function defaults()
  return {
    agent = { provider = nil, models = {} },
    providers = {}, -- <name> -> {base_url=, json_mode=, num_ctx=} (docs/providers.md)
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

-- config.limits(config) -> the limits section with every byte cap config leaves unset at its
-- default (config may be nil, or a partial table a caller built).
function M.limits(config)
  local l = defaults().limits
  for k, v in pairs(config and config.limits or {}) do l[k] = v end
  return l
end

M.REPO_FILE = ".agent/etc/agent.yaml"

-- The user's configuration file: $XDG_CONFIG_HOME/agent/agent.yaml, else
-- ~/.config/agent/agent.yaml (the directory of the user's scripts); nil without a home.
function M.user_file(getenv)
  local _, dir = require("agent.loader").env_layers(getenv or require("agent.sys").getenv)
  return dir and (dir .. "/agent.yaml") or nil
end

-- ---- Checking a file -----------------------------------------------------------------------

local function is_mapping(v) return type(v) == "table" and v[1] == nil end

local function is_list_of_strings(v)
  if type(v) ~= "table" then return false end
  for k, x in pairs(v) do
    if math.type(k) ~= "integer" or type(x) ~= "string" then return false end
  end
  return true
end

-- A budget that is not a map (check() hands every map to check_budget_map, which names the
-- entry to fix): a positive number.
local function is_budget(v)
  return type(v) == "number" and v > 0
end

local function is_provider(v)
  return type(v) == "string" and require("agent.providers").get(v) ~= nil
end

-- Value kinds: what a message calls them, and the test.
local KINDS = {
  provider = { "one of " .. table.concat(require("agent.providers").names(), ", "), is_provider },
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
  providers = { ["*"] = { base_url = "string", json_mode = "boolean", num_ctx = "count" } },
  panel = {
    personas = "ids", overrides = { ["*"] = { provider = "provider", model = "string" } },
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

-- Merges checked data into dst along the schema: a section merges key by key (so an empty
-- one changes nothing), any value (a list, a budget map) replaces.
local function merge(dst, src, schema)
  for k, v in pairs(src) do
    local sub = schema[k] or schema["*"]
    if type(sub) == "table" and is_mapping(v) then
      if type(dst[k]) ~= "table" then dst[k] = {} end
      merge(dst[k], v, sub)
    else
      dst[k] = v
    end
  end
  return dst
end

local function shown(v)
  if type(v) == "string" then return ("'%s'"):format(#v > 40 and (v:sub(1, 37) .. "...") or v) end
  if type(v) == "table" then return is_mapping(v) and "a mapping" or "a list" end
  return tostring(v)
end

-- A budget map's first bad entry, named by its own key ("context.budget_tokens.ollama"):
-- the message must point at the one value to fix, not at the whole map.
local function check_budget_map(v, name, file)
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local x = v[k]
    if type(k) ~= "string" then
      return ("%s: %s: key %s must be a model or provider name (or 'default')"):format(file, name, shown(k))
    end
    if type(x) ~= "number" or x <= 0 then
      return ("%s: %s.%s must be a positive number of tokens (got %s)"):format(file, name, k, shown(x))
    end
  end
end

-- Checks data against schema in place: a key left empty (YAML null) is dropped so the
-- default stands; an unknown key is dropped and named in `unknown`. Returns nil, or the
-- message for a value of the wrong kind (naming the key).
local function check(data, schema, prefix, unknown, file)
  local null = require("agent.yaml").null
  local keys = {}
  for k in pairs(data) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v, name = data[k], prefix .. tostring(k)
    local want = type(k) == "string" and (schema[k] or schema["*"]) or nil
    if v == null then
      data[k] = nil
    elseif want == nil then
      unknown[#unknown + 1] = name
      data[k] = nil
    elseif type(want) == "table" then
      if not is_mapping(v) then return ("%s: %s must be a mapping (got %s)"):format(file, name, shown(v)) end
      local err = check(v, want, name .. ".", unknown, file)
      if err then return err end
    elseif want == "budget" and is_mapping(v) then
      local err = check_budget_map(v, name, file)
      if err then return err end
    elseif not KINDS[want][2](v) then
      return ("%s: %s must be %s (got %s)"):format(file, name, KINDS[want][1], shown(v))
    end
  end
end

-- ---- The personal keys ---------------------------------------------------------------------

-- Keys a repository may not set, and what to say instead: where the user sets them. A value
-- that changes nothing (scripts.trusted: false) is dropped without a word.
local function base_url_hint(name)
  local ok, provider = pcall(function() return require("agent.providers").get(name) end)
  local env = ok and type(provider) == "table" and provider.base_env or nil
  return "a repository may not decide where your API keys are sent", env and (" or " .. env) or ""
end

local PERSONAL = {
  { path = { "scripts", "trusted" },
    matters = function(v) return v == true end,
    why = function() return "a repository may not lift its own sandbox", ", or AGENT_TRUST_SCRIPTS=1 for one run" end },
  { path = { "providers", "*", "base_url" }, matters = function() return true end, why = base_url_hint },
}

-- Calls fn(parent, key, dotted name, wildcard name) for each key of data matching path.
local function each_match(data, path, fn, depth, prefix, star)
  depth, prefix = depth or 1, prefix or ""
  local step = path[depth]
  local keys = {}
  if step == "*" then
    for k in pairs(data) do keys[#keys + 1] = k end
    table.sort(keys)
  elseif data[step] ~= nil then
    keys[1] = step
  end
  for _, k in ipairs(keys) do
    local name = prefix .. k
    if depth == #path then
      fn(data, k, name, star)
    elseif type(data[k]) == "table" then
      each_match(data[k], path, fn, depth + 1, name .. ".", step == "*" and k or star)
    end
  end
end

-- Drops the personal keys from a repository's checked data, warning about each that mattered.
local function drop_personal(data, file, user_file, warn)
  for _, key in ipairs(PERSONAL) do
    each_match(data, key.path, function(parent, k, name, star)
      if key.matters(parent[k]) then
        local why, also = key.why(star)
        warn(("%s: %s ignored: %s; set it in %s%s"):format(file, name, why, user_file, also))
      end
      parent[k] = nil
    end)
  end
end

-- ---- Loading -------------------------------------------------------------------------------

-- Reads and checks one YAML file: its data (nil when the file does not exist), or nil and a
-- message naming the file. Unknown keys are warned about.
local function read_layer(path, file, warn)
  local fs = require("agent.fs")
  if not fs.exists(path) then return nil end
  local text, err = fs.read(path)
  if not text then return nil, err end
  local yaml = require("agent.yaml")
  local data, yerr = yaml.decode(text)
  if data == nil then return nil, ("%s: %s (fix the file or remove it)"):format(file, yerr) end
  if data == yaml.null then return nil end -- an empty file
  if not is_mapping(data) then
    return nil, ("%s: expected a mapping of sections (agent:, panel:, ...), got %s"):format(file, shown(data))
  end
  require("agent.log").debug(("config: read %s"):format(file))
  local unknown = {}
  local cerr = check(data, SCHEMA, "", unknown, file)
  if cerr then return nil, cerr end
  table.sort(unknown)
  for _, name in ipairs(unknown) do
    warn(("%s: unknown key '%s' ignored (docs/configuration.md lists the keys)"):format(file, name))
  end
  return data
end

-- The user file as messages show it: under the home directory as ~/...
local function display(path, getenv)
  local home = getenv("HOME")
  if home and home ~= "" and path:sub(1, #home + 1) == home .. "/" then return "~" .. path:sub(#home + 1) end
  return path
end

-- config.load(root [, opts]) -> config | nil, message
-- root: the repository (nil: the defaults and the user's file alone). opts = {user = path of
-- the user's file (false: none; default M.user_file()), getenv=, warn=function(msg)}.
-- A file that is not YAML, or a key of the wrong kind, is a failure naming the file (and
-- line, or key); an unknown key is a warning, so a misspelt one is never silently ignored.
function M.load(root, opts)
  opts = opts or {}
  local getenv = opts.getenv or require("agent.sys").getenv
  local warn = opts.warn or require("agent.log").warn
  local cfg = defaults()
  local user = opts.user
  if user == nil then user = M.user_file(getenv) end
  local user_shown = user and display(user, getenv) or "~/.config/agent/agent.yaml"
  if user then
    local data, err = read_layer(user, user_shown, warn)
    if err then return nil, err end
    if data then merge(cfg, data, SCHEMA) end
  end
  if root then
    local data, err = read_layer(root .. "/" .. M.REPO_FILE, M.REPO_FILE, warn)
    if err then return nil, err end
    if data then
      drop_personal(data, M.REPO_FILE, user_shown, warn)
      merge(cfg, data, SCHEMA)
    end
  end
  return cfg
end

return M
