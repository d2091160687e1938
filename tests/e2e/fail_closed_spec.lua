-- Where the pipeline could pass what it should not, or say what is not so: defects a reviewer
-- found with the real binary (new-runbook, accept, commit-story, check-runbook, lua, panel,
-- personas) on temp copies of rules-examples/; each case here failed before its fix.
local t = require("testutil")

local repo = t.example_repo

local agent = t.agent

local function story(root, id, text)
  local scope = id:match("^(%a+)")
  t.write(("%s/.agent/cache/stories/%s/%s-x.md"):format(root, scope, id), text)
end

local function runbook_of(root, id)
  return t.read(("%s/.agent/cache/runbooks/%s/%s-runbook.md"):format(root, id:match("^(%a+)"), id))
end

describe("a story with no sections", function()
  after_each(t.cleanup)

  it("gets CHANGES from every persona, a Goal with no empty title, and cannot be accepted", function()
    local root = repo()
    story(root, "INFRA-023", "no heading at all\nStatus: COMMITTED\n")
    local r = agent(root, { "new-runbook", "INFRA-023" })
    assert.is_nil(r.stderr:find(": APPROVE", 1, true), r.stderr)
    assert.matches("@Architect: CHANGES", r.stderr)
    local text = assert(runbook_of(root, "INFRA-023"))
    assert.is_nil(text:find("INFRA-023: .", 1, true))
    assert.is_nil(text:find("()", 1, true))
    assert.matches("The story has no sections", text)
    local check = agent(root, { "check-runbook", "INFRA-023" })
    assert.are_not.equal(0, check.code)
    assert.matches("section 'Rollback Plan' is a placeholder", check.stderr)
    local accept = agent(root, { "accept", "INFRA-023" })
    assert.are_not.equal(0, accept.code)
    assert.matches("Status: PROPOSED", runbook_of(root, "INFRA-023"))
  end)

  it("still lets a story that meets its checklist be approved and accepted (INFRA-012)", function()
    local root = repo()
    local r = agent(root, { "new-runbook", "INFRA-012" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("@Architect: APPROVE", r.stderr)
    assert.is_nil(runbook_of(root, "INFRA-012"):find("TBD:", 1, true))
    assert.are.equal(0, agent(root, { "check-runbook", "INFRA-012" }).code)
  end)
end)

-- A story from the built-in template with `lines` (line number -> text) replaced.
local function fill(root, scope, title, lines)
  local r = agent(root, { "new-story", scope, title })
  assert.are.equal(0, r.code, r.stderr)
  local path = r.stdout:match("^(.-)\n")
  local out, n = {}, 0
  for line in (t.read(path) .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    out[n] = lines[n] or line
  end
  t.write(path, table.concat(out, "\n"))
  return path, path:match("/([%u]+%-%d+)%-[^/]*$")
end

local FILLED = {
  [9] = "Clients retry order creation and get duplicate orders; 14 tickets last month.",
  [22] = "p99 under 200 ms for order creation; duplicates logged.",
  [34] = "Integration tests per acceptance criterion, including the negative one.",
  [38] = "Revert the release; the idempotency table can stay.",
}

-- FILLED's lines with `more` (line number -> text) on top.
local function filled(more)
  local lines = {}
  for k, v in pairs(FILLED) do lines[k] = v end
  for k, v in pairs(more) do lines[k] = v end
  return lines
end

describe("template placeholders", function()
  after_each(t.cleanup)

  it("commit-story refuses every line still holding one, at its own line", function()
    local root = repo()
    local path, id = fill(root, "INFRA", "Half filled", filled({
      [13] = "As a **client developer**, I want **<capability>** so that **<benefit>**.",
      [17] = "- [ ] **AC-1**: Given a key, when the request repeats, then the first reply is returned.",
    }))
    local r = agent(root, { "commit-story", id })
    assert.are.equal(4, r.code, r.stderr)
    local rel = path:sub(#root + 2)
    assert.matches(rel .. ":13: section 'User Story' still holds the template's placeholder '<capability>'", r.stderr, 1, true)
    assert.matches(rel .. ":13: section 'User Story' still holds the template's placeholder '<benefit>'", r.stderr, 1, true)
    assert.matches(rel .. ":18: section 'Acceptance Criteria' still holds the template's placeholder "
      .. "'<what must not happen, and how it is refused>'", r.stderr, 1, true)
    assert.matches("DRAFT", t.read(path))
  end)

  it("are reported by the gates, each one, and never taken as evidence by the judge", function()
    local root = repo()
    local _, id = fill(root, "INFRA", "Half filled", filled({
      [5] = "COMMITTED", -- as if committed by hand, past commit-story
      [13] = "As a **client developer**, I want **retries to be safe** so that **orders are never doubled**.",
      [17] = "- [ ] **AC-1**: Given a key, when the request repeats, then the first reply is returned.",
    }))
    local r = agent(root, { "panel", id, "--json" })
    local doc = assert(require("cjson").decode(r.stdout))
    for _, p in ipairs(doc.personas) do
      for _, c in ipairs(p.checklist or {}) do
        assert.is_nil((c.note or ""):find("<what must not happen", 1, true), p.name .. ": " .. c.item)
      end
    end
    local check_text = "# INFRA-099: X\n\nStatus: PROPOSED\n\n## Goal Description\n\nAs a **<role>**, I want "
      .. "**<capability>** so that `<code>` <br> stays.\n"
    t.write(root .. "/rb.md", check_text)
    local check = agent(root, { "check-runbook", root .. "/rb.md" })
    assert.matches("rb.md:7: unfilled placeholder '<role>'\n[^\n]*rb.md:7: unfilled placeholder '<capability>'\n", check.stderr)
    assert.is_nil(check.stderr:find("'<code>'", 1, true))
    assert.is_nil(check.stderr:find("'<br>'", 1, true))
  end)
end)

describe("the story template's HTML comments", function()
  after_each(t.cleanup)

  it("are never evidence, and a section holding only one is empty", function()
    local root = repo()
    local _, id = fill(root, "INFRA", "Commented", filled({
      [5] = "COMMITTED",
      [13] = "As a **client developer**, I want **retries to be safe** so that **orders are never doubled**.",
      [17] = "- [ ] **AC-1**: Given a key, when the request repeats, then the first reply is returned.",
      [18] = "- [ ] **Negative Test**: a reused key with another body is refused with 422.",
      [34] = "<!-- How each acceptance criterion is tested:\n  unit, integration and negative tests. -->",
      [38] = "<!-- How to undo the change safely: switches, reverts, data repair. -->",
    }))
    local r = agent(root, { "panel", id, "--json" })
    local doc = assert(require("cjson").decode(r.stdout))
    local notes = 0
    for _, p in ipairs(doc.personas) do
      for _, c in ipairs(p.checklist or {}) do
        notes = notes + 1
        assert.is_nil((c.note or ""):find("<!--", 1, true), p.name .. ": " .. c.note)
        assert.is_nil((c.note or ""):find("ADR-NNN", 1, true), p.name .. ": " .. c.note)
        assert.is_nil((c.note or ""):find("negative tests", 1, true), p.name .. ": " .. c.note)
      end
    end
    assert.is_true(notes > 0)
    assert.are.equal(4, agent(root, { "new-runbook", id }).code) -- the TBD: rollback plan is a gate problem
    local text = assert(runbook_of(root, id))
    assert.matches("## Rollback Plan\n\nTBD: the story has no rollback plan", text, 1, true)
    assert.is_nil(text:find("How to undo the change safely", 1, true))
  end)
end)

describe("a team's runbook template", function()
  after_each(t.cleanup)

  local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

  it("that drops the status line fails naming the template, and the good runbook stays", function()
    local root = repo()
    assert.are.equal(0, agent(root, { "new-runbook", "INFRA-012" }).code)
    local good = t.read(root .. "/" .. RUNBOOK)
    t.write(root .. "/.agent/templates/runbook.lua", 'return { api = 1, render = function(doc) return "# hi\\n" end }\n')
    local r = agent(root, { "new-runbook", "INFRA-012", "--force", "--json" })
    assert.are.equal(3, r.code)
    assert.matches(".agent/templates/runbook.lua: render(doc) returned a runbook without a 'Status: PROPOSED' line",
      r.stderr, 1, true)
    assert.is_nil(r.stderr:find("Gate Report", 1, true))
    assert.are.equal(good, t.read(root .. "/" .. RUNBOOK))
  end)

  it("that drops the sections and the Gate Report still gets the report appended", function()
    local root = repo()
    t.write(root .. "/.agent/templates/runbook.lua",
      'return { api = 1, render = function(doc) return "# " .. doc.id .. ": " .. doc.title .. "\\n\\nStatus: PROPOSED\\n" end }\n')
    local r = agent(root, { "new-runbook", "INFRA-012", "--json" })
    assert.are.equal(4, r.code, r.stderr)
    assert.are.equal("PROPOSED", require("cjson").decode(r.stdout).status)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("\n## Gate Report\n\nThese gate problems remain", text, 1, true)
    assert.matches("missing section '## Goal Description'", text, 1, true)
    assert.matches("see the runbook's Gate Report", r.stderr, 1, true)
  end)
end)

describe("story text in braces", function()
  after_each(t.cleanup)

  it("is never taken for a placeholder: a {tenant_id} title and a {order_id} path pass the gates", function()
    local root = repo()
    local src = t.read(root .. "/.agent/cache/stories/INFRA/INFRA-012-idempotent-order-creation.md")
    src = src:gsub("INFRA%-012", "INFRA-030")
    src = src:gsub("^(# INFRA%-030: [^\n]*)", "%1 per {tenant_id}", 1)
    src = src .. "\n- [ ] GET /orders/{order_id} returns the order.\n"
    story(root, "INFRA-030", src)
    local r = agent(root, { "new-runbook", "INFRA-030" })
    assert.are.equal(0, r.code, r.stderr)
    local text = runbook_of(root, "INFRA-030")
    assert.matches("per \\{tenant\\_id\\}", text:match("^[^\n]*"), 1, true)
    assert.are.equal(0, agent(root, { "check-runbook", "INFRA-030" }).code)
  end)
end)

describe("agent lua's exit status", function()
  after_each(t.cleanup)

  it("is the script's integer in 0-255; any other is refused naming it, and a missing file exits 1", function()
    local dir = t.tmpdir()
    for _, case in ipairs({ { "7", 7 }, { "255", 255 }, { "0", 0 }, { "256", 3 }, { "-1", 3 }, { "1 << 40", 3 } }) do
      t.write(dir .. "/s.lua", "return " .. case[1] .. "\n")
      local r = agent(dir, { "lua", "s.lua" })
      assert.are.equal(case[2], r.code, case[1])
      local j = agent(dir, { "lua", "--json", "s.lua" })
      assert.are.equal(case[2], j.code, case[1])
      local doc = require("cjson").decode(j.stdout)
      if case[2] == 3 then
        assert.matches("s.lua returned " .. math.tointeger(load("return " .. case[1])()) .. ", which is not an exit status",
          r.stderr, 1, true)
        assert.are.equal(3, doc.error.exit)
      else
        assert.are.equal(case[2], doc.exit)
      end
    end
    local r = agent(dir, { "lua", "missing.lua" })
    assert.are.equal(1, r.code)
    assert.matches("cannot read 'missing.lua'", r.stderr, 1, true)
    t.write(dir .. "/bad.lua", "return (\n")
    assert.are.equal(3, agent(dir, { "lua", "bad.lua" }).code)
  end)
end)

describe("a non-ASCII story ID", function()
  after_each(t.cleanup)

  it("is refused with its whole character quoted, in a --json document that is valid UTF-8", function()
    local root = repo()
    local r = agent(root, { "panel", "INFRA-ÄÖ1", "--json" })
    assert.are.equal(2, r.code)
    assert.is_truthy(utf8.len(r.stdout), "stdout is not UTF-8")
    assert.is_truthy(utf8.len(r.stderr), "stderr is not UTF-8")
    assert.matches("'Ä' is not allowed", require("cjson").decode(r.stdout).error.message, 1, true)
    local bad = agent(root, { "panel", "INFRA-\195x", "--json" })
    assert.is_truthy(utf8.len(bad.stdout), "stdout is not UTF-8")
    assert.matches("'\\xC3' is not allowed", require("cjson").decode(bad.stdout).error.message, 1, true)
  end)
end)

describe("new-runbook --force over an ACCEPTED runbook", function()
  after_each(t.cleanup)

  it("warns that the approval is gone and keeps the accepted one as .bak", function()
    local root = repo()
    assert.are.equal(0, agent(root, { "new-runbook", "INFRA-012" }).code)
    assert.are.equal(0, agent(root, { "accept", "INFRA-012" }).code)
    local r = agent(root, { "new-runbook", "INFRA-012", "--force" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("INFRA-012-runbook.md was ACCEPTED; it is replaced by a PROPOSED runbook that must be accepted again",
      r.stderr, 1, true)
    assert.matches("Status: PROPOSED", runbook_of(root, "INFRA-012"), 1, true)
    assert.matches("Status: ACCEPTED", t.read(root .. "/.agent/cache/runbooks/INFRA/INFRA-012-runbook.md.bak"), 1, true)
    local again = agent(root, { "new-runbook", "INFRA-012", "--force" }) -- PROPOSED over PROPOSED: nothing to say
    assert.is_nil(again.stderr:find("must be accepted again", 1, true))
  end)
end)

describe("which persona and personas show", function()
  after_each(t.cleanup)

  it("agree on what a persona shadows, built-in or overridden", function()
    local root = repo()
    local cjson = require("cjson")
    local function both()
      local which = cjson.decode(agent(root, { "which", "persona", "architect", "--json" }).stdout)
      local show = cjson.decode(agent(root, { "personas", "show", "architect", "--json" }).stdout)
      return which.shadows, show.shadows
    end
    local w, s = both()
    assert.are.equal(#s, #w)
    t.write(root .. "/.agent/personas/architect.lua", "return agent.persona.base('architect')\n")
    w, s = both()
    assert.are.equal(#s, #w)
    assert.is_true(#w >= 1)
    for i = 1, #w do assert.are.equal(s[i].file, w[i].path:sub(-#s[i].file)) end
    local plain = agent(root, { "which", "persona", "architect" })
    local _, lines = plain.stdout:gsub("\n  shadows ", "")
    assert.are.equal(#w, lines)
  end)
end)

describe("the offline runbook's owned sections", function()
  after_each(t.cleanup)

  it("take a metric the story names as evidence, and keep acronyms in their prose", function()
    local root = repo()
    assert.are.equal(0, agent(root, { "new-runbook", "INFRA-012" }).code)
    local text = runbook_of(root, "INFRA-012")
    local metrics = text:match("### Metrics & Health Checks\n(.-)\n##")
    assert.matches("orders_idempotent_replays_total", metrics, 1, true)
    assert.is_nil(metrics:find("does not specify", 1, true))
    assert.matches("The story does not specify the CI/CD pipeline;", text, 1, true)
    assert.is_nil(text:find("the ci/cd pipeline", 1, true))
  end)
end)
