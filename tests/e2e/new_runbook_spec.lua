-- agent new-runbook and agent panel with the real binary on temp copies of rules-examples/:
-- the offline run (every section, no placeholder, the same bytes every time), the bad inputs
-- (IDs, states, existing runbooks), --force/.bak, --dry-run, --json, and the scripts a team
-- replaces: personas overriding and extending built-ins, panel.personas, the roster, a
-- broken or endless persona script, the template.
local t = require("testutil")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local HEADINGS = {
  "# INFRA-012: ", "Status: PROPOSED", "## Goal Description", "## Compliance Checklist", "## Panel Review Findings",
  "## Component Specification & Interface", "### API Definition", "### Data Models", "### Dependency Injection",
  "### State Management", "## Implementation Guardrails", "### Tech Stack Standards", "### Error Handling Strategy",
  "### Security Requirements", "## Logic & Design Patterns", "### Architectural Pattern", "### Concurrency & Scaling",
  "### Idempotency", "## Quality & Observability", "### Testing Requirements", "### Logging Schema",
  "### Metrics & Health Checks", "## Deployment & Lifecycle", "### CI/CD Pipeline", "### Infrastructure as Code",
  "### Documentation", "## Proposed Changes", "## Verification Plan", "## Rollback Plan", "## Context Used",
}

local repo = t.example_repo

local agent = t.agent

-- Replaces (or appends to) the repo's agent.yaml.
local function config(root, extra)
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\n" .. (extra or ""))
end

