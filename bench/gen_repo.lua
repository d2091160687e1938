-- Generates a synthetic monorepo for the benchmarks: FILES files spread over DIRS folders,
-- RULES .mdc rules with varied globs (a few alwaysApply), ADRS ADRs, and one COMMITTED story
-- BENCH-001 naming NAMED existing files.
-- usage: agent lua bench/gen_repo.lua DIR [files dirs rules adrs named]
local fs = require("agent.fs")

local root = assert(arg[1], "usage: gen_repo.lua DIR [files dirs rules adrs named]")
local nfiles = tonumber(arg[2]) or 100000
local ndirs = tonumber(arg[3]) or 5000
local nrules = tonumber(arg[4]) or 300
local nadrs = tonumber(arg[5]) or 200
local nnamed = tonumber(arg[6]) or 50

local EXTS = { "py", "ts", "tsx", "go", "rs", "md", "json", "yaml", "sql", "c", "h", "txt" }
local TOPS = { "services", "libs", "web", "tools", "infra", "docs", "mobile", "data" }

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Deterministic pseudo-random numbers, so every run builds the same tree: a linear
-- congruential generator, read from its high bits (its low bits repeat with a short period,
-- which once gave every folder of a top-level area the same few extensions).
local seed = 12345
local function rand(n)
  seed = (seed * 1103515245 + 12345) % 2147483648
  return (seed >> 8) % n + 1
end

local dirs = {}
for d = 1, ndirs do
  local top = TOPS[(d - 1) % #TOPS + 1]
  local path = ("%s/pkg%03d/mod%04d"):format(top, (d - 1) // 40, d)
  dirs[d] = path
  assert(fs.mkdir_p(root .. "/" .. path))
end

local files = {}
for i = 1, nfiles do
  local dir = dirs[(i - 1) % ndirs + 1]
  local rel = ("%s/file%06d.%s"):format(dir, i, EXTS[rand(#EXTS)])
  files[i] = rel
  write(root .. "/" .. rel, ("// file %d\nline two\n"):format(i))
end
write(root .. "/.gitignore", "*.log\nbuild/\n")

assert(fs.mkdir_p(root .. "/.agent/rules"))
for r = 1, nrules do
  local kind = r % 6
  local globs
  if kind == 0 then globs = ('["**/*.%s"]'):format(EXTS[rand(#EXTS)])
  elseif kind == 1 then globs = ('["%s/**/*.%s"]'):format(TOPS[rand(#TOPS)], EXTS[rand(#EXTS)])
  elseif kind == 2 then globs = ("%s/pkg%03d/**, **/*.%s"):format(TOPS[rand(#TOPS)], rand(120), EXTS[rand(#EXTS)])
  elseif kind == 3 then globs = ('["**/mod%04d/*.{py,ts}"]'):format(rand(ndirs))
  elseif kind == 4 then globs = ('["nomatch%d/**/*.zz"]'):format(r)
  else globs = ('["**/file%06d.*"]'):format(rand(nfiles)) end
  local always = (r % 50 == 0) and "true" or "false"
  write(("%s/.agent/rules/%03d-rule.mdc"):format(root, r),
    ("---\ndescription: synthetic rule %d\nglobs: %s\nalwaysApply: %s\n---\n\n# Rule %d\n\n- MUST do thing %d.\n")
      :format(r, globs, always, r, r))
end

assert(fs.mkdir_p(root .. "/.agent/adrs"))
for a = 1, nadrs do
  local status = (a % 10 == 0) and "SUPERSEDED" or "ACCEPTED"
  write(("%s/.agent/adrs/ADR-%03d-decision.md"):format(root, a),
    ("# ADR-%03d: Decision %d\n\n## Status\n\n%s\n\n## Context\n\nWhy %d.\n\n## Decision\n\nWe do %d.\n")
      :format(a, a, status, a, a))
end

assert(fs.mkdir_p(root .. "/.agent/cache/stories/BENCH"))
local named = {}
for n = 1, nnamed do named[n] = "- `" .. files[(n * 1987) % nfiles + 1] .. "`" end
write(root .. "/.agent/cache/stories/BENCH/BENCH-001-synthetic.md", table.concat({
  "# BENCH-001: Synthetic story", "", "## State", "", "COMMITTED", "",
  "## Problem Statement", "", "A story that names many files.", "",
  "## User Story", "", "As a benchmark, I want context gathered fast.", "",
  "## Acceptance Criteria", "", "- [ ] Context is gathered.", "",
  "## Impact Analysis Summary", "", table.concat(named, "\n"), "",
  "## Test Strategy", "", "Time it.", "", "## Rollback Plan", "", "Delete the tree.", "",
}, "\n"))
print(("generated %d files in %d folders, %d rules, %d ADRs under %s"):format(nfiles, ndirs, nrules, nadrs, root))
