-- Where a command spends its time, by Lua function: runs `agent ARGS...` in this process
-- under a sampling hook and prints the functions with the most wall time, inclusive (the
-- function and all it called) and self (its own lines, and the C functions it called).
--
-- A count hook fires every INTERVAL VM instructions and charges the wall time since the
-- previous sample to the stack it finds. Time spent inside a C function (fs.walk, a regex
-- in string.gmatch) is therefore charged to the Lua function that called it, which is what
-- one wants to know. Persona and template scripts run under the host's own instruction hook
-- (loader.call), which displaces this one: their calls are timed whole and charged to a
-- "script call" entry under their caller. With --inside they run by plain pcall instead,
-- without the host's limits, so that the profile sees into them. Coroutines other than the
-- main one are not sampled.
--
-- usage: agent lua bench/profile.lua [--top N] [--inside] -- new-runbook INFRA-012 --dry-run --root DIR
local sys = require("agent.sys")

local INTERVAL = 1000
local top, inside, argv = 25, false, {}
do
  local i = 1
  while arg[i] == "--top" or arg[i] == "--inside" do
    if arg[i] == "--inside" then
      inside, i = true, i + 1
    else
      top, i = tonumber(arg[i + 1]) or error("--top needs a number", 0), i + 2
    end
  end
  if arg[i] == "--" then i = i + 1 end
  for k = i, #arg do argv[#argv + 1] = arg[k] end
  if #argv == 0 then error("usage: agent lua bench/profile.lua [--top N] [--inside] -- COMMAND [ARGS...]", 0) end
end

local incl, self_ms, total = {}, {}, 0
local last = sys.clock()

local function name_of(info)
  local where = info.short_src .. ":" .. (info.linedefined or 0)
  return (info.name and (info.name .. " ") or "") .. where
end

-- Charges the time since the last sample to the stack from `level` up; `label`, when given,
-- names the innermost entry instead of the function found there.
local function charge(level, label)
  local now = sys.clock()
  local dt = now - last
  last = now
  total = total + dt
  local seen = {}
  local first = level
  while true do
    local info = debug.getinfo(level, "Sn")
    if not info then break end
    if info.what ~= "C" then
      local key = (level == first and label) or name_of(info)
      if level == first then self_ms[key] = (self_ms[key] or 0) + dt end
      if not seen[key] then -- a recursive function counts once per sample
        seen[key] = true
        incl[key] = (incl[key] or 0) + dt
      end
    end
    level = level + 1
  end
end

local function sample() charge(3) end

-- loader.call runs a team script under the host's hook: time it whole, as a child of the
-- function that called it.
local loader = require("agent.loader")
local script_call = loader.call
if inside then
  script_call = function(fn, ...)
    local hook, mask, count = debug.gethook()
    local results = table.pack(pcall(fn, ...))
    debug.sethook(hook, mask, count) -- a script may not touch it, but an error unwinds past it
    return table.unpack(results, 1, results.n)
  end
end
loader.call = function(fn, ...)
  charge(3)
  local results = table.pack(script_call(fn, ...))
  local info = debug.getinfo(fn, "S")
  charge(2, ("script call %s:%d"):format(info.short_src, info.linedefined))
  return table.unpack(results, 1, results.n)
end

local function ranked(t)
  local rows = {}
  for k, v in pairs(t) do rows[#rows + 1] = { k, v } end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  return rows
end

local function print_table(title, t)
  io.stderr:write(("\n%s (ms of %.1f ms sampled)\n"):format(title, total))
  for i, row in ipairs(ranked(t)) do
    if i > top then break end
    io.stderr:write(("%9.1f  %5.1f%%  %s\n"):format(row[2], 100 * row[2] / total, row[1]))
  end
end

-- The command's stdout goes nowhere: the profile is what this run is for.
local real_stdout = io.stdout
io.stdout = assert(io.open("/dev/null", "w"))
local cli = require("agent.cli")
local t0 = sys.clock()
debug.sethook(sample, "", INTERVAL)
local status = cli.main(argv)
debug.sethook()
charge(2)
io.stdout:close()
io.stdout = real_stdout
io.stderr:write(("\nagent %s: exit %s in %.1f ms\n"):format(table.concat(argv, " "), tostring(status), sys.clock() - t0))
print_table("inclusive", incl)
print_table("self", self_ms)
return 0
