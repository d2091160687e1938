-- The command line: global flags, command dispatch, flag parsing from each command's
-- declaration, and the mapping from failures to exit statuses (docs/usage.md#exit-codes).
--
-- A command is a module lua/agent/commands/<name>.lua (dashes become underscores) returning
--   { name, summary, usage, help, order, args = {{name=, required=, many=}}, flags = {...},
--     needs_repo = false | "optional" (default true: fail without a repo; "optional": use the
--     repo when there is one), pass_through = true (flags after the first positional belong
--     to it), hidden = true (left out of 'agent help'), run = function(opts, ctx) -> status }
-- An arg may name its completion: complete = "story"|"runbook"|"command"|"persona"|"scope"|
--   "dirs"|"files", a list of words, or function(args) -> one of those (agent __complete).
-- A flag is { name, type = "boolean"|"string"|"number"|"list", arg = "NAME", help = "...",
--   complete = like an arg's (its value's candidates) }.
-- With --json every failure is also one JSON document on stdout (docs/json.md).
local loader = require("agent.loader")
local host = require("agent.host")

local M = {}

M.EXIT = {
  ok = 0, fail = 1, usage = 2, script = 3, gate = 4, incomplete = 5, blocked = 6,
  internal = 70, sigint = 130, sigterm = 143,
}

-- Flags every command accepts.
M.GLOBAL_FLAGS = {
  { name = "root", type = "string", arg = "DIR", help = "repository root (default: nearest ancestor holding .agent/)" },
  { name = "scripts", type = "list", arg = "DIR", help = "extra script directory searched first (repeatable; also AGENT_SCRIPTS)" },
  { name = "json", type = "boolean", help = "print one JSON document on stdout; human text goes to stderr" },
  { name = "log-format", type = "string", arg = "FMT", complete = { "text", "json" }, help = "stderr diagnostics as 'text' (default) or 'json'" },
  { name = "verbose", short = "v", type = "boolean", help = "more detail on stderr" },
  { name = "quiet", short = "q", type = "boolean", help = "only warnings and errors on stderr" },
  { name = "no-color", type = "boolean", help = "no colour on stderr (also NO_COLOR)" },
  { name = "help", short = "h", type = "boolean", help = "show help for the command" },
}

-- A failure the user can act on: one line on stderr and a non-zero exit status.
local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f) return f.message end

function M.fail(code, message)
  error(setmetatable({ code = code, message = message }, Failure), 0)
end

function M.usage_error(message) M.fail(M.EXIT.usage, message) end

function M.is_failure(v) return getmetatable(v) == Failure end

-- The xpcall message handler of one invocation: a failure raised through fail() passes as
-- it is; anything else is a bug and gets its traceback.
function M.keep_failure(err)
  if M.is_failure(err) then return err end
  return debug.traceback(tostring(err), 2)
end

-- The session of one invocation (agent.session), or the failure it names.
function M.setup(cmd, opts)
  local ctx, err, code = require("agent.session").setup(cmd, opts)
  if not ctx then M.fail(code, err) end
  return ctx
end

local function module_name(command)
  return "agent.commands." .. command:gsub("-", "_")
end

-- The command module, or nil when there is no such command.
function M.command(name)
  -- a leading "__" marks a hidden helper command (agent __complete)
  if not name:match("^[a-z][a-z0-9-]*$") and not name:match("^__[a-z][a-z0-9-]*$") then return nil end
  if not loader.resolve("lua", (module_name(name):gsub("%.", "/")) .. ".lua") then return nil end
  return require(module_name(name))
end

