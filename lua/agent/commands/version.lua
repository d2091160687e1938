-- agent version: the same line as `agent --version`, or JSON with --json.
local cli = require("agent.cli")
local host = require("agent.host")

return {
  name = "version",
  order = 91,
  needs_repo = false,
  summary = "Print the version of agent and of its Lua",
  usage = "agent version [--json]",
  help = [[The same line as 'agent --version': agent's version and the Lua it embeds. With --json:
{"version": "0.1.0", "lua": "Lua 5.4.6"}.

Examples:
  agent version
  agent version --json]],
  run = function(opts)
    if opts.json then
      io.stdout:write(require("agent.json").encode({ version = host.version, lua = host.lua_version }), "\n")
    else
      io.stdout:write(cli.version_line(), "\n")
    end
    return cli.EXIT.ok
  end,
}
