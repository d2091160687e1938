-- require "agent" for Lua 5.4 hosts: agent.new_runbook, agent.panel and agent.check_runbook run
-- the CLI's own pipeline on a copy of rules-examples (offline) and return plain data. The
-- runbook a stock lua5.4 writes through the API is the CLI's, byte for byte, with the CLI's
-- verdicts and exit status, and nothing reaches stdout. Failures the CLI reports come back
-- as nil, message, status; misuse raises.
local agent = require("agent")
local t = require("testutil")
local json = agent.json

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local repo = t.example_repo

-- Runs a Lua chunk in a stock lua5.4 with the build's agent.so, from directory cwd; returns
-- stdout, the chunk's JSON report (written to a file, never stdout), and stderr.
local function lua54(cwd, chunk, ...)
  local dir = t.tmpdir()
  local script = t.write(dir .. "/host.lua", chunk)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = t.q(a) end
  local cmd = ("cd %s && LUA_CPATH=%s lua5.4 %s %s %s >%s 2>%s"):format(t.q(cwd),
    t.q(os.getenv("LUA_CPATH") or ""), t.q(script), t.q(dir .. "/report.json"),
    table.concat(args, " "), t.q(dir .. "/stdout"), t.q(dir .. "/stderr"))
  local ok = t.sh(cmd)
  local stderr = t.read(dir .. "/stderr") or ""
  assert(ok, "lua5.4 failed: " .. stderr)
  return t.read(dir .. "/stdout") or "", assert(json.decode(t.read(dir .. "/report.json") or "")), stderr
end

local function by_id(list)
  local out = {}
  for _, f in ipairs(list) do out[f.id] = f end
  return out
end