-- Every command, sorted by its `order` then name.
function M.commands()
  local list = {}
  local seen = {}
  local prefix = "lua/agent/commands/"
  local function add(file)
    local name = file:match("([%w_]+)%.lua$")
    if name and not seen[name] then
      seen[name] = true
      local cmd = require("agent.commands." .. name)
      list[#list + 1] = cmd
    end
  end
  for _, path in ipairs(host.builtins(prefix)) do add(path) end
  table.sort(list, function(a, b)
    local oa, ob = a.order or 100, b.order or 100
    if oa ~= ob then return oa < ob end
    return a.name < b.name
  end)
  return list
end

-- cli.find_flag(flag_sets, name, short) -> flag | nil: the flag of that long name or short
-- letter in the first set declaring it.
local function find_flag(flags, name, short)
  for _, set in ipairs(flags) do
    for _, f in ipairs(set) do
      if (name and f.name == name) or (short and f.short == short) then return f end
    end
  end
end
M.find_flag = find_flag

local function convert(cmdname, flag, value)
  if flag.type == "number" then
    local n = tonumber(value)
    if not n then M.usage_error(("%s: flag --%s needs a number, got '%s'"):format(cmdname, flag.name, value)) end
    return n
  end
  if flag.type == "string" or flag.type == "list" then
    if flag.choices then
      for _, c in ipairs(flag.choices) do if c == value then return value end end
      M.usage_error(("%s: flag --%s must be one of %s, got '%s'"):format(cmdname, flag.name, table.concat(flag.choices, ", "), value))
    end
  end
  return value
end

local function set_flag(opts, flag, value)
  if flag.type == "list" then
    opts[flag.name] = opts[flag.name] or {}
    table.insert(opts[flag.name], value)
  else
    opts[flag.name] = value
  end
end

-- Reads the flag at argv[i] (--name, --name=value, -x; a value may be the next word) into
-- opts. Returns the index of the last word it used.
local function read_flag(cmd, argv, i, opts)
  local cmdname, a = "agent " .. cmd.name, argv[i]
  local name, value = a:match("^%-%-([^=]+)=(.*)$")
  local short
  if not name then name = a:match("^%-%-(.+)$") end
  if not name then short = a:match("^%-(%a)$") end
  local flag = find_flag({ cmd.flags or {}, M.GLOBAL_FLAGS }, name, short)
  if not flag then
    M.usage_error(("%s: unknown flag '%s' (see 'agent help %s')"):format(cmdname, a, cmd.name))
  end
  if flag.type == "boolean" then
    if value ~= nil then M.usage_error(("%s: flag --%s takes no value"):format(cmdname, flag.name)) end
    set_flag(opts, flag, true)
    return i
  end
  if value == nil then
    i = i + 1
    value = argv[i]
    if value == nil then M.usage_error(("%s: flag --%s needs a value (%s)"):format(cmdname, flag.name, flag.arg or "VALUE")) end
  end
  set_flag(opts, flag, convert(cmdname, flag, value))
  return i
end

-- Checks the positionals against the command's declared args (required ones, how many).
local function check_args(cmd, args)
  local cmdname, specs, n = "agent " .. cmd.name, cmd.args or {}, 0
  for _, spec in ipairs(specs) do
    if spec.many then n = math.huge else n = n + 1 end
    if spec.required and #args < (spec.many and #specs or n) then
      M.usage_error(("%s: missing %s (usage: %s)"):format(cmdname, spec.name, cmd.usage))
    end
  end
  if #args > n then
    M.usage_error(("%s: unexpected argument '%s' (usage: %s)"):format(cmdname, args[n + 1], cmd.usage))
  end
end

-- Parses argv[first..] against the command's flags and the global ones.
-- Returns opts: flag values by name (dashes kept) plus opts.args, the positionals.
function M.parse(cmd, argv, first)
  local opts = { args = {} }
  local i, only_positional = first, false
  while i <= #argv do
    local a = argv[i]
    if only_positional or a == "-" or not a:match("^%-") then
      opts.args[#opts.args + 1] = a
      -- commands that hand their arguments on (agent lua FILE ARGS...) stop at the first one
      if cmd.pass_through then only_positional = true end
    elseif a == "--" then
      only_positional = true
    else
      i = read_flag(cmd, argv, i, opts)
    end
    i = i + 1
  end
  if not opts.help then check_args(cmd, opts.args) end
  return opts
end

-- Formats the help of one command.
function M.help_text(cmd)
  local lines = { "usage: " .. cmd.usage, "", cmd.summary }
  if cmd.help then lines[#lines + 1] = "" ; lines[#lines + 1] = cmd.help end
  local function flag_lines(title, flags)
    if #flags == 0 then return end
    lines[#lines + 1] = ""
    lines[#lines + 1] = title
    for _, f in ipairs(flags) do
      local left = "  " .. (f.short and ("-" .. f.short .. ", ") or "") .. "--" .. f.name .. (f.arg and (" " .. f.arg) or "")
      lines[#lines + 1] = left .. string.rep(" ", math.max(2, 28 - #left)) .. f.help
    end
  end
  flag_lines("flags:", cmd.flags or {})
  flag_lines("global flags:", M.GLOBAL_FLAGS)
  return table.concat(lines, "\n") .. "\n"
end

local function flag_docs(flags)
  local json = require("agent.json")
  local out = json.array({})
  for i, f in ipairs(flags) do
    out[i] = { name = f.name, short = f.short, type = f.type, arg = f.arg, help = f.help,
               choices = f.choices and json.array({ table.unpack(f.choices) }) or nil }
  end
  return out
end

-- The help of one command as data: what `agent help CMD --json` prints.
function M.describe(cmd)
  local json = require("agent.json")
  local args = json.array({})
  for i, a in ipairs(cmd.args or {}) do
    args[i] = { name = a.name, required = a.required or false, many = a.many or false }
  end
  return {
    name = cmd.name, summary = cmd.summary, usage = cmd.usage, help = cmd.help or "",
    repo = cmd.needs_repo == false and "none" or cmd.needs_repo == "optional" and "optional" or "required",
    args = args, flags = flag_docs(cmd.flags or {}),
    global_flags = flag_docs(M.GLOBAL_FLAGS),
  }
end

local function version_line()
  return ("agent %s (%s)"):format(host.version, host.lua_version)
end
M.version_line = version_line

-- Whether --json was asked for, read from argv before (or without) a successful parse.
local function wants_json(argv)
  for i = 2, #argv do
    if argv[i] == "--" then return false end
    if argv[i] == "--json" then return true end
  end
  return false
end

-- Whether stderr is in JSON lines (--log-format json, else AGENT_LOG_FORMAT), read from argv
-- as wants_json does, since a run can fail before its logging is set up.
local function wants_json_log(argv)
  for i = 2, #argv do
    if argv[i] == "--" then break end
    if argv[i] == "--log-format=json" or (argv[i] == "--log-format" and argv[i + 1] == "json") then return true end
    if argv[i] == "--log-format" or argv[i]:match("^%-%-log%-format=") then return false end
  end
  return require("agent.sys").getenv("AGENT_LOG_FORMAT") == "json"
end

local function kind_of(code)
  for kind, c in pairs(M.EXIT) do
    if c == code then return kind end
  end
  return "fail"
end

-- The JSON document of a failure: {"error": {"exit": 2, "kind": "usage", "message": ...}}.
local function write_json_error(code, message)
  local doc = { error = { exit = code, kind = kind_of(code), message = message } }
  io.stdout:write(require("agent.json").encode(doc), "\n")
end
M.write_json_error = write_json_error

-- The run's last line on stderr: "agent: <message>", or with JSON logs a log object like
-- every other line (level "error", event "failed", msg, exit, kind [, traceback]).
local function report_failure(argv, code, msg, traceback)
  if not wants_json_log(argv) then
    io.stderr:write(msg:match("^agent ") and "" or "agent: ", msg, "\n")
    if traceback then io.stderr:write(traceback, "\n") end
    return
  end
  local log = require("agent.log")
  log.setup({ format = "json" })
  log.error(msg, { event = "failed", exit = code, kind = kind_of(code), traceback = traceback })
end

-- Runs the command `name` on argv; run.json is set once its flags are parsed.
local function dispatch(name, argv, run)
  if name:match("^%-") then
    M.usage_error(("unknown flag '%s' before the command (see 'agent help')"):format(name))
  end
  local cmd = M.command(name)
  if not cmd then M.usage_error(("unknown command '%s' (see 'agent help')"):format(name)) end
  local opts = M.parse(cmd, argv, 2)
  run.json = opts.json or false
  if not opts.help then return cmd.run(opts, M.setup(cmd, opts)) end
  if run.json then
    io.stdout:write(require("agent.json").encode(M.describe(cmd)), "\n")
  else
    io.stdout:write(M.help_text(cmd))
  end
  return M.EXIT.ok
end

-- Reports what ended a run (a failure, a signal, a bug) on stderr, and on stdout in --json
-- mode; returns the exit status.
local function failed(argv, err, json_mode)
  local code, msg, doc_msg, traceback
  if M.is_failure(err) then
    code, msg = err.code, err.message
  elseif host.interrupted() then
    code, msg = host.interrupted() == "SIGINT" and M.EXIT.sigint or M.EXIT.sigterm, "interrupted"
  else
    local first, rest = tostring(err):match("^([^\n]*)\n?(.*)$")
    code, msg, doc_msg = M.EXIT.internal, "internal error (please report it): " .. first, "internal error: " .. first
    traceback = rest ~= "" and rest or nil
  end
  report_failure(argv, code, msg, traceback)
  if json_mode then write_json_error(code, doc_msg or msg) end
  return code
end

-- Runs one invocation. argv[0] is the program name. Returns the exit status.
function M.main(argv)
  local name = argv[1]
  if (name == "--version" or name == "-V") and argv[2] == nil then
    io.stdout:write(version_line(), "\n") -- the fast path: no command module loaded
    return M.EXIT.ok
  end
  if name == "--version" or name == "-V" then name = "version" end -- `--version --json`
  if name == nil or name == "--help" or name == "-h" then name = "help" end
  local run = { json = wants_json(argv) }
  local ok, status = xpcall(dispatch, M.keep_failure, name, argv, run)
  if ok then return status or M.EXIT.ok end
  return failed(argv, status, run.json)
end

return M
