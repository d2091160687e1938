-- agent lua FILE [ARGS...]: runs a Lua file inside agent's host, with every primitive and
-- pipeline module a `require` away (like `nvim -l`). For scripting, benchmarks and trying
-- the API; the file runs with your own privileges, not in the team-script sandbox.
local cli = require("agent.cli")

return {
  name = "lua",
  order = 80,
  needs_repo = false,
  pass_through = true,
  summary = "Run a Lua file with the agent API (scripting, benchmarks)",
  usage = "agent lua FILE [ARGS...]",
  args = { { name = "FILE", required = true }, { name = "ARGS", many = true } },
  help = [[The file sees the global `arg` (arg[0] = FILE, arg[1..] = ARGS) and may
require "agent", "agent.fs", "agent.rules" and every other module. If it returns an
integer, that is the exit status.

Examples:
  agent lua tools/count_rules.lua .agent/rules
  agent lua bench/walk_select.lua /tmp/tree]],
  run = function(opts)
    local file = opts.args[1]
    local chunk, err = loadfile(file, "t")
    if not chunk then cli.fail(cli.EXIT.script, err) end
    local script_arg = { [0] = file }
    for i = 2, #opts.args do script_arg[i - 1] = opts.args[i] end
    _G.arg = script_arg
    local ok, result = xpcall(chunk, function(e)
      if cli.is_failure(e) then return e end
      -- the traceback down to the script's own frames; agent's are noise here
      local tb = debug.traceback(tostring(e), 2)
      return tb:match("^(.-)\n%s*%[C%]: in function 'xpcall'") or tb
    end, table.unpack(script_arg))
    if not ok then
      if cli.is_failure(result) then error(result, 0) end
      io.stderr:write(result, "\n")
      return cli.EXIT.script
    end
    return math.type(result) == "integer" and result or cli.EXIT.ok
  end,
}
