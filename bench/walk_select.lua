-- The walk + select workload: list every file of a tree (.git skipped, dot files included),
-- read every .agent/rules/*.mdc, and select the rules whose globs match any file. Prints the
-- counts and the peak RSS of the process.
-- usage: agent lua bench/walk_select.lua ROOT
local fs = require("agent.fs")
local rules = require("agent.rules")

local root = assert(arg[1], "usage: walk_select.lua ROOT")
local files, errors = assert(fs.walk(root, { hidden = true }))
local list = {}
for _, name in ipairs(fs.list(root .. "/.agent/rules") or {}) do
  local text = assert(fs.read(root .. "/.agent/rules/" .. name))
  local meta = assert(rules.frontmatter(text))
  list[#list + 1] = meta
end
local selected = rules.select(list, files)

local rss = "?"
local f = io.open("/proc/self/status")
if f then
  rss = f:read("a"):match("VmHWM:%s*(%d+) kB") or "?"
  f:close()
end
print(("files=%d errors=%d rules=%d selected=%d peak_rss_kb=%s"):format(#files, #errors, #list, #selected, rss))
