-- Where a command spends its time, by function: runs `agent ARGS...` in this process under a
-- sampling hook and prints the functions with the most time, inclusive (the function and all
-- it called) and self (its own code).
--
-- Time is CPU time (os.clock), so other processes on a busy machine do not blur it; --wall
-- measures wall time instead, which also counts waiting on the network or the disk.
-- A count hook fires every INTERVAL VM instructions and charges the time since the previous
-- sample to the stack it finds. A C function runs no VM instructions, so a return hook
-- watches for C functions that return after a long silence and charges that time to them
-- ("[C] walk"), under their callers; short C calls stay in their caller's self time. The
-- return hook runs at every return and inflates call-heavy code by up to half again;
-- --no-c-calls leaves it out (cheaper, but a long C call is then charged to whatever Lua
-- function runs at the next sample, possibly after its caller returned).
-- Persona and template scripts run under the host's own instruction hook (loader.call),
-- which displaces this one: each such call is timed whole as a "script call" entry under its
-- caller. With --inside they run by plain pcall instead, without the host's limits, so that
-- the profile sees into them. Coroutines other than the main one are not sampled.
-- The profile goes to stderr; the command's own output to stdout, as usual.
--
-- usage: agent lua bench/profile.lua [--top N] [--inside] [--wall] [--no-c-calls] -- COMMAND [ARGS...]
--   e.g. agent lua bench/profile.lua -- new-runbook INFRA-012 --dry-run --root DIR >/dev/null
local sys = require("agent.sys")

local INTERVAL = 1000  -- VM instructions between samples
local C_SILENCE_MS = 0.2 -- a C function returning after this long without a sample is charged itself
local USAGE = "usage: agent lua bench/profile.lua [--top N] [--inside] [--wall] [--no-c-calls] -- COMMAND [ARGS...]"

local function parse_args(argv)
  local o = { top = 25, inside = false, wall = false, c_calls = true, command = {} }
  local i = 1
  while argv[i] and argv[i] ~= "--" and argv[i]:match("^%-%-") do
    local a = argv[i]
    if a == "--inside" then
      o.inside = true
    elseif a == "--wall" then
      o.wall = true
    elseif a == "--no-c-calls" then
      o.c_calls = false
    elseif a == "--top" then
      i = i + 1
      o.top = tonumber(argv[i]) or error("--top needs a number; " .. USAGE, 0)
    else
      error(("unknown option '%s'; %s"):format(a, USAGE), 0)
    end
    i = i + 1
  end
  if argv[i] == "--" then i = i + 1 end
  for k = i, #argv do o.command[#o.command + 1] = argv[k] end
  if #o.command == 0 then error(USAGE, 0) end
  return o
end

local opts = parse_args(arg)
local now = opts.wall and sys.clock or function() return os.clock() * 1000 end

local incl, self_ms, total = {}, {}, 0
local last = now()

local function name_of(info)
  local where = info.short_src .. ":" .. (info.linedefined or 0)
  return (info.name and (info.name .. " ") or "") .. where
end

-- Charges the time since the last sample to the stack from `level` up. The innermost entry
-- is `label` when given (a C function, a script call), else the Lua function found there.
local function charge(level, label)
  local t = now()
  local dt = t - last
  last = t
  total = total + dt
  local seen = {}
  if label then
    self_ms[label] = (self_ms[label] or 0) + dt
    incl[label] = (incl[label] or 0) + dt
    seen[label] = true
  end
  local innermost = not label
  while true do
    local info = debug.getinfo(level, "Sn")
    if not info then break end
    if info.what ~= "C" then
      local key = name_of(info)
      if innermost then
        self_ms[key] = (self_ms[key] or 0) + dt
        innermost = false
      end
      if not seen[key] then -- a recursive function counts once per sample
        seen[key] = true
        incl[key] = (incl[key] or 0) + dt
      end
    end
    level = level + 1
  end
end

-- Inside the hook, level 2 is the function that was running (or returning); charge() adds one.
local function hook(event)
  if event == "count" then
    charge(3)
  elseif now() - last > C_SILENCE_MS then -- a return after a long silence
    local info = debug.getinfo(2, "Sn")
    if info.what == "C" then
      charge(4, "[C] " .. (info.name or "?"))
    end
  end
end

-- loader.call runs a team script under the host's hook: time it whole, as a child of the
-- function that called it.
local loader = require("agent.loader")
local script_call = loader.call
if opts.inside then
  script_call = function(fn, ...)
    local h, mask, count = debug.gethook()
    local results = table.pack(pcall(fn, ...))
    debug.sethook(h, mask, count) -- an error may unwind past a script that changed it
    return table.unpack(results, 1, results.n)
  end
end
local MASK = opts.c_calls and "r" or ""
loader.call = function(fn, ...)
  charge(3)
  debug.sethook(hook, "", INTERVAL) -- the host's hook comes back as this on exit: no return event
  local results = table.pack(script_call(fn, ...))
  local info = debug.getinfo(fn, "S")
  charge(3, ("script call %s:%d"):format(info.short_src, info.linedefined))
  debug.sethook(hook, MASK, INTERVAL) -- after the charge, or sethook's return would take it
  return table.unpack(results, 1, results.n)
end

local function print_table(title, t)
  local rows = {}
  for k, v in pairs(t) do rows[#rows + 1] = { k, v } end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  io.stderr:write(("\n%s (ms of %.1f ms %s)\n"):format(title, total, opts.wall and "wall" or "CPU"))
  for i = 1, math.min(opts.top, #rows) do
    io.stderr:write(("%9.1f  %5.1f%%  %s\n"):format(rows[i][2], 100 * rows[i][2] / total, rows[i][1]))
  end
end

local cli = require("agent.cli")
local t0 = now()
debug.sethook(hook, MASK, INTERVAL)
local status = cli.main(opts.command)
debug.sethook()
charge(2)
io.stderr:write(("\nagent %s: exit %s in %.1f ms\n"):format(table.concat(opts.command, " "), tostring(status),
  now() - t0))
print_table("inclusive", incl)
print_table("self", self_ms)
return 0