local function checklist_names(text)
  local block = text:match("## Compliance Checklist\n\n(.-)\n## ")
  local names = {}
  for name in block:gmatch("%*%*(@[%w]+)%*%*") do names[#names + 1] = name end
  return names
end

describe("agent new-runbook (offline)", function()
  after_each(t.cleanup)

  it("writes a runbook with every section in order and no placeholder, and prints its path", function()
    local root = repo()
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(0, r.code, r.stderr)
    local path = root .. "/" .. RUNBOOK
    assert.are.equal("/", r.stdout:sub(1, 1))
    assert.are.equal("/" .. RUNBOOK .. "\n", r.stdout:sub(-#RUNBOOK - 2))
    local text = assert(t.read(path))
    assert.are.equal(text, t.read(r.stdout:sub(1, -2)))
    local pos = 1
    for _, h in ipairs(HEADINGS) do
      local at = text:find(h, pos, true)
      assert.is_truthy(at, "missing or out of order: " .. h)
      pos = at + #h
    end
    assert.is_nil(text:find("## Gate Report", 1, true))
    for _, bad in ipairs({ "{panel_checks}", "{{", "<STORY-ID>", "<Title>", "\nTBD\n", "TODO" }) do
      assert.is_nil(text:find(bad, 1, true), bad)
    end
    assert.matches("#### %[MODIFY%] src/orders/app%.py", text)
    assert.matches("#### %[NEW%] src/orders/idempotency%.py", text)
    assert.is_nil(text:find("<<<SEARCH", 1, true)) -- offline never invents a SEARCH
    local check = agent(root, { "check-runbook", ID })
    assert.are.equal(0, check.code, check.stderr)
    assert.matches("@Architect: APPROVE", r.stderr)
    assert.matches("usage:\n", r.stderr)
  end)

  it("is byte-identical across runs and across checkouts", function()
    local a, b = repo(), repo()
    assert.are.equal(0, agent(a, { "new-runbook", ID }).code)
    local first = t.read(a .. "/" .. RUNBOOK)
    assert.are.equal(0, agent(a, { "new-runbook", ID, "--force" }).code)
    assert.are.equal(first, t.read(a .. "/" .. RUNBOOK))
    assert.are.equal(0, agent(b, { "new-runbook", ID }).code)
    assert.are.equal(first, t.read(b .. "/" .. RUNBOOK))
  end)

  it("leaves an existing runbook alone without --force, and keeps it as .bak with --force", function()
    local root = repo()
    local path = root .. "/" .. RUNBOOK
    t.write(path, "# INFRA-012: hand-written\n\nStatus: ACCEPTED\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(1, r.code)
    assert.are.equal("", r.stdout)
    assert.matches("INFRA%-012%-runbook%.md already exists; it was left untouched %(pass %-%-force", r.stderr)
    assert.are.equal("# INFRA-012: hand-written\n\nStatus: ACCEPTED\n", t.read(path))
    local f = agent(root, { "new-runbook", ID, "--force" })
    assert.are.equal(0, f.code, f.stderr)
    assert.are.equal("# INFRA-012: hand-written\n\nStatus: ACCEPTED\n", t.read(path .. ".bak"))
    assert.matches("^# INFRA%-012: Idempotent order creation", t.read(path))
  end)

  it("refuses a story that is not COMMITTED, naming its state", function()
    local root = repo()
    local r = agent(root, { "new-runbook", "INFRA-013" })
    assert.are.equal(1, r.code)
    assert.matches("DRAFT", r.stderr)
    assert.matches("COMMITTED", r.stderr)
    assert.is_nil(t.read(root .. "/.agent/cache/runbooks/INFRA/INFRA-013-runbook.md"))
  end)

  it("refuses a hostile ID as a usage error and names the closest IDs of a missing story", function()
    local root = repo()
    local bad = agent(root, { "new-runbook", "../../etc/passwd" })
    assert.are.equal(2, bad.code)
    assert.matches("invalid story ID", bad.stderr)
    local missing = agent(root, { "new-runbook", "INFRA-12" })
    assert.are.equal(1, missing.code)
    assert.matches("INFRA%-012", missing.stderr)
    local usage = agent(root, { "new-runbook" })
    assert.are.equal(2, usage.code)
    local flag = agent(root, { "new-runbook", ID, "--jobs", "0" })
    assert.are.equal(2, flag.code)
    assert.matches("%-%-jobs must be a positive integer", flag.stderr)
  end)

  it("prints the runbook with --dry-run and writes nothing", function()
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--dry-run" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("^# INFRA%-012: ", r.stdout)
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
    assert.are.equal(0, agent(root, { "new-runbook", ID }).code)
    assert.are.equal(r.stdout, t.read(root .. "/" .. RUNBOOK))
  end)

  it("passes --budget to the context and names what it cut", function()
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--dry-run", "--budget", "1500" })
    assert.are.equal(0, r.code, r.stderr)
    local cut = r.stdout:match("Cut to fit the token budget:\n\n(.-)\n\n")
    assert.is_string(cut, "nothing was cut at 1500 tokens")
    assert.matches("repository tree", cut)
    local full = agent(root, { "new-runbook", ID, "--dry-run" })
    assert.matches("Cut to fit the token budget: nothing%.", full.stdout)
  end)

  it("summarises the run as one JSON document with --json", function()
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--json" })
    assert.are.equal(0, r.code, r.stderr)
    local doc = require("cjson").decode(r.stdout)
    assert.matches("/%.agent/cache/runbooks/INFRA/INFRA%-012%-runbook%.md$", doc.path)
    assert.are.equal(RUNBOOK, doc.relpath)
    assert.are.equal(ID, doc.story.id)
    assert.are.equal("PROPOSED", doc.status)
    for _, id in ipairs({ "architect", "security", "qa", "docs", "compliance", "observability", "product" }) do
      assert.is_truthy(({ APPROVE = 1, CHANGES = 1, BLOCK = 1 })[doc.verdicts[id]], id)
      assert.is_number(doc.timings[id])
    end
    assert.are.same({ input = 0, output = 0 }, doc.tokens.total)
    assert.are.same({}, doc.gate_problems)
    assert.are.equal(0, doc.exit)
  end)

  it("lets the repo's personas replace, extend and add reviewers", function()
    local root = repo()
    t.write(root .. "/.agent/personas/qa.lua", [[
local qa = base()
local p = {}
for k, v in pairs(qa) do p[k] = v end
p.checklist = {}
for i, item in ipairs(qa.checklist) do p.checklist[i] = item end
p.checklist[#p.checklist + 1] = { text = "Mutation testing score reported (team rule)", evidence = { "mutation" } }
return p
]])
    t.write(root .. "/.agent/personas/dba.lua", [[
return { api = 1, id = "dba", name = "@DBA", title = "Database Administrator",
  checklist = { { text = "Schema changes are additive", evidence = { "additive" } } } }
]])
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(0, r.code, r.stderr)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("missing: Mutation testing score reported %(team rule%)", text)
    assert.matches("Testing requirements: a unit%-test coverage threshold", text) -- the built-in's items stay
    assert.matches("%*%*@DBA%*%* %(Database Administrator%): APPROVE", text)
    assert.matches("met: Schema changes are additive", text)
  end)

  it("lets panel.personas choose and order the panel", function()
    local root = repo()
    config(root, "panel:\n  personas: [security, qa, product]\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "@Security", "@QA", "@Product" }, checklist_names(t.read(root .. "/" .. RUNBOOK)))
  end)

  it("turns the roster into personas: extending built-ins and adding its own roles", function()
    local root = repo()
    assert.are.equal(0, agent(root, { "new-runbook", ID }).code)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.are.same({ "@Architect", "@Compliance", "@Docs", "@Observability", "@QA", "@Security", "@Product" }, checklist_names(text))
    assert.matches("%*%*@Product%*%* %(Product Owner%)", text)
    assert.matches("Are stored client tokens scoped by customer id%?", text) -- the roster's check joined @Security
  end)

  it("reports a broken or endless persona as file:line, reviews with the others, and exits 3", function()
    local root = repo()
    config(root, "scripts:\n  limits:\n    instructions: 20000000\n    time_ms: 60000\n")
    t.write(root .. "/.agent/personas/spin.lua", "return {\n  api = 1, id = 'spin', checklist = { 'x' },\n  offline = function()\n    while true do end\n  end,\n}\n")
    t.write(root .. "/.agent/personas/typo.lua", "return {\n  api = 1, id = 'typo',\n  checklist = { undefined_name },\n}\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("@Spin: SCRIPT ERROR: %.agent/personas/spin%.lua:4: [^\n]*budget exceeded", r.stderr)
    assert.matches("@Typo: SCRIPT ERROR: %.agent/personas/typo%.lua:3: undefined global 'undefined_name'", r.stderr)
    assert.matches("@Security: APPROVE", r.stderr)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("%[ %] %*%*@Spin%*%* %(Spin%): script error: ", text)
    assert.matches("%[x%] %*%*@Security%*%*", text)
  end)

  it("exits 6 when a persona BLOCKs, still writing the runbook", function()
    local root = repo()
    t.write(root .. "/.agent/personas/gate.lua", "return { api = 1, id = 'gate', checklist = { 'x' },\n"
      .. "  offline = function() return { verdict = 'BLOCK', summary = 'Unsafe.', items = { { severity = 'blocker', text = 'No.' } },\n"
      .. "    checklist = { { item = 'x', status = 'missing' } } } end,\n}\n")
    local r = agent(root, { "new-runbook", ID, "--json" })
    assert.are.equal(6, r.code, r.stderr)
    assert.are.equal(6, require("cjson").decode(r.stdout).exit)
    assert.matches("blocked: @Gate BLOCKs this change", r.stderr)
    assert.matches("%[ %] %*%*@Gate%*%* %(Gate%): BLOCK", t.read(root .. "/" .. RUNBOOK))
    assert.are.equal(6, agent(root, { "panel", ID }).code)
  end)

  it("says why it cannot keep the old runbook as .bak, and leaves it as it was", function()
    local root = repo()
    t.write(root .. "/" .. RUNBOOK, "# INFRA-012: old\n\nStatus: PROPOSED\n")
    assert(t.sh("mkdir " .. t.q(root .. "/" .. RUNBOOK .. ".bak")))
    local r = agent(root, { "new-runbook", ID, "--force" })
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("cannot keep the old runbook as %.bak: [^\n]*INFRA%-012%-runbook%.md%.bak", r.stderr)
    assert.is_nil(r.stderr:find("as .bak: nil", 1, true))
    assert.are.equal("# INFRA-012: old\n\nStatus: PROPOSED\n", t.read(root .. "/" .. RUNBOOK))
  end)

  it("refuses a persona written for another API version, saying which", function()
    local root = repo()
    t.write(root .. "/.agent/personas/future.lua", "return { api = 2, id = 'future', checklist = { 'x' } }\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(3, r.code)
    assert.matches("%.agent/personas/future%.lua: written for persona API 2, but this agent implements persona API 1", r.stderr)
  end)

  it("renders with the repo's template when it has one", function()
    local root = repo()
    t.write(root .. "/.agent/templates/runbook.lua", [[
local builtin = base()
return { api = 1, render = function(doc)
  return builtin.render(doc) .. "\nReviewed for the orders team.\n"
end }
]])
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("\nReviewed for the orders team%.\n$", t.read(root .. "/" .. RUNBOOK))
  end)
end)

describe("agent panel (offline)", function()
  after_each(t.cleanup)

  it("prints byte-identical --json documents for identical runs (timings aside)", function()
    local root = repo()
    local function doc(args)
      local r = agent(root, args)
      assert.are.equal(0, r.code, r.stderr)
      return (r.stdout:gsub('"timings":%b{}', ""))
    end
    for _, args in ipairs({ { "panel", ID, "--json" }, { "new-runbook", ID, "--json", "--dry-run" } }) do
      local first = doc(args)
      assert.matches('^{"exit":0,', first) -- keys sorted
      assert.are.equal(first, doc(args))
    end
  end)

  it("prints each persona's findings and writes nothing", function()
    local root = repo()
    local r = agent(root, { "panel", "INFRA-013" }) -- any state may be reviewed
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("@Security %(Security %(CISO%)%): ", r.stdout)
    assert.matches("\n    met      ", r.stdout)
    assert.is_nil(t.read(root .. "/.agent/cache/runbooks/INFRA/INFRA-013-runbook.md"))
    local j = agent(root, { "panel", ID, "--json" })
    local doc = require("cjson").decode(j.stdout)
    assert.are.equal(7, #doc.personas)
    assert.is_string(doc.personas[1].sections["spec.api"])
  end)
end)
