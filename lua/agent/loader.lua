-- The script loader: the search path, the sandbox team scripts run in, and the `require`
-- searcher that lets files on the search path shadow the built-ins. Loaded by the C host
-- before anything else (src/host.c), so it must need nothing but agent.host and the
-- standard library.
--
-- Search order, first match wins (docs/scripts.md):
--   1. --scripts DIR / AGENT_SCRIPTS (each DIR laid out like .agent/: personas/, templates/, lua/)
--   2. the repo's .agent/personas/, .agent/templates/, .agent/lua/
--   3. $XDG_CONFIG_HOME/agent/ (default ~/.config/agent/)
--   4. the installed built-ins (bin/../share/agent), then the copy embedded in the binary
local host = require("agent.host")

local M = {}

-- Where each kind of script lives inside a layer. Team layers use the .agent/ layout; the
-- built-in layers use the source tree's.
local TEAM_DIRS = { personas = "personas", templates = "templates", lua = "lua" }
local BUILTIN_DIRS = { personas = "personas", templates = "lua/agent/templates", lua = "lua" }
M.KINDS = { "personas", "templates", "lua" }

M.PERSONA_API = 1 -- the persona/template contract version this agent implements

local state = {
  layers = {},          -- { {root=, origin=} ... } team layers, highest priority first
  repo_root = nil,      -- the repository holding the repo layer: its scripts must stay in it
  trusted = false,      -- scripts.trusted: team scripts get the full environment
  limits = {},          -- {memory=, instructions=, time_ms=} per call into a script
  api = {},             -- what scripts see as `agent` (filled by the pipeline)
  modules = {},         -- team modules required so far, by name: valid for these layers only
  warn = function(msg) io.stderr:write("agent: ", msg, "\n") end,
}

-- A script's text, without the byte-order mark Windows editors write (load() does not skip
-- one, as lua.c does for files). The loader needs nothing but the C modules, so it strips
-- the mark itself rather than through agent.text.
local function read_file(path)
  local data = require("agent.fs").read(path)
  return data and (data:gsub("^\239\187\191", ""))
end

