-- Benchmark of rules.select: 100,000 synthetic repository paths x 300 varied rules (or a
-- generated bench tree's files and rules), through agent.so, with the index (the default) against the naive all-pairs loop ({index=false},
-- the same C matcher trying every path for every glob) and a plain Lua loop over
-- rules.glob matchers, and with the paths handed over unsorted. Prints medians of CPU time
-- (os.clock: the work is single-threaded, and CPU time is steadier than wall time on a shared
-- machine) and ratios; asserts only that the methods agree (the index and the naive loop on
-- every why.glob and why.path too). The first select of the index runs is also shown apart:
-- it is the one context.gather pays, in a process whose memory is still fresh.
--   LUA_CPATH='build/?.so;;' lua5.4 bench/rules_select.lua [runs=7] [ROOT]
-- With ROOT (e.g. bench/out/tree-v2-100000-5000-300-200-50), the paths are its files as
-- context.gather walks them and the rules those of its .agent/rules/.
require("agent")
local rules = require("agent.rules")

local RUNS = tonumber(arg and arg[1]) or 7
local ROOT = arg and arg[2]

-- A monorepo-shaped tree: packages, services, a web app, docs, infra; sorted, as fs.walk
-- returns it. The generator is deterministic, so every run measures the same tree.
local function make_paths(n)
  local rng = 12345
  local function rand(k)
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng % k + 1
  end
  local exts = { "ts", "ts", "tsx", "js", "py", "py", "go", "rs", "md", "json", "yaml", "sql",
    "sh", "css", "html", "c", "h", "proto", "tf" }
  local roots = {
    function() return ("packages/pkg%d/src"):format(rand(60)) end,
    function() return ("packages/pkg%d/test"):format(rand(60)) end,
    function() return ("services/svc%d/internal/%s"):format(rand(25), ({ "api", "db", "core" })[rand(3)]) end,
    function() return ("web/app/components/c%d"):format(rand(200)) end,
    function() return ("docs/guide/part%d"):format(rand(30)) end,
    function() return ("infra/terraform/env%d"):format(rand(8)) end,
    function() return ("lib/util%d"):format(rand(40)) end,
    function() return ("tools/scripts") end,
  }
  local specials = { "Dockerfile", "Makefile", "package.json", "README.md", "go.mod" }
  local paths = {}
  for i = 1, n do
    local dir = roots[rand(#roots)]()
    if rand(20) == 1 then
      paths[i] = dir .. "/" .. specials[rand(#specials)]
    else
      paths[i] = ("%s/file%d.%s"):format(dir, i, exts[rand(#exts)])
    end
  end
  table.sort(paths)
  return paths
end

-- 300 rules in the proportions of real rule sets: a few always-apply, many by extension or
-- area (some for languages or folders the repo does not have), some by file name, some by
-- folder name anywhere, a few with classes and `?`.
local function make_rules()
  local list = {}
  local function add(globs, always)
    list[#list + 1] = { globs = globs, alwaysApply = always or false }
  end
  for _ = 1, 10 do add({}, true) end
  local langs = { "ts", "tsx", "py", "go", "rs", "md", "sql", "proto", "kt", "swift", "scala",
    "rb", "php", "java", "cs", "dart", "ex", "clj", "hs", "ml" }
  for i = 1, 80 do
    local l = langs[(i - 1) % #langs + 1]
    add(({ { "**/*." .. l }, { "*." .. l }, { "**/*.{" .. l .. ",x" .. l .. "}" }, { "**/*." .. l .. ".snap" } })[(i - 1) % 4 + 1])
  end
  for i = 1, 70 do
    add(({ { ("packages/pkg%d/**"):format(i) }, { ("services/svc%d/**/*.go"):format(i) },
      { ("web/app/components/c%d/**/*.tsx"):format(i * 3) }, { ("docs/guide/part%d/*.md"):format(i) },
      { ("apps/mobile%d/**"):format(i) }, { "infra/terraform/**/*.tf" },
      { ("legacy/module%d/**/*.java"):format(i) } })[(i - 1) % 7 + 1])
  end
  local names = { "Dockerfile", "Makefile", "package.json", "go.mod", "Cargo.toml", "pom.xml",
    "Gemfile", "pyproject.toml", "README.md", "CODEOWNERS" }
  for i = 1, 60 do add({ ("**/%s"):format(names[(i - 1) % #names + 1]) }) end
  local dirs = { "migrations", "__tests__", "fixtures", "internal", "components", "vendor",
    "generated", "proto", "e2e", "stories" }
  for i = 1, 50 do add({ ("**/%s/**"):format(dirs[(i - 1) % #dirs + 1]) }) end
  for i = 1, 30 do
    add(({ { "**/test_?*.py" }, { "web/**/[A-Z]*.tsx" }, { "**/*_test.go" }, { "src/**/*.{spec,test}.ts" },
      { "**/[0-9][0-9][0-9]_*.sql" } })[(i - 1) % 5 + 1])
  end
  assert(#list == 300, #list)
  return list
end

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

-- The median CPU time of n runs of fn, its results, and the time of the first run.
local function time_runs(n, fn)
  local times, result = {}, nil
  for r = 1, n do
    collectgarbage()
    local t0 = os.clock()
    result = { fn() }
    times[r] = (os.clock() - t0) * 1000
  end
  local first = times[1]
  return median(times), result, first
end

-- The loop a script would write without select: every glob against every path.
local function lua_loop(list, paths)
  local selected = {}
  for _, r in ipairs(list) do
    local hit = r.alwaysApply
    for _, g in ipairs(r.globs) do
      if hit then break end
      local m = rules.glob(g)
      for _, p in ipairs(paths) do
        if m(p) then hit = true break end
      end
    end
    if hit then selected[#selected + 1] = r end
  end
  return selected
end

-- The same paths in another order, some with a leading "./" (which does not count for
-- matching, but why.path gives the path back as it was passed).
local function shuffled(paths)
  local copy = {}
  for i, p in ipairs(paths) do copy[i] = i % 5 == 0 and "./" .. p or p end
  local rng = 777
  for i = #copy, 2, -1 do
    rng = (rng * 1103515245 + 12345) % 2147483648
    local j = rng % i + 1
    copy[i], copy[j] = copy[j], copy[i]
  end
  return copy
end

local function same_why(a, b)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i], b[i]
    if not (x and y and x.always == y.always and x.glob == y.glob and x.path == y.path) then
      return false
    end
  end
  return true
end

-- A bench tree's files (.gitignore honoured, dot files kept, .agent/ left out: as
-- context.gather walks it) and its rules.
local function tree_input(root)
  local fs = require("agent.fs")
  local paths = assert(fs.walk(root, { gitignore = true, hidden = true, ignore = { "/.agent/" } }))
  local list = {}
  for _, name in ipairs(assert(fs.walk(root .. "/.agent/rules"))) do
    local meta = assert(rules.frontmatter(assert(fs.read(root .. "/.agent/rules/" .. name))))
    list[#list + 1] = { globs = meta.globs or {}, alwaysApply = meta.alwaysApply == true }
  end
  return paths, list
end

local paths, list
if ROOT then
  paths, list = tree_input(ROOT)
else
  paths, list = make_paths(100000), make_rules()
end
local mixed = shuffled(paths)
local t_index, r_index, t_first = time_runs(RUNS, function() return rules.select(list, paths) end)
local t_build = time_runs(RUNS, function() return rules.select({}, paths) end)
local t_mixed, r_mixed = time_runs(RUNS, function() return rules.select(list, mixed) end)
local t_naive, r_naive = time_runs(math.max(1, RUNS // 3), function()
  return rules.select(list, paths, { index = false })
end)
local t_lua, r_lua = time_runs(1, function() return lua_loop(list, paths) end)

local selected = r_index[1]
assert(#selected == #r_naive[1] and #selected == #r_lua[1] and #selected == #r_mixed[1],
  "the methods disagree")
for i = 1, #selected do
  assert(selected[i] == r_naive[1][i] and selected[i] == r_lua[1][i] and selected[i] == r_mixed[1][i])
end
assert(same_why(r_index[2], r_naive[2]), "the index and the naive loop give different reasons")
for i, why in ipairs(r_mixed[2]) do -- the same paths, as passed
  local want = r_index[2][i].path
  assert(why.path == want or why.path == "./" .. want, "unsorted input: another path")
end

print(("rules.select: %d paths x %d rules (%d selected), %s, median of %d runs"):format(
  #paths, #list, #selected, ROOT or "synthetic", RUNS))
print(("  select (index)             %8.1f ms"):format(t_index))
print(("  the first of those         %8.1f ms   (the process's first select)"):format(t_first))
print(("  index build alone          %8.1f ms   (no rules)"):format(t_build))
print(("  select, paths unsorted     %8.1f ms   %5.1fx the index"):format(t_mixed, t_mixed / t_index))
print(("  select {index=false}       %8.1f ms   %5.1fx the index"):format(t_naive, t_naive / t_index))
print(("  Lua loop over rules.glob   %8.1f ms   %5.1fx the index"):format(t_lua, t_lua / t_index))
