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
    local abs, err = fs.realpath(explicit)
    if not abs then return nil, ("--root: %s"):format(err) end
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

-- session.check_inside(root, path) -> true | nil, reason: whether a write to path stays in
-- the repository at root. The nearest existing ancestor of path (path itself included) is
-- resolved, symlinks and all, so a symlink a cloned repository plants at a file or a folder
-- cannot carry a write (or a read into a backup) elsewhere. A symlink to nothing is refused:
-- creating the file would create its target, wherever that is.
function M.check_inside(root, path)
  local fs = require("agent.fs")
  root = fs.realpath(root) or root
  local probe, below = path, ""
  while probe and probe ~= "" do
    local real = fs.realpath(probe)
    if real then
      if root == "/" or real == root or real:sub(1, #root + 1) == root .. "/" then return true end
      return nil, ("it resolves to %s%s, outside the repository"):format(real, below)
    end
    local st = fs.stat(probe, { follow = false })
    if st and st.type == "link" then return nil, "it is a symlink to nothing" end
    local parent, name = probe:match("^(.*)/([^/]+)$")
    probe, below = parent, "/" .. name .. below
  end
  return true
end

local function log_setup(cmd, opts)
  local format = opts["log-format"] or sys.getenv("AGENT_LOG_FORMAT") or "text"
  if format ~= "text" and format ~= "json" then
    require("agent.cli").usage_error(("--log-format must be 'text' or 'json', got '%s'"):format(format))
  end
  local no_color = opts["no-color"] or (sys.getenv("NO_COLOR") or "") ~= ""
  log.setup({
    format = format,
    level = opts.verbose and "debug" or opts.quiet and "warn" or "info",
    color = not no_color and sys.isatty("stderr"),
    program = "agent " .. cmd.name,
  })
end

-- Whether team scripts run unsandboxed: the repository's config asks (scripts.trusted), and
-- the person running agent agrees (AGENT_TRUST_SCRIPTS=1). A cloned repository must not be
-- able to lift its own sandbox and run commands on its say alone.
local function trust_scripts(config)
  if config.scripts.trusted ~= true then return false end
  if sys.getenv("AGENT_TRUST_SCRIPTS") == "1" then return true end
  log.warn(".agent/etc/agent.yaml sets scripts.trusted, but its scripts stay sandboxed until you agree: "
    .. "set AGENT_TRUST_SCRIPTS=1 for repositories whose scripts you trust")
  return false
end

-- Returns ctx = { root = abs|nil, agent_dir = root/.agent, config = table, opts = opts }.
-- Raises a failure (via cli) when the command needs a repo and none is found, or when an
-- optional repo was named with --root and is not one.
function M.setup(cmd, opts)
  log_setup(cmd, opts)
  local ctx = { opts = opts, json = opts.json or false }
  local scripts, user = loader.env_layers(sys.getenv)
  for i = #(opts.scripts or {}), 1, -1 do table.insert(scripts, 1, opts.scripts[i]) end
  local root, err
  if cmd.needs_repo == "optional" then
    -- the repo when there is one (its scripts and config count), else the built-ins alone
    root, err = M.find_root(opts.root)
    if not root and opts.root then require("agent.cli").fail(1, err) end
  elseif cmd.needs_repo ~= false then
    root, err = M.find_root(opts.root)
    if not root then require("agent.cli").fail(1, err) end
  elseif opts.root then
    root = M.find_root(opts.root)
  end
  ctx.root = root
  ctx.agent_dir = root and (root .. "/.agent") or nil
  local config = require("agent.config")
  ctx.config = root and config.load(root) or config.defaults()
  loader.configure({
    scripts = scripts,
    repo = ctx.agent_dir,
    user = user,
    trusted = trust_scripts(ctx.config),
    limits = ctx.config.scripts.limits,
  })
  return ctx
end

return M
