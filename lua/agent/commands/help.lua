-- agent help [COMMAND]: the list of commands, or one command's usage, flags and examples.
local cli = require("agent.cli")

return {
  name = "help",
  order = 90,
  needs_repo = false,
  summary = "Show the commands, or the help of one command",
  usage = "agent help [COMMAND]",
  args = { { name = "COMMAND" } },
  help = "Examples:\n  agent help\n  agent help new-runbook",
  run = function(opts)
    local name = opts.args[1]
    if name then
      local cmd = cli.command(name)
      if not cmd then cli.usage_error(("unknown command '%s' (see 'agent help')"):format(name)) end
      io.stdout:write(cli.help_text(cmd))
      return cli.EXIT.ok
    end
    local out = { "usage: agent <command> [flags] [args]", "", "commands:" }
    for _, cmd in ipairs(cli.commands()) do
      out[#out + 1] = ("  %-16s %s"):format(cmd.name, cmd.summary)
    end
    out[#out + 1] = ""
    out[#out + 1] = "Run 'agent help <command>' for its flags and examples; 'agent --version' for the version."
    out[#out + 1] = "Exit statuses: 0 ok, 1 failure, 2 usage, 3 script error, 4 gates failed, 5 review incomplete, 130/143 interrupted."
    io.stdout:write(table.concat(out, "\n"), "\n")
    return cli.EXIT.ok
  end,
}
