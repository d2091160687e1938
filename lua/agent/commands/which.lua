-- agent which persona|template|module NAME: the file that wins on the search path, and the
-- ones it shadows, highest priority first.
local cli = require("agent.cli")
local json = require("agent.json")
local loader = require("agent.loader")
local log = require("agent.log")

local KINDS = { persona = "personas", template = "templates", module = "lua" }

local function relpath_of(kind, name)
  if kind == "lua" then return (name:gsub("%.", "/")) .. ".lua" end
  return name .. ".lua"
end

return {
  name = "which",
  order = 60,
  needs_repo = "optional",
  summary = "Show which file provides a persona, template or module, and what it shadows",
  usage = "agent which persona|template|module NAME",
  args = {
    { name = "KIND", required = true, complete = { "persona", "template", "module" } },
    -- each KIND word is also the name of the completion source for its NAMEs
    { name = "NAME", required = true, complete = function(args) return KINDS[args[1]] and args[1] or nil end },
  },
  help = [[The search path, first match wins: --scripts DIR / AGENT_SCRIPTS, the repo's .agent/,
$XDG_CONFIG_HOME/agent/, the installed built-ins, the built-ins inside the binary.

Examples:
  agent which persona security
  agent which template runbook
  agent which module agent.panel]],
  run = function(opts, ctx)
    local kind = KINDS[opts.args[1]]
    if not kind then
      cli.usage_error(("which: unknown kind '%s' (persona, template or module)"):format(opts.args[1]))
    end
    local name = opts.args[2]
    local winner, found = loader.resolve(kind, relpath_of(kind, name))
    if kind == "lua" and not winner then
      winner, found = loader.resolve(kind, (name:gsub("%.", "/")) .. "/init.lua")
    end
    if not winner then
      local msg = ("no %s named '%s' on the search path"):format(opts.args[1], name)
      if not ctx.json then cli.fail(cli.EXIT.fail, "which: " .. msg) end
      -- the document says found=false; a second (error) document would break the contract
      io.stdout:write(json.encode({ kind = opts.args[1], name = name, found = false }), "\n")
      log.error(msg)
      return cli.EXIT.fail
    end
    local shadowed = loader.shadowed(found)
    if ctx.json then
      local list = json.array({})
      for i, c in ipairs(shadowed) do list[i] = { path = c.path, origin = c.origin } end
      io.stdout:write(json.encode({ kind = opts.args[1], name = name, found = true, path = winner.path,
        origin = winner.origin, shadows = list }), "\n")
      return cli.EXIT.ok
    end
    io.stdout:write(("%s (%s)\n"):format(winner.path, winner.origin))
    for _, c in ipairs(shadowed) do
      io.stdout:write(("  shadows %s (%s)\n"):format(c.path, c.origin))
    end
    return cli.EXIT.ok
  end,
}