-- Installs the layers. opts = { scripts = {dir...}, repo = "/abs/.agent" | nil,
-- user = "/abs/xdg/agent" | nil, trusted = bool, limits = {...} }.
function M.configure(opts)
  local layers = {}
  for _, dir in ipairs(opts.scripts or {}) do
    layers[#layers + 1] = { root = dir, origin = "scripts" }
  end
  if opts.repo then layers[#layers + 1] = { root = opts.repo, origin = "repo" } end
  state.repo_root = opts.repo and opts.repo:match("^(.+)/[^/]+$") or nil
  if opts.user then layers[#layers + 1] = { root = opts.user, origin = "user" } end
  state.layers = layers
  state.modules = {} -- another repository's helpers must not answer this one's require
  state.trusted = opts.trusted and true or false
  state.limits = opts.limits or {}
  if opts.warn then state.warn = opts.warn end
end

-- The default team layers from the environment alone (before the repo is known).
function M.env_layers(getenv)
  local scripts = {}
  for dir in (getenv("AGENT_SCRIPTS") or ""):gmatch("[^:]+") do scripts[#scripts + 1] = dir end
  local xdg = getenv("XDG_CONFIG_HOME")
  if not xdg or xdg == "" then
    local home = getenv("HOME")
    xdg = home and home ~= "" and (home .. "/.config") or nil
  end
  return scripts, xdg and (xdg .. "/agent") or nil
end

function M.set_api(api) state.api = api end
function M.limits() return state.limits end
function M.trusted() return state.trusted end

-- Every candidate location for kind/relpath, highest priority first:
-- { path=, origin=, builtin=bool, source=string|nil (embedded) }. agent's own modules
-- (lua/agent/...) never come from the repository: a cloned one could replace the redaction,
-- a provider or a command. --scripts and user directories, chosen by whoever runs agent, may.
local function candidates(kind, relpath)
  local out = {}
  local own = kind == "lua" and relpath:find("^agent/") ~= nil
  for _, layer in ipairs(state.layers) do
    if not (own and layer.origin == "repo") then
      out[#out + 1] = { path = layer.root .. "/" .. TEAM_DIRS[kind] .. "/" .. relpath, origin = layer.origin }
    end
  end
  local share = host.share_dir()
  if share then
    out[#out + 1] = { path = share .. "/" .. BUILTIN_DIRS[kind] .. "/" .. relpath, origin = "installed", builtin = true }
  end
  out[#out + 1] = { path = BUILTIN_DIRS[kind] .. "/" .. relpath, origin = "builtin", builtin = true, embedded = true }
  return out
end

-- The text of a candidate, or nil when there is none. A file of the repo layer that resolves
-- outside the repository is not read (a cloned repository could link a credentials file
-- there, and a syntax error quotes what it stumbles on): it becomes a candidate that fails
-- to load, with c.refused saying why.
local function source_of(c)
  if c.embedded then return host.builtin(c.path) end
  local root = c.origin == "repo" and state.repo_root
  if root then
    local real = require("agent.fs").realpath(c.path)
    if not real then return nil end
    if not require("agent.paths").is_inside(root, real) then
      c.refused = c.path .. ": a symlink leading outside the repository (refused)"
      return ""
    end
  end
  return read_file(c.path)
end

-- Resolves kind/relpath along the search path. Returns the winner and the list of every
-- existing candidate (winner first), each { path=, origin=, builtin=, source=, refused= }.
function M.resolve(kind, relpath)
  assert(TEAM_DIRS[kind], "unknown script kind")
  local found = {}
  for _, c in ipairs(candidates(kind, relpath)) do
    local src = source_of(c)
    if src then
      c.source = src
      found[#found + 1] = c
    end
  end
  return found[1], found
end

-- The candidates a resolve() winner shadows (found[2..]), as `agent which` and `agent
-- personas show` both report them: the copy inside the binary behind an installed built-in
-- is the same built-in file, not a script being shadowed, so it is left out.
function M.shadowed(found)
  local out = {}
  for i = 2, #found do
    if not (found[i].embedded and found[i - 1].builtin) then out[#out + 1] = found[i] end
  end
  return out
end

-- Names (without .lua) of every script of a kind on the search path, sorted.
function M.list(kind)
  local names = {}
  local function add(name) if name and not names[name] then names[name] = true end end
  local fs = require("agent.fs")
  for _, layer in ipairs(state.layers) do
    for _, e in ipairs(fs.list(layer.root .. "/" .. TEAM_DIRS[kind]) or {}) do add(e:match("^(.+)%.lua$")) end
  end
  local share = host.share_dir()
  if share then
    for _, e in ipairs(fs.list(share .. "/" .. BUILTIN_DIRS[kind]) or {}) do add(e:match("^(.+)%.lua$")) end
  end
  local prefix = BUILTIN_DIRS[kind] .. "/"
  for _, p in ipairs(host.builtins(prefix)) do
    add(p:sub(#prefix + 1):match("^([^/]+)%.lua$"))
  end
  local list = {}
  for name in pairs(names) do list[#list + 1] = name end
  table.sort(list)
  return list
end

-- ---- The sandbox ------------------------------------------------------------------------

-- A read-only view of t: reads go through, writes raise, nested tables are wrapped too.
-- Proxies are shared by every script, so the sandbox's rawset refuses them (below).
local readonly_cache = setmetatable({}, { __mode = "k" })
local proxies = setmetatable({}, { __mode = "k" }) -- proxy -> its name
local function readonly(t, name)
  if type(t) ~= "table" then return t end
  local cached = readonly_cache[t]
  if cached then return cached end
  local proxy = setmetatable({}, {
    __index = function(_, k) return readonly(t[k], name and (name .. "." .. tostring(k))) end,
    __newindex = function(_, k) error(("attempt to modify read-only '%s'"):format(name and (name .. "." .. tostring(k)) or tostring(k)), 2) end,
    __pairs = function() return function(_, k)
      local nk, nv = next(t, k)
      return nk, readonly(nv)
    end, nil, nil end,
    __len = function() return #t end,
    __metatable = false,
  })
  readonly_cache[t] = proxy
  proxies[proxy] = name or "table"
  return proxy
end
M.readonly = readonly

-- A copy of what a script returned, made of plain tables: no metatables, read with raw
-- access, cycles and sharing kept. The pipeline reads it after the limited call is over, so
-- an __index, __tostring or __pairs of the script's would run there with no budget at all.
-- Read-only proxies are the host's own and stay as they are.
local function plain(v, seen)
  if type(v) ~= "table" or proxies[v] then return v end
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  local k, val = next(v)
  while k ~= nil do
    rawset(out, plain(k, seen), plain(val, seen))
    k, val = next(v, k)
  end
  return out
end

local function plain_all(...)
  local n, seen = select("#", ...), {}
  local out = { ... }
  for i = 1, n do out[i] = plain(out[i], seen) end
  return table.unpack(out, 1, n)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- pcall/xpcall that do not swallow a spent budget: once the host says a limit was hit the
-- error travels on to the limited call that owns the budget.
local function guard(ok, ...)
  if not ok and host.limit_hit() then error((...), 0) end
  return ok, ...
end
local function safe_pcall(f, ...) return guard(pcall(f, ...)) end
local function safe_xpcall(f, h, ...) return guard(xpcall(f, h, ...)) end

local SAFE_BASE = {
  "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen",
  "select", "tonumber", "tostring", "type", "_VERSION",
}

-- A fresh environment for one team script. `extra` adds fields (the script's `base`).
function M.sandbox_env(path, extra)
  local env = {}
  for _, k in ipairs(SAFE_BASE) do env[k] = _G[k] end
  env.pcall, env.xpcall = safe_pcall, safe_xpcall
  env.string = readonly(string, "string")
  env.table = readonly(table, "table")
  env.math = readonly(math, "math")
  env.utf8 = readonly(utf8, "utf8")
  env.coroutine = readonly(coroutine, "coroutine")
  env.os = readonly({ time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }, "os")
  -- Only a script's own tables show their metatables. Strings share one with the host, C
  -- classes (agent.Glob...) one per class with the host's own objects, and the host's
  -- read-only views guard what they wrap: a script holding any of these could replace a
  -- __gc or __index and run code with no budget, whenever the host next touches one.
  env.getmetatable = function(v)
    if type(v) ~= "table" or proxies[v] then return nil end
    return getmetatable(v)
  end
  -- a finalizer runs whenever the collector gets to it, outside any script's budget
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc metamethods are not allowed in scripts", 2)
    end
    return setmetatable(t, mt)
  end
  -- the API and context proxies are shared: a raw write would change what others see
  env.rawset = function(t, k, v)
    if proxies[t] then error(("attempt to modify read-only '%s'"):format(proxies[t]), 2) end
    return rawset(t, k, v)
  end
  env.collectgarbage = function(opt) if opt == "count" then return collectgarbage("count") end return 0 end
  env.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(path, ": ", table.concat(parts, "\t", 1, parts.n), "\n")
  end
  env.load = function(chunk, name, mode, cenv)
    if mode ~= nil and mode ~= "t" then return nil, "load: only text chunks are allowed" end
    return load(chunk, name, "t", cenv or env)
  end
  env.agent = readonly(state.api, "agent")
  env.require = M.require_script -- no wrapper: error levels must point at the script
  for k, v in pairs(extra or {}) do env[k] = v end
  env._G = env
  -- unknown globals are a bug in the script, not nil
  return setmetatable(env, {
    __index = function(_, k) error(("undefined global '%s'"):format(tostring(k)), 2) end,
  })
end

-- A trusted call fails like a limited one: false, message, "error", traceback.
local function trusted_call(fn, ...)
  local res = table.pack(xpcall(fn, debug.traceback, ...))
  if res[1] then return table.unpack(res, 1, res.n) end
  local full = res[2]
  if type(full) ~= "string" then return false, "error object is not a string", "error", tostring(full) end
  local at = full:find("\nstack traceback:", 1, true)
  return false, at and full:sub(1, at - 1) or full, "error", full
end

-- Runs fn(...) under the script limits (unless trusted). Returns true, ... (as plain data)
-- or false, "path:line: message", kind, traceback.
function M.call(fn, ...)
  if state.trusted then return trusted_call(fn, ...) end
  local res = table.pack(host.call_limited(state.limits, function(...) return plain_all(fn(...)) end, ...))
  if not res[1] and type(res[2]) == "string" then
    -- coroutine.wrap puts its own position before an error that already has the same one
    res[2] = res[2]:gsub("^([^\n]-:%d+: )%1", "%1")
  end
  return table.unpack(res, 1, res.n)
end

-- Loads a resolved candidate and runs its main chunk. Team scripts get the sandbox unless
-- trusted; built-in pipeline modules (kind "lua" from a built-in layer) get _G.
-- Returns the chunk's value or nil, message, kind.
local function run_candidate(c, kind, extra)
  if c.refused then return nil, c.refused, "refused" end
  local full = c.builtin and kind == "lua" or (state.trusted and not c.builtin)
  local env = full and _G or M.sandbox_env(c.path, extra)
  if full and extra then env = setmetatable(copy(extra), { __index = _G }) end
  local fn, err = load(c.source, "@" .. c.path, "t", env)
  if not fn then return nil, err, "syntax" end
  if full and c.builtin then return true, fn() end
  local ok, val, kind_or_nil = M.call(fn)
  if not ok then return nil, val, kind_or_nil end
  return true, val
end

-- Loads a persona or template script by name. Returns value, candidate or nil, message, kind.
-- The script may call `base()` to get the script of the same name it shadows.
function M.load_script(kind, name, skip)
  local _, found = M.resolve(kind, name .. ".lua")
  local idx = (skip or 0) + 1
  local c = found[idx]
  if not c then
    if idx == 1 then return nil, ("no %s script named '%s' on the search path"):format(kind:gsub("s$", ""), name), "missing" end
    return nil, ("%s: shadows nothing: no lower %s named '%s'"):format(found[idx - 1].path, kind:gsub("s$", ""), name), "missing"
  end
  local extra = {
    base = function()
      local v, err = M.load_script(kind, name, idx)
      if v == nil then error(err, 2) end
      return v
    end,
  }
  local log = require("agent.log")
  if log.enabled("debug") then
    local below = #M.shadowed({ table.unpack(found, idx) })
    log.debug(("search path: %s/%s.lua -> %s (%s%s)"):format(kind, name, c.path, c.origin or "?",
      below > 0 and (", shadows " .. below) or ""))
  end
  local ok, val, kind2 = run_candidate(c, kind, extra)
  if not ok then return nil, val, kind2 end
  return val, c
end

-- `require` inside the sandbox: team modules from the team layers, and "agent" (the API).
function M.require_script(name)
  if name == "agent" then return readonly(state.api, "agent") end
  if state.modules[name] ~= nil then return state.modules[name] end
  local rel = name:gsub("%.", "/")
  for _, layer in ipairs(state.layers) do
    local c = { path = layer.root .. "/lua/" .. rel .. ".lua", origin = layer.origin }
    c.source = source_of(c)
    if c.source then
      local ok, val = run_candidate(c, "lua")
      if not ok then error(val, 0) end
      if val == nil then val = true end
      state.modules[name] = val
      return val
    end
  end
  error(("module '%s' not found on the team search path (scripts may require team modules and 'agent')"):format(name), 2)
end

-- ---- The require searcher ----------------------------------------------------------------
-- Module "a.b" is found as lua/a/b.lua or lua/a/b/init.lua along the search path.
local function searcher(name)
  local rel = name:gsub("%.", "/")
  local tried = {}
  for _, relpath in ipairs({ rel .. ".lua", rel .. "/init.lua" }) do
    local c = M.resolve("lua", relpath)
    if c then
      return function()
        local ok, val = run_candidate(c, "lua")
        if not ok then error(val, 0) end
        return val
      end, c.path
    end
    tried[#tried + 1] = "\n\tno agent script '" .. relpath .. "'"
  end
  return table.concat(tried)
end

table.insert(package.searchers, 2, searcher)
package.loaded["agent.loader"] = M -- the host ran this file directly: make require find it

return M
