-- agent help [COMMAND]: the list of commands, or one command's usage, flags and examples.
local cli = require("agent.cli")
local json = require("agent.json")

local EXIT_LINE = "Exit statuses: 0 ok, 1 failure, 2 usage, 3 script error, 4 gates failed, 5 review incomplete, 6 a persona blocked, 130/143 interrupted."

local function list_json()
  local commands = json.array({})
  for _, cmd in ipairs(cli.commands()) do
    if not cmd.hidden then
      commands[#commands + 1] = { name = cmd.name, summary = cmd.summary, usage = cmd.usage }
    end
  end
  return { commands = commands, exit = cli.EXIT }
end

local function list_text()
  local out = { "usage: agent <command> [flags] [args]", "", "commands:" }
  for _, cmd in ipairs(cli.commands()) do
    if not cmd.hidden then out[#out + 1] = ("  %-16s %s"):format(cmd.name, cmd.summary) end
  end
  out[#out + 1] = ""
  out[#out + 1] = "Run 'agent help <command>' for its flags and examples; 'agent --version' for the version."
  out[#out + 1] = EXIT_LINE
  return table.concat(out, "\n") .. "\n"
end

return {
  name = "help",
  order = 90,
  needs_repo = false,
  summary = "Show the commands, or the help of one command",
  usage = "agent help [COMMAND] [--json]",
  args = { { name = "COMMAND", complete = "command" } },
  help = [[Without a command: every command with its summary. With one: its usage, what it does,
its flags and examples (the same text as 'agent COMMAND --help').

Examples:
  agent help
  agent help new-runbook
  agent help list --json]],
  run = function(opts)
    local name = opts.args[1]
    if name then
      local cmd = cli.command(name)
      if not cmd then cli.usage_error(("unknown command '%s' (see 'agent help')"):format(name)) end
      io.stdout:write(opts.json and (json.encode(cli.describe(cmd)) .. "\n") or cli.help_text(cmd))
      return cli.EXIT.ok
    end
    io.stdout:write(opts.json and (json.encode(list_json()) .. "\n") or list_text())
    return cli.EXIT.ok
  end,
}
