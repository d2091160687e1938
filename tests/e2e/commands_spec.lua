-- The real binary: the commands around new-runbook (init, new-story, commit-story, list,
-- personas), shell completion, --json on every command, the help of every command and the
-- man page. Each test works on a fresh copy of rules-examples/ or an empty temp directory.
require("agent")
local fs = require("agent.fs")
local json = require("agent.json")
local t = require("testutil")

local STORIES = ".agent/cache/stories"

local repo = t.example_repo

-- Runs the binary away from the user's own scripts (XDG_CONFIG_HOME, AGENT_SCRIPTS).
local function run(args, opts)
  opts = opts or {}
  opts.env = opts.env or {}
  opts.env.XDG_CONFIG_HOME = opts.env.XDG_CONFIG_HOME or "/nonexistent/agent-test-config"
  opts.env.AGENT_SCRIPTS = false
  return t.run(args, opts)
end

local function agent(cwd, args, opts)
  opts = opts or {}
  opts.cwd = cwd
  return run(args, opts)
end

-- The one JSON document on stdout (one line), decoded.
local function doc(r)
  assert.matches("^[^\n]+\n$", r.stdout, "stdout is not one line: " .. r.stdout .. r.stderr)
  return assert(json.decode(r.stdout))
end

local function lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- Every file of the example .agent/ tree, relative to it.
local function example_files()
  return assert(fs.walk(t.src .. "/rules-examples/.agent", { hidden = true }))
end

