-- The real binary: `agent check-runbook` and `agent accept` on a copy of rules-examples/,
-- with runbooks rendered by the built-in template from the example's real files, copies of
-- two runbooks written by another tool (both status forms), and the runbook new-runbook
-- writes offline. Exit statuses: 0 clean/accepted, 4 gate problems, 1 missing/unreadable/
-- wrong state, 2 usage.
require("agent")
local json = require("agent.json")
local loader = require("agent.loader")
local md = require("agent.mdutil")
local t = require("testutil")

local RB = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

-- A runbook for INFRA-012 whose steps quote the example repository's files verbatim.
local function render_runbook()
  local settings = assert(t.read(t.src .. "/rules-examples/src/orders/settings.py"))
  local anchor = assert(settings:match("\n(    max_order_items: int)\n"))
  loader.configure({ limits = { instructions = 1e8, memory = 64 * 1024 * 1024, time_ms = 5000 } })
  loader.set_api({ api_version = 1, md = md })
  local tpl = assert(loader.load_script("templates", "runbook"))
  local ok, text = loader.call(tpl.render, {
    id = "INFRA-012", title = "Idempotent order creation with an Idempotency-Key header", status = "PROPOSED",
    goal = "Make retried order submissions safe.",
    panel = { { id = "architect", name = "@Architect", status = "ok", verdict = "APPROVE", summary = "Fits ADR-002." } },
    changes = { { component = "Orders service", ops = {
      { op = "MODIFY", path = "src/orders/settings.py", description = "Add the rollback switch.",
        blocks = { { search = anchor, replace = anchor .. "\n    idempotency_enabled: bool" } } },
      { op = "MODIFY", path = "src/orders/app.py", description = "Read the Idempotency-Key header in create_order and replay stored responses." },
      { op = "NEW", path = "src/orders/idempotency.py", content = '"""Idempotency keys."""\n\nMAX_KEY_LENGTH = 255\n' },
    } } },
    verification = "- `pytest tests/test_orders.py`", rollback = "Set `ORDERS_IDEMPOTENCY=off`.",
  })
  assert(ok, text)
  return text
end

local function repo_with(runbook_text)
  local root = t.example_repo()
  if runbook_text then t.write(root .. "/" .. RB, runbook_text) end
  return root
end

local function agent(root, args)
  return t.run(args, { cwd = root })
end

