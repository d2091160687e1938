-- The benchmark driver: each benchmark measures agent against a reference in the same run
-- and prints one line per figure:  name  value unit  reference  ratio  target
-- Wall times are medians from hyperfine. Nothing here asserts: CI runs `--smoke` (tiny
-- inputs, few runs) to prove every benchmark still runs; bench/README.md records the figures.
--
-- usage: agent lua bench/bench.lua [--smoke] [--only NAME[,NAME]] [--out DIR]
local fs = require("agent.fs")
local sys = require("agent.sys")
local cjson = require("cjson")

local SRC = ((fs.realpath(arg[0]) or arg[0]):match("^(.*)/bench/[^/]*$")) or "."
local opts = { smoke = false, only = nil, out = SRC .. "/bench/out" }
do
  local i = 1
  while arg[i] do
    if arg[i] == "--smoke" then opts.smoke = true
    elseif arg[i] == "--only" then i = i + 1; opts.only = {}
      for n in arg[i]:gmatch("[^,]+") do opts.only[n] = true end
    elseif arg[i] == "--out" then i = i + 1; opts.out = arg[i]
    else error("unknown argument " .. arg[i]) end
    i = i + 1
  end
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local ok = os.execute(cmd)
  if not ok then error("command failed: " .. cmd) end
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local AGENT = capture("readlink -f /proc/" .. sys.pid() .. "/exe"):gsub("%s+$", "")

-- Median wall time in ms of each command (hyperfine -N: no shell in between).
local function hyperfine(cmds, runs, warmup)
  local json = os.tmpname()
  local parts = { "hyperfine -N -s none --style none", "--runs", runs, "--warmup", warmup or 1, "--export-json", q(json) }
  for _, c in ipairs(cmds) do parts[#parts + 1] = q(c) end
  sh(table.concat(parts, " ") .. " >/dev/null")
  local data = cjson.decode(assert(fs.read(json)))
  os.remove(json)
  local medians = {}
  for i, r in ipairs(data.results) do medians[i] = r.median * 1000 end
  return medians
end

local function report(name, value, unit, reference, ratio, target)
  print(("%-34s %10.2f %-3s  %-26s %-12s %s"):format(name, value, unit, reference or "-",
    ratio and ("ratio=%.2f"):format(ratio) or "-", target or ""))
end

local function wanted(name) return not opts.only or opts.only[name] end

fs.mkdir_p(opts.out)
local runs = opts.smoke and 2 or 20

-- Host overhead: the binary alone.
if wanted("host") then
  local m = hyperfine({ AGENT .. " --version" }, opts.smoke and 3 or 50, 5)
  report("agent --version", m[1], "ms", "target 5 ms", m[1] / 5, "target<=1.00")
end

-- A generated tree, built once per size and kept in bench/out (it takes a while).
local function tree(files, dirs, rules, adrs, named)
  local dir = ("%s/tree-%d-%d-%d-%d"):format(opts.out, files, dirs, rules, adrs)
  if not fs.exists(dir .. "/.agent/cache/stories/BENCH/BENCH-001-synthetic.md") then
    sh(("%s lua %s %s %d %d %d %d %d >/dev/null"):format(q(AGENT), q(SRC .. "/bench/gen_repo.lua"), q(dir), files, dirs, rules, adrs, named))
  end
  return dir
end

local function peak_rss_kb(cmd)
  local out = capture(cmd)
  return tonumber(out:match("peak_rss_kb=(%d+)")), out
end

-- Issue 2: walk + select over 100k files in 5,000 folders and 300 rules, against fd.
if wanted("walk_select") then
  local root = opts.smoke and tree(2000, 100, 30, 10, 10) or tree(100000, 5000, 300, 200, 50)
  local ours = ("%s lua %s %s"):format(AGENT, SRC .. "/bench/walk_select.lua", root)
  local fd = "fdfind --no-ignore --hidden --type f . " .. root
  local m = hyperfine({ fd, ours }, runs, 2)
  report("walk+select", m[2], "ms", ("fd %.2f ms"):format(m[1]), m[2] / m[1], "target<=1.50")
  local rss = peak_rss_kb(ours)
  report("walk+select peak RSS", (rss or 0) / 1024, "MB", "target 64 MB", (rss or 0) / 1024 / 64, "target<=1.00")
end

return 0