describe("require 'agent' from a stock lua5.4", function()
  after_each(t.cleanup)

  it("writes the same runbook as the CLI, with its findings, verdicts and exit status, printing nothing", function()
    local api_root, cli_root = repo(), repo()
    local stdout, r = lua54("/", [[
local report, root = ...
local agent = require("agent")
local r = assert(agent.new_runbook({ root = root, story = "INFRA-012" }))
local f = assert(io.open(report, "w"))
f:write(agent.json.encode(r))
f:close()
]], api_root)
    assert.are.equal("", stdout)

    local cli = t.run({ "new-runbook", ID, "--json" }, { cwd = cli_root })
    local doc = assert(json.decode(cli.stdout))
    assert.are.equal(cli.code, r.status)
    assert.are.equal(api_root .. "/" .. RUNBOOK, r.path)
    assert.are.equal(RUNBOOK, r.relpath)
    assert.are.equal(t.read(r.path), r.text)
    assert.are.equal(t.read(cli_root .. "/" .. RUNBOOK), r.text)
    assert.matches("^# INFRA%-012: Idempotent order creation", r.text)
    assert.are.same({ id = ID, scope = "INFRA", state = "COMMITTED", title = doc.story.title, relpath = doc.story.relpath }, r.story)
    assert.are.same({ "offline", doc.model }, { r.provider, r.model })

    assert.are.equal(#doc.personas, #r.findings)
    for i, p in ipairs(doc.personas) do
      local f = r.findings[i]
      assert.are.same({ p.id, p.name, p.status, p.verdict, p.summary }, { f.id, f.name, f.status, f.verdict, f.summary })
      assert.are.same(p.items, f.items)
    end
    assert.are.same({}, r.gate_problems)
    assert.matches("^%x+$", r.run_id)
  end)
end)

describe("agent.new_runbook", function()
  after_each(t.cleanup)

  it("with dry_run returns the text and writes nothing", function()
    local root = repo()
    local r = assert(agent.new_runbook({ root = root, story = ID, dry_run = true }))
    assert.is_nil(r.path)
    assert.is_false(agent.fs.exists(root .. "/" .. RUNBOOK))
    local written = assert(agent.new_runbook({ root = root, story = ID }))
    assert.are.equal(written.text, r.text)
  end)

  it("without root, finds the repository from the working directory like the CLI", function()
    local root = repo()
    local chunk = [[
local report = ...
local agent = require("agent")
local r, err, code = agent.new_runbook({ story = "INFRA-012", dry_run = true })
local f = assert(io.open(report, "w"))
f:write(agent.json.encode({ story = r and r.story.id, err = err, code = code }))
f:close()
]]
    local stdout, r = lua54(root .. "/src/orders", chunk)
    assert.are.equal("", stdout)
    assert.are.same({ story = ID }, r)
    local _, none = lua54("/", chunk)
    assert.are.equal(1, none.code)
    assert.matches("no %.agent/ directory in this directory or any parent", none.err)
  end)

  it("returns nil, message, status for what the CLI reports as a failure", function()
    local root = repo()
    local cases = {
      { { root = root, story = "INFRA-999" }, 1, "story 'INFRA%-999' not found" },
      { { root = root, story = "INFRA-013" }, 1, "DRAFT" },
      { { root = root, story = "bad id" }, 2, "invalid story ID 'bad id'" },
      { { root = root .. "/src", story = ID }, 1, "no %.agent/ directory there" },
      { { root = root, story = ID, provider = "nope" }, 2, "unknown provider 'nope'" },
      { { root = root, story = ID, jobs = 0 }, 2, "%-%-jobs must be a positive integer" },
    }
    for _, c in ipairs(cases) do
      local r, msg, code = agent.new_runbook(c[1])
      assert.is_nil(r)
      assert.are.equal(c[2], code, msg)
      assert.matches(c[3], msg)
      assert.is_nil(msg:find("\n", 1, true), "one line: " .. msg)
    end
    assert.is_false(agent.fs.exists(root .. "/" .. RUNBOOK))
  end)

  it("refuses to replace a runbook unless force, which keeps the old one as .bak", function()
    local root = repo()
    assert(agent.new_runbook({ root = root, story = ID }))
    t.write(root .. "/" .. RUNBOOK, "hand edited\n")
    local r, msg, code = agent.new_runbook({ root = root, story = ID })
    assert.are.same({ nil, 1 }, { r, code })
    assert.matches("already exists; it was left untouched", msg)
    assert.are.equal("hand edited\n", t.read(root .. "/" .. RUNBOOK))
    assert(agent.new_runbook({ root = root, story = ID, force = true }))
    assert.are.equal("hand edited\n", t.read(root .. "/" .. RUNBOOK .. ".bak"))
  end)

  it("reports a broken config and a broken team template as failures, writing nothing", function()
    local root = repo()
    local cfg = root .. "/.agent/etc/agent.yaml"
    local good = t.read(cfg)
    t.write(cfg, "panel: [unclosed\n")
    local r, msg, code = agent.new_runbook({ root = root, story = ID })
    assert.are.same({ nil, 1 }, { r, code })
    assert.matches("^%.agent/etc/agent%.yaml: yaml: line %d+", msg)
    t.write(cfg, good)
    t.write(root .. "/.agent/templates/runbook.lua", "return { api = 1, render = function(doc) error('no layout today') end }\n")
    r, msg, code = agent.new_runbook({ root = root, story = ID })
    assert.are.same({ nil, 3 }, { r, code })
    assert.matches("%.agent/templates/runbook%.lua:1: no layout today", msg)
    assert.is_false(agent.fs.exists(root .. "/" .. RUNBOOK))
  end)

  it("returns the status 3 runbook and the script error of a persona that raises", function()
    local root = repo()
    t.write(root .. "/.agent/personas/broken.lua",
      "return { api = 1, id = 'broken', checklist = { 'x' }, offline = function() error('boom') end }\n")
    local r = assert(agent.new_runbook({ root = root, story = ID }))
    assert.are.equal(3, r.status)
    local broken = by_id(r.findings).broken
    assert.are.same({ "script_error", nil }, { broken.status, broken.verdict })
    assert.matches("%.agent/personas/broken%.lua:1: boom", broken.error)
    assert.matches("broken", r.text)
  end)

  it("raises on misuse: not a table, an unknown option, a wrong type, no story", function()
    assert.has_error(function() agent.new_runbook("INFRA-012") end, "agent.new_runbook: expected a table of options, got string")
    assert.has_error(function() agent.new_runbook({ story = ID, dryrun = true }) end, "agent.new_runbook: unknown option 'dryrun'")
    assert.has_error(function() agent.new_runbook({ story = ID, force = "yes" }) end,
      "agent.new_runbook: option 'force' must be a boolean, got string")
    assert.has_error(function() agent.new_runbook({ root = "/" }) end)
    assert.has_error(function() agent.panel({ story = ID, dry_run = true }) end, "agent.panel: unknown option 'dry_run'")
    assert.has_error(function() agent.check_runbook(nil) end)
  end)
end)

describe("agent.panel", function()
  after_each(t.cleanup)

  it("returns each persona's findings in panel order for a story in any state", function()
    local root = repo()
    local findings, status = assert(agent.panel({ root = root, story = "INFRA-013" }))
    assert.are.equal(0, status)
    local cli = json.decode(t.run({ "panel", "INFRA-013", "--json" }, { cwd = repo() }).stdout)
    assert.are.equal(#cli.personas, #findings)
    for i, f in ipairs(findings) do
      assert.are.same({ cli.personas[i].id, cli.personas[i].verdict }, { f.id, f.verdict })
      assert.are.equal("ok", f.status)
      assert.is_string(f.summary)
      assert.is_table(f.items)
      assert.is_table(f.checklist)
    end
    assert.is_false(agent.fs.exists(root .. "/.agent/cache/runbooks"))
  end)

  it("returns nil, message, status when the story is missing", function()
    local findings, msg, code = agent.panel({ root = repo(), story = "INFRA-404" })
    assert.are.same({ nil, 1 }, { findings, code })
    assert.matches("story 'INFRA%-404' not found", msg)
  end)
end)

describe("agent.check_runbook", function()
  after_each(t.cleanup)

  it("passes a runbook agent wrote, by ID and by path", function()
    local root = repo()
    assert(agent.new_runbook({ root = root, story = ID }))
    local r = assert(agent.check_runbook(ID, { root = root }))
    assert.are.same({ RUNBOOK, ID, "PROPOSED", {} }, { r.path, r.id, r.status, r.problems })
    local by_path = assert(agent.check_runbook(root .. "/" .. RUNBOOK, { root = root }))
    assert.are.same({}, by_path.problems)
  end)

  it("lists each gate problem with its line", function()
    local root = repo()
    local path = t.write(root .. "/broken-runbook.md", table.concat({
      "# INFRA-012: x", "", "Status: PROPOSED", "", "## Goal Description", "", "<placeholder>", "",
      "## Proposed Changes", "", "### src", "", "#### [DELETE] src/orders/nope.py", "",
    }, "\n"))
    local r = assert(agent.check_runbook(path, { root = root }))
    assert.is_true(#r.problems > 0)
    local delete
    for _, p in ipairs(r.problems) do
      assert.is_true(math.type(p.line) == "integer" and p.line >= 1, p.message)
      if p.message:find("src/orders/nope.py", 1, true) then delete = p end
    end
    assert.are.equal(13, delete and delete.line)
  end)

  it("returns nil, message, status for a runbook that does not exist", function()
    local root = repo()
    local r, msg, code = agent.check_runbook("INFRA-012", { root = root })
    assert.are.same({ nil, 1 }, { r, code })
    assert.matches("no runbook for INFRA%-012", msg)
  end)
end)