local function problem_lines(stderr)
  local out = {}
  for line in stderr:gmatch("[^\n]+") do
    if line:match("^[^:]+:%d+: ") then out[#out + 1] = line end
  end
  return out
end

describe("agent check-runbook", function()
  local text
  setup(function() text = render_runbook() end)
  after_each(t.cleanup)

  it("passes a runbook whose steps match the repository, by ID and by path", function()
    local root = repo_with(text)
    local r = agent(root, { "check-runbook", "INFRA-012" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({}, problem_lines(r.stderr))
    assert.matches("ok %(3 steps checked%)", r.stderr)
    local p = agent(root, { "check-runbook", RB, "--quiet" })
    assert.are.equal(0, p.code, p.stderr)
    assert.are.equal("", p.stderr)
  end)

  it("prints a JSON summary with an empty problems array", function()
    local r = agent(repo_with(text), { "check-runbook", "INFRA-012", "--json" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches('"problems":%[%]', r.stdout)
    local doc = assert(json.decode(r.stdout))
    assert.are.same({ RB, "INFRA-012", "PROPOSED", "line", 3 }, { doc.path, doc.id, doc.status, doc.status_form, doc.steps })
  end)

  it("reports each problem as path:line: message on stderr and exits 4", function()
    local broken = text:gsub("    max_order_items: int\n===", "    max_items: int\n===")
    local root = repo_with(broken)
    local r = agent(root, { "check-runbook", "INFRA-012" })
    assert.are.equal(4, r.code)
    local lines = problem_lines(r.stderr)
    assert.are.equal(1, #lines)
    local n = 0
    for line in (broken .. "\n"):gmatch("(.-)\n") do
      n = n + 1
      if line == "<<<SEARCH" then break end
    end
    assert.are.equal(RB .. ":" .. n .. ": [MODIFY] src/orders/settings.py: SEARCH block not found in the file; closest line is 11", lines[1])
    local j = agent(root, { "check-runbook", "INFRA-012", "--json" })
    assert.are.equal(4, j.code)
    assert.are.equal(n, json.decode(j.stdout).problems[1].line)
    assert.are.same({}, problem_lines(j.stderr))
  end)

  it("exits 1 when the runbook is missing or unreadable, and 2 on a bad argument", function()
    local root = repo_with(nil)
    local r = agent(root, { "check-runbook", "INFRA-012" })
    assert.are.equal(1, r.code)
    assert.matches("no runbook for INFRA%-012 %(looked for %.agent/cache/runbooks/INFRA/INFRA%-012%-runbook%.md; run 'agent new%-runbook INFRA%-012'%)", r.stderr)
    assert.is_true(os.execute("mkdir -p " .. t.q(root .. "/" .. RB)))
    local d = agent(root, { "check-runbook", "INFRA-012" })
    assert.are.equal(1, d.code)
    assert.matches("cannot read runbook", d.stderr)
    assert.are.equal(1, agent(root, { "check-runbook", "nope/x.md" }).code)
    local u = agent(root, { "check-runbook", "INFRA" })
    assert.are.equal(2, u.code)
    assert.matches("neither a story ID", u.stderr)
  end)

  it("finds a runbook in a scope folder other than the ID's prefix", function()
    local root = repo_with(nil)
    t.write(root .. "/.agent/cache/runbooks/MISC/infra-012-runbook.md", text)
    local r = agent(root, { "check-runbook", "infra-012" })
    assert.are.equal(0, r.code, r.stderr)
  end)

  it("checks runbooks written by another tool in both status forms", function()
    local root = repo_with(nil)
    for _, id in ipairs({ "INFRA-005", "INFRA-184" }) do
      t.write(root .. "/.agent/cache/runbooks/INFRA/" .. id .. "-runbook.md", t.read(t.src .. "/tests/fixtures/runbooks/" .. id .. "-runbook.md"))
    end
    local a = agent(root, { "check-runbook", "INFRA-005", "--json" })
    assert.are.equal(4, a.code)
    local da = json.decode(a.stdout)
    assert.are.same({ "ACCEPTED", "line", 1 }, { da.status, da.status_form, da.steps })
    local b = agent(root, { "check-runbook", "INFRA-184" })
    assert.are.equal(4, b.code)
    local all = table.concat(problem_lines(b.stderr), "\n")
    assert.matches("INFRA-184-runbook.md:1: title must read '# <ID>: <Title>'", all, 1, true)
    assert.matches("INFRA-184-runbook.md:226: '>>>' without an open '<<<SEARCH' block", all, 1, true)
    local c = agent(root, { "check-runbook", ".agent/cache/runbooks/INFRA/INFRA-005-runbook.md" })
    assert.matches("INFRA-005-runbook.md:9: unfilled placeholder '{panel_checks}'", c.stderr, 1, true)
    local j = json.decode(agent(root, { "check-runbook", "INFRA-184", "--json" }).stdout)
    assert.are.same({ "ACCEPTED", "heading" }, { j.status, j.status_form })
  end)
end)

describe("agent accept", function()
  local text
  setup(function() text = render_runbook() end)
  after_each(t.cleanup)

  it("flips Status: PROPOSED to ACCEPTED, changing nothing else, then refuses to do it twice", function()
    local root = repo_with(text)
    local r = agent(root, { "accept", "INFRA-012" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(RB .. "\n", r.stdout)
    local after = t.read(root .. "/" .. RB)
    assert.are.equal((text:gsub("\nStatus: PROPOSED\n", "\nStatus: ACCEPTED\n", 1)), after)
    assert.are.equal(0, agent(root, { "check-runbook", "INFRA-012" }).code)
    local again = agent(root, { "accept", "INFRA-012" })
    assert.are.equal(1, again.code)
    assert.matches("already ACCEPTED", again.stderr)
  end)

  it("keeps the ## State form", function()
    local heading = text:gsub("\nStatus: PROPOSED\n", "\n## State\n\nPROPOSED\n", 1)
    local root = repo_with(heading)
    local r = agent(root, { "accept", "INFRA-012", "--json" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "ACCEPTED", "PROPOSED" }, { json.decode(r.stdout).status, json.decode(r.stdout).previous })
    assert.are.equal((heading:gsub("## State\n\nPROPOSED\n", "## State\n\nACCEPTED\n", 1)), t.read(root .. "/" .. RB))
  end)

  it("refuses a runbook whose gates fail, printing the problems and leaving it as it was", function()
    local broken = text:gsub("#### %[NEW%] src/orders/idempotency%.py", "#### [NEW] src/orders/app.py")
    local root = repo_with(broken)
    local r = agent(root, { "accept", "INFRA-012" })
    assert.are.equal(4, r.code)
    assert.matches(RB:gsub("%p", "%%%0") .. ":%d+: %[NEW%] src/orders/app%.py: already exists", r.stderr)
    assert.matches("not accepted: 1 gate problem", r.stderr)
    assert.are.equal(broken, t.read(root .. "/" .. RB))
  end)

  it("refuses other states and missing runbooks with a clear message", function()
    local root = repo_with(text:gsub("Status: PROPOSED", "Status: IMPLEMENTED", 1))
    local r = agent(root, { "accept", "INFRA-012" })
    assert.are.equal(1, r.code)
    assert.matches("status is IMPLEMENTED; only a PROPOSED runbook can be accepted", r.stderr)
    local m = agent(root, { "accept", "INFRA-099" })
    assert.are.equal(1, m.code)
    assert.matches("no runbook for INFRA%-099", m.stderr)
  end)

  it("refuses a runbook a persona BLOCKs (6) or left unreviewed (5), naming them, unless --force", function()
    local blocked = text:gsub("%- %[x%] %*%*@Architect%*%*: APPROVE", "- [ ] **@Architect**: BLOCK\n"
      .. "- [ ] **@Security** (Security \\(CISO\\)): CHANGES requested", 1)
    assert.are_not.equal(text, blocked)
    local root = repo_with(blocked)
    local r = agent(root, { "accept", "INFRA-012", "--json" })
    assert.are.equal(6, r.code, r.stderr)
    assert.are.equal("blocked", json.decode(r.stdout).error.kind)
    assert.matches("not accepted: BLOCK from @Architect %(pass %-%-force", r.stderr)
    assert.are.equal(blocked, t.read(root .. "/" .. RB))
    local unreviewed = blocked:gsub("(%*%*@Security%*%*)[^\n]*", "%1: no usable review: timed out; not approved", 1)
    t.write(root .. "/" .. RB, unreviewed)
    local u = agent(root, { "accept", "INFRA-012" })
    assert.are.equal(5, u.code, u.stderr)
    assert.matches("not accepted: no usable review from @Security; BLOCK from @Architect", u.stderr)
    local f = agent(root, { "accept", "INFRA-012", "--force" })
    assert.are.equal(0, f.code, f.stderr)
    assert.matches("accepted over the panel %(%-%-force%)", f.stderr)
    assert.matches("\nStatus: ACCEPTED\n", t.read(root .. "/" .. RB))
  end)

  it("accepts what new-runbook writes offline, after check-runbook passes it", function()
    local root = repo_with(nil)
    local w = agent(root, { "new-runbook", "INFRA-012" })
    assert.are.equal(0, w.code, w.stderr)
    local c = agent(root, { "check-runbook", "INFRA-012" })
    assert.are.equal(0, c.code, c.stderr)
    local a = agent(root, { "accept", "INFRA-012" })
    assert.are.equal(0, a.code, a.stderr)
    assert.matches("\nStatus: ACCEPTED\n", t.read(root .. "/" .. RB))
  end)
end)