local function ids_in(dir)
  local ids = {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local id = name:match("^(%a+%-%d+)")
    if id then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return ids
end

local FILLED = {
  ["Problem Statement"] = "Customers retry orders and get charged twice.",
  ["User Story"] = "As a customer I want one order per submission so that I pay once.",
  ["Acceptance Criteria"] = "- [ ] A retried POST returns the first order.",
  ["Test Strategy"] = "Integration test that posts twice with one key.",
  ["Rollback Plan"] = "Turn the ORDERS_IDEMPOTENCY switch off.",
}

-- Replaces a section's body (up to the next '## ') with text.
local function fill(text, title, body)
  local s, e = text:find("\n## " .. title:gsub("%p", "%%%0") .. "\n", 1)
  assert(s, "no section " .. title)
  local next_h = text:find("\n## ", e) or #text + 1
  return text:sub(1, e) .. "\n" .. body .. "\n" .. text:sub(next_h)
end

-- ---- init ----------------------------------------------------------------------------------

describe("agent init", function()
  after_each(t.cleanup)

  it("creates every example file in an empty directory, then keeps them all on a second run", function()
    local dir = t.tmpdir() .. "/fresh"
    local r = run({ "init", dir, "--json" })
    assert.are.equal(0, r.code, r.stderr)
    local d = doc(r)
    local files = example_files()
    assert.are.equal(#files, #d.created)
    assert.are.same({}, d.kept)
    for _, rel in ipairs(files) do
      assert.are.equal(t.read(t.src .. "/rules-examples/.agent/" .. rel), t.read(dir .. "/.agent/" .. rel), rel)
    end
    local again = run({ "init", dir })
    assert.are.equal(0, again.code, again.stderr)
    local kept = lines(again.stdout)
    assert.are.equal(#files, #kept)
    for _, line in ipairs(kept) do assert.matches("^kept    %.agent/.- %(exists; same as the example%)$", line) end
    assert.matches("0 created, " .. #files .. " kept", again.stderr)
  end)

  it("never overwrites a changed file and says it differs", function()
    local dir = t.tmpdir()
    t.write(dir .. "/.agent/etc/agent.yaml", "agent:\n  provider: openai\n")
    local r = run({ "init", "--json" }, { cwd = dir })
    assert.are.equal(0, r.code, r.stderr)
    local d = doc(r)
    assert.are.same({ { path = ".agent/etc/agent.yaml", same = false } }, d.kept)
    assert.are.equal(#example_files() - 1, #d.created)
    assert.are.equal("agent:\n  provider: openai\n", t.read(dir .. "/.agent/etc/agent.yaml"))
    local human = run({ "init" }, { cwd = dir })
    assert.matches("kept    %.agent/etc/agent%.yaml %(exists; differs from the example, left alone%)", human.stdout)
  end)

  it("works from the binary alone, from the copy of the examples built into it", function()
    local bin = t.tmpdir() .. "/agent"
    assert(t.sh("cp " .. t.q(t.bin) .. " " .. t.q(bin)))
    local dir = t.tmpdir()
    local d = doc(run({ "init", dir, "--json" }, { bin = bin }))
    assert.are.equal("builtin", d.source)
    assert.are.equal(#example_files(), #d.created)
    assert.are.equal(t.read(t.src .. "/rules-examples/.agent/rules/000-core.mdc"), t.read(dir .. "/.agent/rules/000-core.mdc"))
  end)

  it("gives a repository the other commands can use at once", function()
    local dir = t.tmpdir()
    assert.are.equal(0, run({ "init", "-q" }, { cwd = dir }).code)
    local r = agent(dir, { "list", "stories" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("INFRA%-012%s+COMMITTED", r.stdout)
  end)
end)

-- ---- new-story -----------------------------------------------------------------------------

describe("agent new-story", function()
  after_each(t.cleanup)

  it("takes the number after the highest of the scope's stories and runbooks, gaps and all", function()
    local root = repo()
    t.write(root .. "/" .. STORIES .. "/INFRA/INFRA-030-old.md", "# INFRA-030: old\n")
    t.write(root .. "/.agent/cache/runbooks/INFRA/INFRA-041-runbook.md", "# INFRA-041: gone story\n")
    t.write(root .. "/.agent/cache/runbooks/MISC/INFRA-007-runbook.md", "# elsewhere\n")
    t.write(root .. "/" .. STORIES .. "/WEB/WEB-9-other-scope.md", "# WEB-9\n")
    local r = agent(root, { "new-story", "infra", "Rate limits per customer" })
    assert.are.equal(0, r.code, r.stderr)
    local path = root .. "/" .. STORIES .. "/INFRA/INFRA-042-rate-limits-per-customer.md"
    assert.are.equal(path, r.stdout:gsub("\n$", ""))
    local text = assert(t.read(path))
    assert.matches("^# INFRA%-042: Rate limits per customer\n", text)
    assert.matches("\n## State\n\nDRAFT\n", text)
    local web = doc(agent(root, { "new-story", "Web", "Dark mode", "--json" }))
    assert.are.same({ "WEB-010", "WEB", "DRAFT" }, { web.id, web.scope, web.state })
    local ops = doc(agent(root, { "new-story", "OPS", "First", "--json" }))
    assert.are.equal("OPS-001", ops.id)
    assert.are.equal(".agent/cache/stories/OPS/OPS-001-first.md", ops.relpath)
  end)

  it("makes the slug from the title: lower case, accents dropped, punctuation joined, bounded", function()
    local root = repo()
    local cases = {
      { "Über café: straße × Łódź!", "OPS-001-uber-cafe-strasse-lodz.md" },
      { "  Fix   the -- thing (again)  ", "OPS-002-fix-the-thing-again.md" },
      { "日本語", "OPS-003.md" },
      { string.rep("word ", 30), "OPS-004-" .. ("word-"):rep(11) .. "word.md" },
    }
    for _, c in ipairs(cases) do
      local d = doc(agent(root, { "new-story", "OPS", c[1], "--json" }))
      assert.are.equal(".agent/cache/stories/OPS/" .. c[2], d.relpath)
      assert.is_true(fs.exists(d.path))
    end
    local list = doc(agent(root, { "list", "stories", "--scope", "ops", "--json" }))
    assert.are.equal("Über café: straße × Łódź!", list[1].title)
    assert.are.equal("Fix   the -- thing (again)", list[2].title)
  end)

  it("refuses a bad scope or title as a usage error and writes nothing", function()
    local root = repo()
    for _, args in ipairs({ { "9X", "t" }, { "IN-FRA", "t" }, { "", "t" }, { ("A"):rep(40), "t" },
                           { "OPS", "" }, { "OPS", "two\nlines" }, { "OPS", ("x"):rep(201) } }) do
      local r = agent(root, { "new-story", args[1], args[2], "--json" })
      assert.are.equal(2, r.code, args[1] .. " " .. args[2])
      assert.are.equal("usage", doc(r).error.kind)
      assert.matches("^agent: new%-story: invalid ", r.stderr)
    end
    assert.is_false(fs.exists(root .. "/" .. STORIES .. "/OPS"))
  end)

  it("gives concurrent runs distinct IDs", function()
    local root = repo()
    local cmd = ("cd %s && for i in 1 2 3 4 5 6; do %s new-story OPS \"story $i\" >/dev/null 2>&1 & done; wait")
      :format(t.q(root), t.q(t.bin))
    assert(t.sh(cmd))
    assert.are.same({ "OPS-001", "OPS-002", "OPS-003", "OPS-004", "OPS-005", "OPS-006" }, ids_in(root .. "/" .. STORIES .. "/OPS"))
  end)

  it("writes the repository's story template, which may build on the built-in with base()", function()
    local root = repo()
    t.write(root .. "/.agent/templates/story.lua", [[
local builtin = base()
return { api = 1, required = { "Problem Statement", "Customer Impact" },
  render = function(s)
    return builtin.render(s) .. "\n## Customer Impact\n\n<!-- who notices -->\n\nTeam: payments\n"
  end }
]])
    local d = doc(agent(root, { "new-story", "PAY", "Refunds", "--json" }))
    assert.are.equal(".agent/templates/story.lua", d.template)
    local text = t.read(d.path)
    assert.matches("\n## State\n\nDRAFT\n", text)
    assert.matches("\n## Customer Impact\n\n<!%-%- who notices %-%->\n\nTeam: payments\n$", text)
  end)

  it("refuses a template that raises or forgets the state, as a script error", function()
    local root = repo()
    t.write(root .. "/.agent/templates/story.lua", "return { api = 1, render = function(s) return '# ' .. s.id .. '\\n' end }\n")
    local r = agent(root, { "new-story", "PAY", "Refunds" })
    assert.are.equal(3, r.code)
    assert.matches("^agent: %.agent/templates/story%.lua: the story it renders has no state line 'DRAFT'", r.stderr)
    t.write(root .. "/.agent/templates/story.lua", "return { api = 1, render = function(s) error('no way') end }\n")
    local r2 = agent(root, { "new-story", "PAY", "Refunds" })
    assert.are.equal(3, r2.code)
    assert.matches("^agent: %.agent/templates/story%.lua:1: no way", r2.stderr)
    assert.are.same({}, ids_in(root .. "/" .. STORIES .. "/PAY"))
  end)
end)

-- ---- commit-story --------------------------------------------------------------------------

describe("agent commit-story", function()
  after_each(t.cleanup)

  local function new_story(root)
    local d = doc(agent(root, { "new-story", "OPS", "Idempotent orders", "--json" }))
    return d.path, d.id
  end

  it("refuses each required section while it holds only the template's text, then commits", function()
    local root = repo()
    local path, id = new_story(root)
    local order = { "Problem Statement", "User Story", "Acceptance Criteria", "Test Strategy", "Rollback Plan" }
    for i = 1, #order do
      local before = t.read(path)
      local r = agent(root, { "commit-story", id })
      assert.are.equal(4, r.code, r.stderr)
      assert.are.equal(before, t.read(path))
      local problems = {}
      for _, line in ipairs(lines(r.stderr)) do
        local title = line:match("^%.agent/cache/stories/OPS/OPS%-001%-idempotent%-orders%.md:%d+: section '(.-)' ")
        if title then problems[#problems + 1] = title end
      end
      assert.are.same({ table.unpack(order, i) }, problems)
      t.write(path, fill(before, order[i], FILLED[order[i]]))
    end
    local r = agent(root, { "commit-story", id:lower() })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(".agent/cache/stories/OPS/OPS-001-idempotent-orders.md\n", r.stdout)
    assert.matches("\n## State\n\nCOMMITTED\n", t.read(path))
    assert.matches("OPS%-001%s+COMMITTED", agent(root, { "list", "stories" }).stdout)
  end)

  it("names a missing section, an empty one and one left as the template wrote it", function()
    local root = repo()
    local path, id = new_story(root)
    local text = t.read(path)
    for _, title in ipairs({ "Problem Statement", "Acceptance Criteria", "Rollback Plan" }) do
      text = fill(text, title, FILLED[title])
    end
    text = text:gsub("\n## Test Strategy\n", "\n## Testing\n")         -- renamed: missing
    text = fill(text, "User Story", "<!-- later -->\n\n")                -- only a comment: empty
    t.write(path, text)
    local d = doc(agent(root, { "commit-story", id, "--json" }))
    assert.are.same({ id = id, path = ".agent/cache/stories/OPS/OPS-001-idempotent-orders.md", previous = "DRAFT",
      state = "DRAFT", state_form = json.null, problems = {
        { line = 11, message = "section 'User Story' is empty" },
        { line = json.null, message = "missing section '## Test Strategy'" },
      } }, d)
  end)

  it("keeps the Status: line form, the rest of the line and CRLF line ends", function()
    local root = repo()
    local body = { "# OPS-005: Field form", "", "Status: **Draft** (since Monday)", "" }
    for _, title in ipairs({ "Problem Statement", "User Story", "Acceptance Criteria", "Test Strategy", "Rollback Plan" }) do
      body[#body + 1] = "## " .. title
      body[#body + 1] = FILLED[title]
    end
    local text = table.concat(body, "\r\n") .. "\r\n"
    local path = t.write(root .. "/" .. STORIES .. "/OPS/OPS-005-field.md", text)
    local d = doc(agent(root, { "commit-story", "OPS-005", "--json" }))
    assert.are.same({ "Draft", "COMMITTED", "field" }, { d.previous, d.state, d.state_form })
    assert.are.equal((text:gsub("%*%*Draft%*%*", "**COMMITTED**")), t.read(path))
  end)

  it("adds '## State' under the title of a story that has none, and mends a corrupted state", function()
    local root = repo()
    local sections = {}
    for _, title in ipairs({ "Problem Statement", "User Story", "Acceptance Criteria", "Test Strategy", "Rollback Plan" }) do
      sections[#sections + 1] = "## " .. title .. "\n\n" .. FILLED[title] .. "\n"
    end
    local rest = table.concat(sections, "\n")
    local none = t.write(root .. "/" .. STORIES .. "/OPS/OPS-006-none.md", "# OPS-006: No state\n\n" .. rest)
    local d = doc(agent(root, { "commit-story", "OPS-006", "--json" }))
    assert.are.same({ json.null, "inserted" }, { d.previous, d.state_form })
    assert.are.equal("# OPS-006: No state\n\n## State\n\nCOMMITTED\n\n" .. rest, t.read(none))
    local odd = t.write(root .. "/" .. STORIES .. "/OPS/OPS-007-odd.md",
      "# OPS-007: Odd\n\n## State\n\nCOMMITTED-021-021-x\n\n" .. rest)
    assert.are.equal(0, agent(root, { "commit-story", "OPS-007" }).code)
    assert.are.equal("# OPS-007: Odd\n\n## State\n\nCOMMITTED\n\n" .. rest, t.read(odd))
  end)

  it("refuses a committed story, a missing one and a hostile ID", function()
    local root = repo()
    local r = agent(root, { "commit-story", "INFRA-012", "--json" })
    assert.are.equal(1, r.code)
    assert.matches("already COMMITTED; nothing to do", doc(r).error.message)
    local missing = agent(root, { "commit-story", "INFRA-99" })
    assert.are.equal(1, missing.code)
    assert.matches("story 'INFRA%-99' not found", missing.stderr)
    assert.are.equal(2, agent(root, { "commit-story", "../../etc/passwd" }).code)
  end)

  it("uses the sections a repository's story template requires", function()
    local root = repo()
    t.write(root .. "/.agent/templates/story.lua",
      "return { api = 1, required = { 'Why' }, render = function(s) return '# ' .. s.id .. ': ' .. s.title .. "
      .. "'\\n\\nState: ' .. s.state .. '\\n\\n## Why\\n\\nTBD\\n' end }\n")
    local d = doc(agent(root, { "new-story", "OPS", "Tiny", "--json" }))
    local r = agent(root, { "commit-story", d.id })
    assert.are.equal(4, r.code)
    assert.matches(":5: section 'Why' still holds the template's placeholder text", r.stderr)
    t.write(d.path, (t.read(d.path):gsub("TBD", "Because.")))
    assert.are.equal(0, agent(root, { "commit-story", d.id }).code)
    assert.matches("\nState: COMMITTED\n", t.read(d.path))
  end)
end)

-- ---- list ----------------------------------------------------------------------------------

describe("agent list", function()
  after_each(t.cleanup)

  -- Each row's cells, cut at the header's column starts.
  local function columns(stdout)
    local rows = lines(stdout)
    local starts = { 1 }
    for s in rows[1]:gmatch("()%s%s+%S") do starts[#starts + 1] = rows[1]:find("%S", s) end
    local out = {}
    for i, row in ipairs(rows) do
      local cells = {}
      for c, s in ipairs(starts) do
        local e = starts[c + 1] and (starts[c + 1] - 1) or #row
        assert.matches("^%S", row:sub(s), "row " .. i .. " is not aligned: " .. row)
        if starts[c + 1] then assert.matches("^%s%s$", row:sub(e - 1, e), "row " .. i .. ": " .. row) end
        cells[c] = row:sub(s, e):match("^(.-)%s*$")
      end
      out[i] = cells
    end
    return out
  end

  it("lists stories in aligned columns, filtered by state and scope", function()
    local root = repo()
    t.write(root .. "/" .. STORIES .. "/WEB/WEB-002-ui.md", "# WEB-002: A longer scope's story\n\nState: DRAFT\n")
    local rows = columns(agent(root, { "list", "stories" }).stdout)
    assert.are.same({
      { "ID", "STATE", "TITLE" },
      { "INFRA-012", "COMMITTED", "Idempotent order creation with an Idempotency-Key header" },
      { "INFRA-013", "DRAFT", "Paginate the order listing" },
      { "INFRA-014", "REVIEW_NEEDED", "Publish order events to the warehouse queue" },
      { "WEB-002", "DRAFT", "A longer scope's story" },
    }, rows)
    local drafts = doc(agent(root, { "list", "stories", "--state", "draft", "--json" }))
    assert.are.same({ "INFRA-013", "WEB-002" }, { drafts[1].id, drafts[2].id })
    assert.are.equal(".agent/cache/stories/WEB/WEB-002-ui.md", drafts[2].path)
    assert.are.equal('[]\n', agent(root, { "list", "stories", "--scope", "none", "--json" }).stdout)
  end)

  it("lists runbooks with their status in either form", function()
    local root = repo()
    assert.are.equal("[]\n", agent(root, { "list", "runbooks", "--json" }).stdout)
    assert.are.equal(0, agent(root, { "new-runbook", "INFRA-012", "-q" }).code)
    t.write(root .. "/.agent/cache/runbooks/INFRA/INFRA-009-runbook.md", "# INFRA-009: Old one\n\n## State\n\nACCEPTED\n")
    local list = doc(agent(root, { "list", "runbooks", "--json" }))
    assert.are.same({ "INFRA-009", "ACCEPTED", "heading", "Old one" }, { list[1].id, list[1].status, list[1].status_form, list[1].title })
    assert.are.same({ "INFRA-012", "PROPOSED", "line" }, { list[2].id, list[2].status, list[2].status_form })
    assert.are.equal(".agent/cache/runbooks/INFRA/INFRA-012-runbook.md", list[2].path)
    local rows = columns(agent(root, { "list", "runbooks", "--state", "proposed" }).stdout)
    assert.are.same({ "ID", "STATUS", "TITLE", "PATH" }, rows[1])
    assert.are.same({ "INFRA-012", "PROPOSED" }, { rows[2][1], rows[2][2] })
    assert.are.equal(2, #rows)
  end)

  it("lists rules with alwaysApply, globs and description from their frontmatter", function()
    local root = repo()
    t.write(root .. "/.agent/rules/900-broken.mdc", "---\nalwaysApply: maybe\n---\nbody\n")
    local list = doc(agent(root, { "list", "rules", "--json" }))
    assert.are.equal(8, #list)
    assert.are.same({ path = ".agent/rules/000-core.mdc", always_apply = true, globs = {},
      description = "How every change in this repository is planned, sized and recorded." }, list[1])
    assert.are.same({ "src/orders/app.py", "src/orders/models.py" }, list[3].globs)
    assert.is_false(list[3].always_apply)
    assert.matches("^frontmatter: line %d+", list[8].error)
    local rows = columns(agent(root, { "list", "rules" }).stdout)
    assert.are.same({ "PATH", "ALWAYS", "GLOBS", "DESCRIPTION" }, rows[1])
    assert.are.same({ ".agent/rules/200-api.mdc", "no", "src/orders/app.py,src/orders/models.py" },
      { rows[4][1], rows[4][2], rows[4][3] })
  end)

  it("lists personas with their origin, inside a repository and outside one", function()
    local root = repo()
    t.write(root .. "/.agent/personas/perf.lua", [[
return { api = 1, id = "perf", name = "@Performance", checklist = { "p99 latency budget is stated" } }
]])
    local list = doc(agent(root, { "list", "personas", "--json" }))
    local by_id = {}
    for _, p in ipairs(list) do by_id[p.id] = p end
    assert.are.same({ "built-in", true }, { by_id.security.origin, by_id.security.roster })
    assert.are.same({ "built-in", false }, { by_id.qa.origin, by_id.qa.roster })
    assert.are.same({ "repo", ".agent/personas/perf.lua", "@Performance" }, { by_id.perf.origin, by_id.perf.file, by_id.perf.name })
    assert.are.same({ "roster", ".agent/etc/agents.yaml" }, { by_id.product.origin, by_id.product.file })
    assert.matches("security%s+@Security%s+built%-in%+roster%s", agent(root, { "list", "personas" }).stdout)
    local outside = doc(run({ "list", "personas", "--json" }, { cwd = t.tmpdir() }))
    assert.are.equal(6, #outside)
    for _, p in ipairs(outside) do assert.are.equal("built-in", p.origin) end
  end)

  it("needs a repository for stories, and refuses an unknown kind", function()
    local r = run({ "list", "stories", "--json" }, { cwd = t.tmpdir() })
    assert.are.equal(1, r.code)
    assert.matches("no %.agent/ directory", doc(r).error.message)
    local u = run({ "list", "tickets" }, { cwd = repo() })
    assert.are.equal(2, u.code)
    assert.matches("unknown kind 'tickets'", u.stderr)
    local f = run({ "list", "rules", "--state", "draft" }, { cwd = repo() })
    assert.are.equal(2, f.code)
    assert.matches("%-%-state filters stories and runbooks, not rules", f.stderr)
  end)
end)

-- ---- personas ------------------------------------------------------------------------------

describe("agent personas show", function()
  after_each(t.cleanup)

  local function show(root, id)
    local r = agent(root, { "personas", "show", id, "--json" })
    assert.are.equal(0, r.code, r.stderr)
    return doc(r)
  end

  it("shows a built-in persona with the roster's extension", function()
    local root = repo()
    local d = show(root, "security")
    assert.are.same({ "@Security", "Security (CISO)", "built-in", ".agent/etc/agents.yaml", true },
      { d.name, d.title, d.origin, d.roster, d.on_panel })
    assert.matches("personas/security%.lua$", d.file)
    assert.are.same({ "guardrails.security", "guardrails.error_handling" }, d.owns)
    assert.are.equal("Are stored client tokens scoped by customer id?", d.checklist[#d.checklist].text)
    assert.are.equal("guardrails.security", d.checklist[1].field)
    local human = agent(root, { "personas", "show", "security" }).stdout
    assert.matches("^@Security  Security %(CISO%)\n", human)
    assert.matches("\n  roster    extended by %.agent/etc/agents%.yaml\n", human)
    assert.matches(("\n  %%s?%d%%. Are stored client tokens scoped by customer id%%?\n"):format(#d.checklist), human)
  end)

  it("shows a repository persona that extends the built-in with base(), and what it shadows", function()
    local root = repo()
    local builtin = show(root, "qa")
    t.write(root .. "/.agent/personas/qa.lua", [[
local p = base()
local copy = {}
for k, v in pairs(p) do copy[k] = v end
copy.checklist = {}
for i, item in ipairs(p.checklist) do copy.checklist[i] = item end
copy.checklist[#copy.checklist + 1] = "Load test at twice the peak traffic"
copy.focus = "load and regression tests"
return copy
]])
    local d = show(root, "qa")
    assert.are.same({ "repo", ".agent/personas/qa.lua", "load and regression tests" }, { d.origin, d.file, d.focus })
    assert.are.equal(#builtin.checklist + 1, #d.checklist)
    assert.are.equal("Load test at twice the peak traffic", d.checklist[#d.checklist].text)
    assert.are.same(builtin.owns, d.owns)
    assert.are.equal(1, #d.shadows)
    assert.are.same({ builtin.file, "built-in" }, { d.shadows[1].file, d.shadows[1].origin })
    -- which agrees, from a subdirectory of the repository
    local w = doc(run({ "which", "persona", "qa", "--json" }, { cwd = root .. "/src" }))
    assert.are.same({ root .. "/.agent/personas/qa.lua", "repo" }, { w.path, w.origin })
  end)

  it("shows a roster persona with its governance checks as the checklist", function()
    local d = show(repo(), "product")
    assert.are.same({ "@Product", "Product Owner", "roster", ".agent/etc/agents.yaml" }, { d.name, d.title, d.origin, d.file })
    assert.are.same({ "Are the acceptance criteria testable as written?", "Is the change backward compatible for existing clients?" },
      { d.checklist[1].text, d.checklist[2].text })
    assert.are.equal(2, #d.checklist)
    assert.are.same({}, d.shadows)
  end)

  it("says when a persona is off the panel, names the known ones for a typo, and reports a broken script", function()
    local root = repo()
    t.write(root .. "/.agent/etc/agent.yaml", "panel:\n  personas: [security, qa]\n")
    assert.is_false(show(root, "docs").on_panel)
    assert.is_true(show(root, "qa").on_panel)
    local r = agent(root, { "personas", "show", "secrity" })
    assert.are.equal(1, r.code)
    assert.matches("no persona 'secrity' %(known: architect, compliance, docs, observability, qa, security, product%)", r.stderr)
    t.write(root .. "/.agent/personas/docs.lua", "return { api = 1, id = 'docs', checklist = {} \n")
    local b = agent(root, { "personas", "show", "docs", "--json" })
    assert.are.equal(3, b.code)
    local d = doc(b)
    assert.are.same({ "script_error", "repo" }, { d.status, d.origin })
    assert.matches("^%.agent/personas/docs%.lua:", d.error)
  end)
end)

-- ---- completion ----------------------------------------------------------------------------

describe("shell completion", function()
  after_each(t.cleanup)

  local function complete(cwd, ...)
    local r = agent(cwd, { "__complete", "--", ... })
    assert.are.equal(0, r.code, r.stderr)
    local words = {}
    for _, line in ipairs(lines(r.stdout)) do words[#words + 1] = line:match("^[^\t]*") end
    return words
  end

  it("completes commands, each command's flags and flag values from the declarations", function()
    local root = repo()
    local help = doc(agent(root, { "help", "--json" }))
    local names = {}
    for i, c in ipairs(help.commands) do names[i] = c.name end
    assert.are.same(names, complete(root, ""))
    assert.are.same({ "new-story", "new-runbook" }, complete(root, "new-"))
    local flags = complete(root, "new-runbook", "--")
    for _, f in ipairs({ "--force", "--dry-run", "--provider", "--json", "--root" }) do assert.truthy(table.concat(flags, " "):find(f, 1, true), f) end
    assert.are.same({ "--state", "--scope", "--scripts" }, complete(root, "list", "--s"))
    assert.are.same({ "offline", "openai", "ollama" }, complete(root, "panel", "--provider", "o"))
    assert.are.same({ "stories", "runbooks", "rules", "personas" }, complete(root, "list", ""))
    assert.are.same({ ":dirs" }, complete(root, "init", ""))
    assert.are.same({ ":dirs" }, complete(root, "panel", "--root", ""))
  end)

  it("completes story IDs, runbook IDs, scopes and personas from the repository", function()
    local root = repo()
    local ids = { "INFRA-012", "INFRA-013", "INFRA-014" }
    assert.are.same(ids, complete(root, "panel", "INFRA-"))
    assert.are.same({}, complete(root, "accept", ""))
    assert.are.equal(0, agent(root, { "new-runbook", "INFRA-012", "-q" }).code)
    assert.are.same({ "INFRA-012" }, complete(root, "check-runbook", ""))
    assert.are.same({ "INFRA-012" }, complete(root, "accept", "I"))
    assert.are.same({ ":files" }, complete(root, "accept", ".agent/"))
    assert.are.same({ ":files" }, complete(root, "check-runbook", "my-run")) -- no ID begins so: a path
    assert.are.same({ ":files" }, complete(t.tmpdir(), "check-runbook", "x"))
    assert.are.same({ "INFRA" }, complete(root, "new-story", ""))
    assert.are.same({ "security" }, complete(root, "personas", "show", "s"))
    assert.are.same({ "product" }, complete(root, "personas", "show", "pro"))
    assert.are.same({ "qa" }, complete(root, "which", "persona", "q"))
    assert.are.same(ids, complete(t.tmpdir(), "panel", "--root", root, "I"))
    assert.are.same({}, complete(t.tmpdir(), "panel", ""))
  end)

  it("offers each command the stories it takes: new-runbook COMMITTED ones, commit-story the rest, panel any", function()
    local root = repo() -- INFRA-012 COMMITTED, INFRA-013 DRAFT, INFRA-014 REVIEW_NEEDED
    assert.are.same({ "INFRA-012" }, complete(root, "new-runbook", ""))
    assert.are.same({ "INFRA-013", "INFRA-014" }, complete(root, "commit-story", "INFRA-"))
    assert.are.same({ "INFRA-012", "INFRA-013", "INFRA-014" }, complete(root, "panel", ""))
    -- committing a story moves it from one list to the other
    assert.are.equal(0, agent(root, { "commit-story", "INFRA-013", "-q" }).code)
    assert.are.same({ "INFRA-012", "INFRA-013" }, complete(root, "new-runbook", "INFRA-"))
    assert.are.same({ "INFRA-014" }, complete(root, "commit-story", ""))
    -- a state line below a long preamble still counts; a story without one is not committed
    local long = "# OPS-001: Long\n\n" .. ("A line of background for the story.\n"):rep(60) .. "\nStatus: COMMITTED\n"
    t.write(root .. "/.agent/cache/stories/OPS/OPS-001-long.md", long)
    t.write(root .. "/.agent/cache/stories/OPS/OPS-002-bare.md", "# OPS-002: Bare\n\nNo state yet.\n")
    assert.are.same({ "OPS-001" }, complete(root, "new-runbook", "OPS"))
    assert.are.same({ "OPS-002" }, complete(root, "commit-story", "OPS"))
    assert.are.same({ "OPS-001", "OPS-002" }, complete(root, "panel", "OPS"))
  end)

  it("completes a flag's value given as --flag=VALUE, in one word or split at '=' as bash splits it", function()
    local root = repo()
    assert.are.same({ "--provider=offline", "--provider=openai", "--provider=ollama" }, complete(root, "panel", "--provider=o"))
    assert.are.same({ "--log-format=json" }, complete(root, "new-runbook", "--log-format=j"))
    assert.are.same({ "offline", "openai", "ollama" }, complete(root, "panel", "--provider", "=", "o"))
    assert.are.same({ "text", "json" }, complete(root, "panel", "--log-format", "="))
    assert.are.same({ ":dirs" }, complete(root, "panel", "--root=.ag"))
    -- a value given either way is not taken for the story ID
    assert.are.same({ "INFRA-012" }, complete(root, "new-runbook", "--provider=openai", "I"))
    assert.are.same({ "INFRA-012" }, complete(root, "new-runbook", "--provider", "=", "openai", "I"))
    assert.are.same({}, complete(root, "panel", "--json="))
  end)

  it("leaves out a flag already on the line, except one that repeats (--scripts)", function()
    local root = repo()
    local all = complete(root, "panel", "--")
    local after = complete(root, "panel", "--json", "-q", "--provider=openai", "--scripts", "x", "--")
    local function has(list, w) return table.concat(list, " "):find(w .. " ", 1, true) ~= nil end
    for _, f in ipairs({ "--json", "--quiet", "--provider" }) do
      assert.is_true(has(all, f), f)
      assert.is_false(has(after, f), f)
    end
    assert.is_true(has(after, "--scripts"))
    assert.are.equal(#all - 3, #after)
  end)

  it("completes list's --state with the states in the repository and --scope with its scopes", function()
    local root = repo()
    assert.are.same({ "COMMITTED", "DRAFT", "REVIEW_NEEDED" }, complete(root, "list", "stories", "--state", ""))
    assert.are.same({ "INFRA" }, complete(root, "list", "runbooks", "--scope", ""))
    assert.are.same({ "--scope=INFRA" }, complete(root, "list", "--scope=I"))
    assert.are.equal(0, agent(root, { "new-runbook", "INFRA-012", "-q" }).code)
    assert.are.same({ "PROPOSED" }, complete(root, "list", "--state", "P"))
    -- every state offered lists something
    for _, state in ipairs(complete(root, "list", "--state", "")) do
      local r = agent(root, { "list", "stories", "--state", state, "--json" })
      local found = #doc(r) + #doc(agent(root, { "list", "runbooks", "--state", state, "--json" }))
      assert.is_true(found > 0, state)
    end
  end)

  it("drives bash through the installed script", function()
    local root = repo()
    local bindir = t.bin:match("^(.*)/[^/]+$")
    local function bash(words, cword, setup)
      local script = ("source %s; %s; COMP_WORDS=(%s); COMP_CWORD=%d; _agent; printf '%%s\\n' \"${COMPREPLY[@]}\"")
        :format(t.q(t.src .. "/completions/agent.bash"), setup or ":", words, cword)
      return lines(t.output(("cd %s && PATH=%s:$PATH bash -c %s"):format(t.q(root), t.q(bindir), t.q(script))))
    end
    assert.are.same({ "INFRA-013", "INFRA-014" }, bash("agent commit-story INFRA-01", 2))
    assert.are.same({ "new-story", "new-runbook" }, bash("agent new-", 1))
    assert.are.same({ ".agent" }, bash("agent init .ag", 2))
    assert.are.same({ "--fresh" }, bash("agent panel INFRA-012 --fr", 3))
    -- --flag=VALUE: readline keeps what precedes the '=' (COMP_WORDBREAKS), so the candidates
    -- are the values; split at '=' (no bash-completion) or kept whole (its _init_completion -n =)
    assert.are.same({ "offline", "openai", "ollama" }, bash("agent panel --provider = o", 4))
    assert.are.same({ "text", "json" }, bash("agent panel --log-format =", 3))
    assert.are.same({ "offline", "openai", "ollama" }, bash("agent panel --provider=o", 2))
    assert.are.same({ ".agent" }, bash("agent panel --root=.ag", 2))
    assert.are.same({ "--root=.agent" }, bash("agent panel --root=.ag", 2, "COMP_WORDBREAKS=' '"))
    assert.are.same({ "--provider=openai" }, bash("agent panel --provider=op", 2, "COMP_WORDBREAKS=' '"))
    assert.are.same({ "INFRA" }, bash("agent list --scope ''", 3))
    t.write(root .. "/my-runbook.md", "# X\n")
    assert.are.same({ "my-runbook.md" }, bash("agent check-runbook my", 2))
  end)

  it("drives zsh through the installed script", function()
    if not t.sh("command -v zsh >/dev/null 2>&1") then
      pending("zsh is not installed")
      return
    end
    local root = repo()
    local bindir = t.bin:match("^(.*)/[^/]+$")
    -- _describe and _files stand in for zsh's completion system: they print what they get
    local script = ([[
_describe() { print -l -- "${(@P)4}" }
_files() { print -- "_files $*" }
compset() { print -- "compset $* (PREFIX=$PREFIX)" }
fpath=(%s $fpath); autoload -Uz _agent
words=(agent commit-story INFRA-01); CURRENT=3; _agent
words=(agent init ''); CURRENT=3; _agent
words=(agent which persona sec); CURRENT=4; _agent
PREFIX=--provider=o; words=(agent panel --provider=o); CURRENT=3; _agent
PREFIX=--root=.ag; words=(agent panel --root=.ag); CURRENT=3; _agent
]]):format(t.q(t.src .. "/completions"))
    local out = lines(t.output(("cd %s && PATH=%s:$PATH zsh -f -c %s"):format(t.q(root), t.q(bindir), t.q(script))))
    assert.are.same({
      "INFRA-013:DRAFT: Paginate the order listing",
      "INFRA-014:REVIEW_NEEDED: Publish order events to the warehouse queue",
      "_files -/",
      "security",
      "compset -P --provider= (PREFIX=--provider=o)", "offline", "openai", "ollama",
      "compset -P --root= (PREFIX=--root=.ag)", "_files -/",
    }, out)
  end)
end)

-- ---- --json everywhere, help and the man page ----------------------------------------------

describe("the machine interface", function()
  after_each(t.cleanup)

  -- One invocation per command (and its failures): {args, exit status, key the document has}.
  local CASES = {
    { { "init", ".", "--json" }, 0, "created" },
    { { "new-story", "OPS", "Thing", "--json" }, 0, "relpath" },
    { { "new-story", "O-P", "Thing", "--json" }, 2, "error" },
    { { "commit-story", "OPS-001", "--json" }, 4, "problems" },
    { { "commit-story", "INFRA-012", "--json" }, 1, "error" },
    { { "new-runbook", "INFRA-012", "--json" }, 0, "verdicts" },
    { { "new-runbook", "INFRA-012", "--json" }, 1, "error" },
    { { "new-runbook", "INFRA-013", "--json" }, 1, "error" },
    { { "panel", "INFRA-013", "--json" }, 0, "verdicts" },
    { { "panel", "INFRA-012", "--provider", "nope", "--json" }, 2, "error" },
    { { "check-runbook", "INFRA-012", "--json" }, 0, "problems" },
    { { "check-runbook", "INFRA-99", "--json" }, 1, "error" },
    { { "accept", "INFRA-012", "--json" }, 0, "previous" },
    { { "accept", "INFRA-012", "--json" }, 1, "error" },
    { { "list", "stories", "--json" }, 0, 1 },
    { { "list", "--json" }, 2, "error" },
    { { "personas", "show", "qa", "--json" }, 0, "checklist" },
    { { "personas", "list", "--json" }, 0, 1 },
    { { "which", "persona", "qa", "--json" }, 0, "shadows" },
    { { "which", "persona", "zz", "--json" }, 1, "found" },
    { { "lua", "--json", "script.lua" }, 0, "result" },
    { { "lua", "--json", "missing.lua" }, 1, "error" }, -- a missing input fails (1), like every command
    { { "help", "--json" }, 0, "commands" },
    { { "help", "frob", "--json" }, 2, "error" },
    { { "version", "--json" }, 0, "lua" },
    { { "version", "--frob", "--json" }, 2, "error" },
    { { "__complete", "--json", "--", "ne" }, 0, "candidates" },
    { { "frob", "--json" }, 2, "error" },
  }

  it("prints exactly one JSON document on stdout for every command, success or failure", function()
    local root = repo()
    t.write(root .. "/script.lua", "print('to stderr'); io.write('also\\n'); return { n = 1 }\n")
    local covered = {}
    for _, c in ipairs(CASES) do
      local r = agent(root, c[1])
      local what = table.concat(c[1], " ")
      assert.are.equal(c[2], r.code, what .. ": " .. r.stderr)
      local d = doc(r)
      assert.is_not_nil(d[c[3]], what .. ": " .. r.stdout)
      if c[3] == "error" then
        assert.are.equal(c[2], d.error.exit)
        assert.matches(d.error.message:gsub("%p", "%%%0"), r.stderr, 1)
      end
      covered[c[1][1]] = true
    end
    assert.are.same({ exit = 0, result = { n = 1 } }, doc(agent(root, { "lua", "--json", "script.lua" })))
    for _, cmd in ipairs(doc(agent(root, { "help", "--json" })).commands) do
      assert.is_true(covered[cmd.name] == true, "no --json case for " .. cmd.name)
    end
  end)

  it("gives every command a summary, a usage line and examples in its help", function()
    local list = doc(run({ "help", "--json" }))
    assert.is_true(#list.commands >= 13)
    local text = run({ "help" }).stdout
    for _, c in ipairs(list.commands) do
      assert.matches("\n  " .. c.name:gsub("%-", "%%-") .. "%s+" .. c.summary:gsub("%p", "%%%0") .. "\n", text)
      local d = doc(run({ "help", c.name, "--json" }))
      assert.are.equal(c.usage, d.usage)
      assert.matches("^agent " .. c.name:gsub("%-", "%%-"), d.usage)
      assert.matches("Examples:\n  agent " .. c.name:gsub("%-", "%%-") .. "[ \n]", d.help, 1, c.name .. " has no examples")
      assert.are.equal(run({ "help", c.name }).stdout, run({ c.name, "--help" }).stdout)
    end
    assert.is_nil(text:find("__complete", 1, true))
  end)

  it("has a man page that renders cleanly and describes every command", function()
    local page = t.src .. "/docs/agent.1"
    local src = assert(t.read(page))
    for _, section in ipairs({ "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "ENVIRONMENT", "FILES",
                               "EXIT STATUS", "EXAMPLES" }) do
      assert.matches("\n%.SH " .. section .. "\n", src)
    end
    if not t.sh("command -v groff >/dev/null 2>&1") then
      pending("groff is not installed: structure checked only")
      return
    end
    local dir = t.tmpdir()
    -- groff is no test subject: keep a sanitizer preload (ASan runs of the suite) away from it
    assert(t.sh(("env -u LD_PRELOAD groff -man -ww -z %s 2>%s"):format(t.q(page), t.q(dir .. "/warnings"))))
    assert.are.equal("", t.read(dir .. "/warnings"))
    local text = t.output(("env -u LD_PRELOAD groff -man -Tascii -P-cbou %s 2>/dev/null"):format(t.q(page)))
    local commands = text:match("\nCOMMANDS\n(.-)\nOPTIONS\n")
    for _, c in ipairs(doc(run({ "help", "--json" })).commands) do
      assert.matches("\n       " .. c.name:gsub("%-", "%%-") .. "[ \n]", "\n" .. commands, 1, c.name .. " is not in the man page")
    end
    for _, flag in ipairs(doc(run({ "help", "version", "--json" })).global_flags) do
      assert.truthy(text:find("--" .. flag.name, 1, true), "--" .. flag.name .. " is not in the man page")
    end
  end)
end)
