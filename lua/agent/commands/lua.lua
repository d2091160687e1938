-- agent lua FILE [ARGS...]: runs a Lua file inside agent's host, with every primitive and
-- pipeline module a `require` away (like `nvim -l`). For scripting, benchmarks and trying
-- the API; the file runs with your own privileges, not in the team-script sandbox.
local cli = require("agent.cli")
local json = require("agent.json")

-- With --json the script's own output goes to stderr, so stdout carries one document only.
-- Returns a function that undoes the redirection.
local function redirect_output()
  local stdout, print_fn, out = io.stdout, _G.print, io.output()
  io.stdout = io.stderr -- luacheck: ignore 122 (the point: scripts that write io.stdout)
  io.output(io.stderr)
  _G.print = function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
  end
  return function()
    io.stdout, _G.print = stdout, print_fn -- luacheck: ignore 122
    io.output(out)
  end
end

-- The exit status a script's result asks for: its integer, or 0 for anything else. A process
-- can exit with 0-255 only, and the shell would wrap 256 to 0 (success): refused.
local function exit_status(file, result)
  if math.type(result) ~= "integer" then return cli.EXIT.ok end
  if result < 0 or result > 255 then
    cli.fail(cli.EXIT.script, ("%s returned %d, which is not an exit status (0-255)"):format(file, result))
  end
  return result
end

-- Fails (exit 1) for a file that cannot be read, as every command does for a missing input;
-- a file that reads but does not compile is the script's error (exit 3).
local function load_script(file)
  local f, err = io.open(file, "rb")
  if not f then
    cli.fail(cli.EXIT.fail, ("lua: cannot read '%s': %s"):format(file, (tostring(err):gsub("^.-: ", ""))))
  end
  f:close()
  local chunk, cerr = loadfile(file, "t")
  if not chunk then cli.fail(cli.EXIT.script, cerr) end
  return chunk
end

-- {"exit": n, "result": v}: an integer result is the exit status, anything else the result.
local function json_result(file, result)
  local exit = exit_status(file, result)
  local value = result
  if value == nil or math.type(value) == "integer" then value = json.null end
  local ok, text = pcall(json.encode, { exit = exit, result = value })
  if not ok then
    cli.fail(cli.EXIT.script, ("the script returned a %s, which JSON cannot hold: %s"):format(type(result), tostring(text)))
  end
  io.stdout:write(text, "\n")
  return exit
end

return {
  name = "lua",
  order = 80,
  needs_repo = false,
  pass_through = true,
  summary = "Run a Lua file with the agent API (scripting, benchmarks)",
  usage = "agent lua [--json] FILE [ARGS...]",
  args = { { name = "FILE", required = true, complete = "files" }, { name = "ARGS", many = true, complete = "files" } },
  help = [[The file sees the global `arg` (arg[0] = FILE, arg[1..] = ARGS) and may
require "agent", "agent.fs", "agent.rules" and every other module. If it returns an
integer, that is the exit status (0-255; any other integer is a script error, exit 3).
Flags after FILE belong to the script. A FILE that cannot be read exits 1.

With --json (before FILE) whatever the script prints goes to stderr, and stdout gets one
document: {"exit": status, "result": the value it returned (null for none or an integer)}.

Examples:
  agent lua tools/count_rules.lua .agent/rules
  agent lua bench/walk_select.lua /tmp/tree
  agent lua --json report.lua | jq .result]],
  run = function(opts)
    local file = opts.args[1]
    local chunk = load_script(file)
    local script_arg = { [0] = file }
    for i = 2, #opts.args do script_arg[i - 1] = opts.args[i] end
    _G.arg = script_arg
    local restore = opts.json and redirect_output() or function() end
    local ok, result = xpcall(chunk, function(e)
      if cli.is_failure(e) then return e end
      -- the traceback down to the script's own frames; agent's are noise here
      local tb = debug.traceback(tostring(e), 2)
      return tb:match("^(.-)\n%s*%[C%]: in function 'xpcall'") or tb
    end, table.unpack(script_arg))
    restore()
    if not ok then
      if cli.is_failure(result) then error(result, 0) end
      io.stderr:write(result, "\n")
      if opts.json then cli.write_json_error(cli.EXIT.script, result:match("^[^\n]*")) end
      return cli.EXIT.script
    end
    if opts.json then return json_result(file, result) end
    return exit_status(file, result)
  end,
}
