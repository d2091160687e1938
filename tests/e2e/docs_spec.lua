-- The examples in docs/ run as written: each is extracted from its page (by the file name on
-- its first line, or the fence it sits in) and run with the real binary or a stock lua5.4 on
-- a copy of rules-examples, and what the page says about its result is checked.
local t = require("testutil")
local json = require("agent").json

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local repo = t.example_repo

-- The body of the ```lang block of docs/<page> whose first line starts with `first`.
local function example(page, lang, first)
  local text = assert(t.read(t.src .. "/docs/" .. page), page)
  for body in text:gmatch("```" .. lang .. "\n(.-\n)```") do
    if body:sub(1, #first) == first then return body end
  end
  error(("docs/%s has no ```%s block starting with %q"):format(page, lang, first))
end

local function sections(text)
  local out = {}
  for title in text:gmatch("\n## ([^\n]+)") do out[#out + 1] = title end
  return out
end

-- Runs a shell command; returns its output (stdout and stderr) and whether it exited 0.
local function capture(cmd)
  local dir = t.tmpdir()
  local ok, code = t.sh(cmd .. " >" .. t.q(dir .. "/out") .. " 2>&1")
  return t.read(dir .. "/out") or "", ok, code
end

-- The prefix for an instrumented program the spec starts (the tour's agent, verdicts): under
-- scripts/test.sh --asan the spec runner preloads libasan with leak checks off, and the
-- program gets AGENT_ASAN_OPTIONS (leak checks on) back instead, as testutil.command does.
local function native()
  local asan = os.getenv("AGENT_ASAN_OPTIONS")
  if not asan then return "" end
  return "env -u LD_PRELOAD ASAN_OPTIONS=" .. t.q(asan) .. " "
end

local function index_of(list, v)
  for i, x in ipairs(list) do if x == v then return i end end
end

describe("docs/personas.md", function()
  after_each(t.cleanup)

  it("the team template adds its sections around the built-in layout and passes the gates", function()
    local root = repo()
    t.write(root .. "/.agent/templates/runbook.lua",
      example("personas.md", "lua", "-- .agent/templates/runbook.lua:"))
    local which = t.run({ "which", "template", "runbook" }, { cwd = root })
    assert.matches("^" .. root:gsub("%p", "%%%0") .. "/%.agent/templates/runbook%.lua %(repo%)\n", which.stdout)

    local r = t.run({ "new-runbook", ID, "--json" }, { cwd = root })
    assert.are.equal(0, r.code, r.stderr)
    local doc = assert(json.decode(r.stdout))
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    assert.matches("^# INFRA%-012: [^\n]+\n\nStatus: PROPOSED\n\n## At a Glance\n", text)
    local titles = sections(text)
    assert.are.equal("Sign-off", titles[#titles])
    assert.is_true(index_of(titles, "At a Glance") < index_of(titles, "Goal Description"))
    local words = { APPROVE = "approves", CHANGES = "requests changes", BLOCK = "blocks" }
    for _, p in ipairs(doc.personas) do
      local row = ("| %s | %s | %d |"):format(p.name, words[p.verdict], #p.items)
      assert.is_truthy(text:find(row, 1, true), "no row " .. row)
    end
    assert.matches("\n%d+ file changes? proposed%.\n", text)
    assert.matches("\n## Sign%-off\n\n%- %[ %] Tech lead: [^\n]+\n%- %[ %] On%-call engineer: [^\n]+\n$", text)
    assert.are.equal(0, t.run({ "check-runbook", ID }, { cwd = root }).code)
  end)
end)

describe("docs/embedding.md", function()
  after_each(t.cleanup)

  -- name and verdict of each persona, as `agent panel --json` gives them
  local function panel_lines(root, story)
    local doc = assert(json.decode(t.run({ "panel", story, "--json" }, { cwd = root }).stdout))
    local out = {}
    for _, p in ipairs(doc.personas) do out[#out + 1] = ("%-16s %s"):format(p.name, p.verdict or p.status) end
    return out
  end

  it("review.lua prints the verdicts and the runbook's size from a stock lua5.4, and fails as shown", function()
    local root = repo()
    local script = t.write(t.tmpdir() .. "/review.lua", example("embedding.md", "lua", "-- review.lua:"))
    local lua = "cd / && LUA_CPATH=" .. t.q(os.getenv("LUA_CPATH") or "") .. " lua5.4 " .. t.q(script) .. " " .. t.q(root)
    local out, ok = capture(lua .. " " .. ID)
    assert(ok, out)
    local dry = t.run({ "new-runbook", ID, "--dry-run" }, { cwd = root })
    local lines = panel_lines(root, ID)
    lines[#lines + 1] = ("%s: %d lines, exit status %d"):format(ID, select(2, dry.stdout:gsub("\n", "")), dry.code)
    assert.are.equal(table.concat(lines, "\n") .. "\n", out)
    -- the transcript on the page, for the example repository itself
    local page = assert(t.read(t.src .. "/docs/embedding.md"))
    assert.is_truthy(page:find("\n" .. lines[#lines] .. "\n", 1, true), "docs/embedding.md shows another line count")
    local fail, fine, code = capture(lua .. " INFRA-404")
    assert.is_false(fine)
    assert.are.equal(1, code)
    assert.matches("^review: story 'INFRA%-404' not found", fail)
    assert.is_truthy(page:find(fail, 1, true), "docs/embedding.md shows another message")
  end)

  it("verdicts.c builds against the build tree with the command shown and prints each verdict", function()
    local build = os.getenv("AGENT_BUILD")
    local root = repo()
    local dir = t.tmpdir()
    t.write(dir .. "/verdicts.c", example("embedding.md", "c", "/* verdicts.c:"))
    local cc = assert(example("embedding.md", "sh", "cc verdicts.c -I include"):gsub("\\\n%s*", ""))
    cc = cc:gsub("\n$", ""):gsub("%-I include", "-I " .. t.q(t.src .. "/include"))
      :gsub("build/lib/libagent%.a", t.q(build .. "/lib/libagent.a")):gsub("%-o verdicts", "-o " .. t.q(dir .. "/verdicts"))
    if t.cmake_cache("AGENT_SANITIZE") == "ON" then cc = cc:gsub("^cc ", "cc -fsanitize=address,undefined ") end
    local out, built = capture("cd " .. t.q(dir) .. " && " .. cc .. " -Wall -Wextra -Werror")
    assert(built, out)
    local ran, ok = capture(native() .. t.q(dir .. "/verdicts") .. " " .. t.q(root) .. " INFRA-013")
    assert(ok, ran)
    assert.are.equal(table.concat(panel_lines(root, "INFRA-013"), "\n") .. "\n", ran)
    local missing, fine, code = capture(native() .. t.q(dir .. "/verdicts") .. " " .. t.q(root) .. " INFRA-404")
    assert.is_false(fine)
    assert.are.equal(1, code)
    assert.matches("^verdicts: story 'INFRA%-404' not found", missing)
  end)
end)

describe("docs/lua-api.md", function()
  after_each(t.cleanup)

  it("check.lua prints what agent check-runbook prints, and exits as it does", function()
    local root = repo()
    local script = t.write(t.tmpdir() .. "/check.lua", example("lua-api.md", "lua", "-- check.lua"))
    local function check(...)
      local args = {}
      for i, a in ipairs({ ... }) do args[i] = t.q(a) end
      return capture(("cd %s && LUA_CPATH=%s lua5.4 %s %s"):format(t.q(root), t.q(os.getenv("LUA_CPATH") or ""),
        t.q(script), table.concat(args, " ")))
    end
    local out, ok, code = check(ID)
    assert.are.same({ false, 1 }, { ok, code })
    assert.matches("^no runbook for INFRA%-012", out)
    assert.are.equal(0, t.run({ "new-runbook", ID }, { cwd = root }).code)
    out, ok = check(ID, root)
    assert.are.same({ "", true }, { out, ok })
    t.write(root .. "/broken.md", "# INFRA-012: x\n\nStatus: PROPOSED\n\n## Goal Description\n\n<placeholder>\n")
    local cli = t.run({ "check-runbook", "broken.md" }, { cwd = root })
    assert.are.equal(4, cli.code)
    out, ok, code = check("broken.md")
    assert.are.same({ false, 4 }, { ok, code })
    assert.are.equal(cli.stderr:gsub("agent check%-runbook: [^\n]*\n$", ""), out)
  end)
end)

describe("docs/usage.md", function()
  after_each(t.cleanup)

  it("the quick-start tour runs as written in a new directory", function()
    local dir = t.tmpdir() .. "/orders"
    local tour = example("usage.md", "sh", "# the tour")
    local bin = t.bin:match("^(.*)/[^/]*$")
    local out, ok = capture(("mkdir -p %s && cd %s && PATH=%s:$PATH NO_COLOR=1 XDG_CONFIG_HOME=/nonexistent %ssh -e -c %s"):format(
      t.q(dir), t.q(dir), t.q(bin), native(), t.q(tour)))
    assert(ok, out)
    local runbook = assert(t.read(dir .. "/" .. RUNBOOK))
    assert.matches("\nStatus: ACCEPTED\n", runbook)
    assert.matches("ID%s+STATE%s+TITLE\nINFRA%-012%s+COMMITTED", out)
    local story = assert(t.read(dir .. "/.agent/cache/stories/INFRA/INFRA-015-rate-limits-per-customer.md"))
    assert.matches("DRAFT", story)
  end)
end)
