-- One invocation's setup: logging from the global flags, the repository root, the
-- configuration, and the script search path. Commands receive the result as `ctx`.
local log = require("agent.log")
local loader = require("agent.loader")
local sys = require("agent.sys")

local M = {}

-- Finds the repository root: --root DIR, else the nearest ancestor of the working directory
-- holding .agent/. Returns the absolute root or nil, message.
function M.find_root(explicit)
  local fs = require("agent.fs")
  if explicit then
    if explicit == "" then return nil, "--root: an empty path names no directory (omit --root to search from here)" end
    local abs, err = fs.realpath(explicit)
    if not abs then return nil, ("--root '%s': %s"):format(explicit, require("agent.paths").reason(err)) end
    local top = fs.stat(abs)
    if top and top.type ~= "directory" then
      return nil, ("--root '%s': it is a %s, not a directory (--root names the repository's top directory)"):format(explicit, top.type)
    end
    local st = fs.stat(abs .. "/.agent")
    if not st or st.type ~= "directory" then
      return nil, ("--root %s: no .agent/ directory there (run 'agent init %s' to create one)"):format(explicit, explicit)
    end
    return abs
  end
  local dir, err = fs.realpath(".")
  if not dir then return nil, err end
  while true do
    local st = fs.stat(dir .. "/.agent")
    if st and st.type == "directory" then return dir end
    if dir == "/" then break end
    dir = dir:match("^(.*)/[^/]*$")
    if dir == "" then dir = "/" end
  end
  return nil, "no .agent/ directory in this directory or any parent (run 'agent init' or pass --root DIR)"
end

-- Sets up logging from the global flags. Returns true, or nil and a usage message.
local function log_setup(cmd, opts)
  local format, source = opts["log-format"], "--log-format"
  if not format then format, source = sys.getenv("AGENT_LOG_FORMAT"), "AGENT_LOG_FORMAT" end
  format = format or "text"
  if format ~= "text" and format ~= "json" then
    return nil, ("%s must be 'text' or 'json', got '%s'"):format(source, format)
  end
  local no_color = opts["no-color"] or (sys.getenv("NO_COLOR") or "") ~= ""
  log.setup({
    format = format,
    level = opts.verbose and "debug" or opts.quiet and "warn" or "info",
    color = not no_color and sys.isatty("stderr"),
    program = "agent " .. cmd.name,
  })
  return true
end

-- Whether team scripts run unsandboxed: the user's own configuration says so
-- (scripts.trusted, never taken from a repository: config.lua), or the person running
-- agent does for this run (AGENT_TRUST_SCRIPTS=1).
local function trust_scripts(config)
  return config.scripts.trusted == true or sys.getenv("AGENT_TRUST_SCRIPTS") == "1"
end

-- The repository root the command runs in: nil, or nil and a message when it needs one (or
-- was given --root) and there is none.
local function root_for(cmd, opts)
  if cmd.needs_repo == false then
    return opts.root and M.find_root(opts.root) or nil
  end
  local root, err = M.find_root(opts.root)
  if root then return root end
  if cmd.needs_repo == "optional" and not opts.root then return nil end
  return nil, err
end

-- session.setup(cmd, opts) -> ctx | nil, message, exit status
-- ctx = { root = abs|nil, agent_dir = root/.agent, config = table, opts = opts, json = bool }.
-- Fails when the command needs a repo and none is found, when an optional repo was named
-- with --root and is not one, on a bad --log-format (status 2) and on broken configuration.
function M.setup(cmd, opts)
  local ok, lerr = log_setup(cmd, opts)
  if not ok then return nil, lerr, 2 end
  local ctx = { opts = opts, json = opts.json or false }
  local scripts, user = loader.env_layers(sys.getenv)
  for i = #(opts.scripts or {}), 1, -1 do table.insert(scripts, 1, opts.scripts[i]) end
  local root, rerr = root_for(cmd, opts)
  if rerr then return nil, rerr, 1 end
  ctx.root = root
  ctx.agent_dir = root and (root .. "/.agent") or nil
  local config, cerr = require("agent.config").load(root)
  if not config then return nil, cerr, 1 end
  ctx.config = config
  loader.configure({
    scripts = scripts,
    repo = ctx.agent_dir,
    user = user,
    trusted = trust_scripts(config),
    limits = config.scripts.limits,
  })
  return ctx
end

return M
