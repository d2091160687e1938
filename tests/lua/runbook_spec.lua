-- The runbook reader: both status forms, the step header variants other tools write,
-- SEARCH/REPLACE blocks and their malformations, fences by length, and set_status. Runs on
-- the two real runbooks in tests/fixtures/runbooks (Apache-2.0, see the README there).
require("agent")
local runbook = require("agent.runbook")
local t = require("testutil")

local function fixture(name)
  return assert(t.read(t.src .. "/tests/fixtures/runbooks/" .. name))
end

local function parse(text)
  local p, err = runbook.parse(text)
  assert(p, err)
  return p
end

-- A minimal runbook around a step body.
local function with_steps(body)
  return "# X-1: Test\n\nStatus: PROPOSED\n\n## Proposed Changes\n\n### Service\n\n" .. body
end

local function messages(p)
  local out = {}
  for _, pr in ipairs(p.problems) do out[#out + 1] = pr.line .. ": " .. pr.message end
  return out
end

describe("runbook.parse on real runbooks", function()
  it("reads INFRA-005: the Status line form and a prose [MODIFY] step", function()
    local p = parse(fixture("INFRA-005-runbook.md"))
    assert.are.equal("INFRA-005", p.id)
    assert.are.equal("Global and Path-Based Linting", p.title)
    assert.are.equal("ACCEPTED", p.status)
    assert.are.equal("line", p.status_form)
    assert.are.equal(3, p.status_line)
    assert.are.equal(1, #p.steps)
    local s = p.steps[1]
    assert.are.equal("MODIFY", s.op)
    assert.are.equal(".agent/src/agent/commands/lint.py", s.path)
    assert.are.equal(13, s.line)
    assert.are.equal("Agent Core", s.component)
    assert.are.equal(0, #s.blocks)
    assert.matches("^%- Refactor `get_changed_files`", s.description)
    assert.are.same({}, p.problems)
  end)

  it("reads INFRA-184: the ## State form, Step components and S/R blocks in bare fences", function()
    local p = parse(fixture("INFRA-184-runbook.md"))
    assert.are.equal("INFRA-184", p.id)
    assert.are.equal("ACCEPTED", p.status)
    assert.are.equal("heading", p.status_form)
    assert.are.equal(5, p.status_line)
    local first = p.steps[1]
    assert.are.same({ "MODIFY", "CHANGELOG.md", 11, "Step 1: Architecture & Design Review" },
      { first.op, first.path, first.line, first.component })
    assert.are.equal(1, #first.blocks)
    assert.are.equal("## [Unreleased] (Updated by story)", first.blocks[1].search)
    assert.matches("^## %[Unreleased%] %(Updated by story%)\n\n## %[Unreleased%]\n", first.blocks[1].replace)
    assert.are.equal(15, first.blocks[1].line)
    local post = p.steps[3]
    assert.are.equal(".agent/src/agent/commands/runbook_postprocess.py", post.path)
    assert.are.same({ 51, 77, 101 }, { post.blocks[1].line, post.blocks[2].line, post.blocks[3].line })
    assert.matches("^def _autocorrect_schema_violations", post.blocks[2].search)
  end)

  it("reports INFRA-184's defects with their lines instead of repeating them", function()
    local p = parse(fixture("INFRA-184-runbook.md"))
    local found = table.concat(messages(p), "\n")
    -- the doubled '>>>' after audit.py's block
    assert.matches("226: '>>>' without an open '<<<SEARCH' block", found, 1, true)
    -- the [NEW] test file whose inner ``` fence closed the outer one at line 277
    assert.matches("277: [NEW] .agent/tests/test_runbook_postprocess.py: the file's fence closes at line 277 but the step goes on at line 279", found, 1, true)
    -- what spilled out of it
    assert.matches("301: '<<<SEARCH' outside a code fence", found, 1, true)
    assert.matches("332: SEARCH/REPLACE block is not closed by '>>>'", found, 1, true)
    -- the step the spill swallowed into a fence is not invented
    for _, s in ipairs(p.steps) do assert.is_not.equal(".agent/tests/test_utils_sr_gate.py", s.path) end
  end)
end)

describe("runbook.verdicts", function()
  it("reads each Compliance Checklist line the template writes, and names a line in no known form", function()
    local p = parse(table.concat({
      "# X-1: t", "", "Status: PROPOSED", "", "## Compliance Checklist", "",
      "- [x] **@Architect** (Lead \\(platform\\)): APPROVE",
      "- [ ] **@QA**: CHANGES requested",
      "- [ ] **@Security\\_Team** (CISO): BLOCK",
      "- [ ] **@Docs**: no usable review: timed out; not approved",
      "- [ ] **@Odd**: looks fine to me",
      "", "```", "- [ ] **@InCode**: BLOCK", "```", "",
      "## Panel Review Findings", "", "- [ ] **@Later**: BLOCK", "",
    }, "\n"))
    local got = {}
    for i, v in ipairs(runbook.verdicts(p)) do got[i] = v.name .. "=" .. v.verdict end
    assert.are.same({ "@Architect=APPROVE", "@QA=CHANGES", "@Security_Team=BLOCK", "@Docs=NONE", "@Odd=UNKNOWN" }, got)
    assert.are.same({}, runbook.verdicts(parse("# X-1: t\n\nStatus: PROPOSED\n")))
  end)
end)

describe("runbook.parse status forms", function()
  local cases = {
    { "# A-1: t\n\nStatus: PROPOSED\n\n## Goal Description\n", "PROPOSED", "line", 3 },
    { "# A-1: t\n\n**Status**: ACCEPTED\n", "ACCEPTED", "line", 3 },
    { "# A-1: t\n\n**Status:** proposed  <-- change me\n", "PROPOSED", "line", 3 },
    { "# A-1: t\n\n## State\n\nPROPOSED\n\n## Goal\n", "PROPOSED", "heading", 5 },
    { "# A-1: t\n\n## Status\nACCEPTED\n", "ACCEPTED", "heading", 4 },
    { "# A-1: t\r\n\r\n## State\r\n\r\nPROPOSED\r\n", "PROPOSED", "heading", 5 },
    { "# A-1: t\n\nStatus: COMMITTED-021-021-foo\n", "COMMITTED-021-021-FOO", "line", 3 },
  }
  for i, c in ipairs(cases) do
    it("reads form " .. i, function()
      local p = parse(c[1])
      assert.are.same({ c[2], c[3], c[4] }, { p.status, p.status_form, p.status_line })
    end)
  end

  it("ignores Status lines inside code and inside sections", function()
    local p = parse("# A-1: t\n\n```\nStatus: FAKE\n```\n\n## Goal Description\n\nStatus: LATER\n")
    assert.is_nil(p.status)
  end)

  it("says the same in runbook.summary, which reads no steps", function()
    for _, c in ipairs(cases) do
      local sm = assert(runbook.summary(c[1]))
      assert.are.same({ c[2], c[3], c[4], "A-1", "t" }, { sm.status, sm.status_form, sm.status_line, sm.id, sm.title })
    end
    local real = fixture("INFRA-184-runbook.md")
    local sm, p = assert(runbook.summary(real)), parse(real)
    assert.are.same({ p.id, p.title, p.status, p.status_form, p.status_line }, { sm.id, sm.title, sm.status, sm.status_form, sm.status_line })
    assert.is_nil(sm.steps)
    assert.is_nil(runbook.summary("# A-1: t\n\n```\nStatus: FAKE\n```\n").status)
  end)
end)

describe("runbook.parse steps", function()
  it("accepts the header variants real runbooks use", function()
    local p = parse(with_steps(table.concat({
      "#### [MODIFY] src/a.py", "x", "",
      "#### [MODIFY] `src/b c.py`", "x", "",
      "#### [MODIFY] [app.py](src/app.py)", "x", "",
      "#### [NEW] src/pkg/\\_\\_init\\_\\_.py", "```", "pass", "```", "",
      "#### [new] **docs/x.md** <!-- cross_cutting: true -->", "```", "d", "```", "",
      "#### [DELETE] ./old.py (superseded)", "Rationale: gone", "",
    }, "\n")))
    local got = {}
    for _, s in ipairs(p.steps) do got[#got + 1] = s.op .. " " .. s.path end
    assert.are.same({ "MODIFY src/a.py", "MODIFY src/b c.py", "MODIFY src/app.py", "NEW src/pkg/__init__.py",
      "NEW docs/x.md", "DELETE old.py" }, got)
    assert.are.equal("Service", p.steps[1].component)
  end)

  it("reports an unknown operation and a step without a path", function()
    local p = parse(with_steps("#### [ADD] src/x.py\n\n#### [MODIFY]\n\ntext\n"))
    assert.are.same({ "9: unknown operation [ADD]: steps are [MODIFY], [NEW] or [DELETE]",
      "11: [MODIFY] step has no path" }, messages(p))
  end)

  it("reads several S/R blocks per fence and per step, with their lines, and empty REPLACE", function()
    local p = parse(with_steps(table.concat({
      "#### [MODIFY] src/a.py", "", "Why it changes.", "",
      "```", "<<<SEARCH", "a = 1", "", "b = 2", "===", "a = 10", ">>>", "<<<SEARCH", "dead()", "===", ">>>", "```", "",
      "````python", "<<<SEARCH", "```", "===", "~~~", ">>>", "````", "",
    }, "\n")))
    local s = p.steps[1]
    assert.are.same({}, p.problems)
    assert.are.equal("Why it changes.", s.description)
    assert.are.equal(3, #s.blocks)
    assert.are.same({ search = "a = 1\n\nb = 2", replace = "a = 10", line = 14 }, s.blocks[1])
    assert.are.same({ search = "dead()", replace = "", line = 21 }, s.blocks[2])
    assert.are.same({ search = "```", replace = "~~~", line = 28 }, s.blocks[3])
  end)

  it("keeps an empty SEARCH so the gate can refuse it, never strips it", function()
    local p = parse(with_steps("#### [MODIFY] src/a.py\n\n```\n<<<SEARCH\n\n===\nprint(1)\n>>>\n```\n"))
    assert.are.equal(1, #p.steps[1].blocks)
    assert.are.equal("", p.steps[1].blocks[1].search)
  end)

  it("turns malformed S/R markers into problems with their lines", function()
    local p = parse(with_steps(table.concat({
      "#### [MODIFY] src/a.py", "```",
      "===",                               -- 11: no open block
      "<<<SEARCH", "a", ">>>",             -- 12..14: '>>>' before '==='
      "<<<SEARCH", "b", "===", "c",        -- 15: not closed before the next
      "<<<SEARCH", "d", "===", "e",        -- 19: not closed at all
      "```", "", "<<<SEARCH", "",          -- 24: outside a fence
    }, "\n")))
    assert.are.same({
      "11: '===' without an open '<<<SEARCH' block",
      "14: '>>>' before '===': the block has no REPLACE part",
      "15: SEARCH/REPLACE block is not closed by '>>>' before the next '<<<SEARCH'",
      "19: SEARCH/REPLACE block is not closed by '>>>'",
      "25: '<<<SEARCH' outside a code fence: put each SEARCH/REPLACE block inside a fence",
    }, messages(p))
  end)

  it("keeps a [NEW] file with inner fences and headings as one step when the fence is longer", function()
    local content = "# Doc\n\n```lua\nx()\n```\n\n## Not a heading of the runbook\n\n#### [DELETE] not/a/step\n"
    local p = parse(with_steps("#### [NEW] docs/doc.md\n\nThe guide.\n\n````markdown\n" .. content .. "````\n\n#### [DELETE] old.txt\n\nRationale: unused\n"))
    assert.are.equal(2, #p.steps)
    assert.are.equal(content, p.steps[1].content)
    assert.are.equal(14, p.steps[1].content_line)
    assert.are.equal("The guide.", p.steps[1].description)
    assert.are.equal("old.txt", p.steps[2].path)
    assert.are.equal("unused", p.steps[2].rationale)
  end)

  it("reads a [DELETE] rationale in the bullet and bold forms", function()
    local p = parse(with_steps("#### [DELETE] a.txt\n\n- **Rationale**: replaced by b.txt\n"))
    assert.are.equal("replaced by b.txt", p.steps[1].rationale)
    assert.are.equal(11, p.steps[1].rationale_line)
    local q = parse(with_steps("#### [DELETE] a.txt\n\nNo longer used.\n"))
    assert.is_nil(q.steps[1].rationale)
    assert.are.equal("No longer used.", q.steps[1].description)
  end)

  it("returns the sections with their levels and lines", function()
    local p = parse("# A-1: t\n\n## One\n\ntext\n\n### Two\n\n## Three\n")
    assert.are.same({
      { title = "A-1: t", level = 1, line = 1, end_line = 9 },
      { title = "One", level = 2, line = 3, end_line = 8 },
      { title = "Two", level = 3, line = 7, end_line = 8 },
      { title = "Three", level = 2, line = 9, end_line = 9 },
    }, p.sections)
  end)
end)

describe("runbook.set_status", function()
  it("flips the line form in place, keeping the rest of the line and the file", function()
    local text = fixture("INFRA-005-runbook.md"):gsub("Status: ACCEPTED", "**Status**: PROPOSED  <-- team decides")
    local out = assert(runbook.set_status(text, "ACCEPTED"))
    assert.are.equal(text:gsub("PROPOSED  <%-%-", "ACCEPTED  <--"), out)
    assert.are.equal("ACCEPTED", parse(out).status)
  end)

  it("flips the heading form and keeps it, CRLF endings included", function()
    local text = "# A-1: t\r\n\r\n## State\r\n\r\nPROPOSED\r\n\r\n## Goal Description\r\n\r\nx\r\n"
    local out = assert(runbook.set_status(text, "ACCEPTED"))
    assert.are.equal(text:gsub("PROPOSED", "ACCEPTED"), out)
    local p = parse(out)
    assert.are.same({ "ACCEPTED", "heading" }, { p.status, p.status_form })
  end)

  it("refuses a runbook without a status and a status that is not a word", function()
    local out, err = runbook.set_status("# A-1: t\n\n## Goal\n", "ACCEPTED")
    assert.is_nil(out)
    assert.matches("no 'Status:' line", err)
    assert.has_error(function() runbook.set_status("Status: X\n", "accepted; rm") end)
  end)
end)

-- Random documents from the pieces runbooks are made of: fences of every length and kind,
-- S/R markers, step headings, status lines, CR/CRLF endings, a BOM. Deterministic seed; set
-- AGENT_FUZZ_ROUNDS (and AGENT_FUZZ_SEED) for a longer campaign.
describe("runbook.parse on arbitrary input", function()
  local PIECES = {
    "# X-1: t", "## State", "Status: PROPOSED", "**Status**: ACCEPTED", "## Proposed Changes", "### C",
    "#### [MODIFY] a.py", "#### [NEW] `b c.md`", "#### [DELETE] [x](d/e.txt)", "#### [ADD] f.py", "#### [MODIFY]",
    "```", "````", "~~~", "```python", "    ```", "> ```", "- ```", "<<<SEARCH", "===", ">>>", "Rationale: r",
    "", "", "text", "Title", "---", "{panel_checks}", "\\_\\_init\\_\\_", "#", "####### x", "\0", "\xff\xfe",
  }
  local ENDINGS = { "\n", "\n", "\n", "\r\n", "\r" }

  local function document(rng)
    local parts = { rng(4) == 1 and "\239\187\191" or "" }
    for _ = 1, rng(40) do
      parts[#parts + 1] = PIECES[rng(#PIECES)] .. ENDINGS[rng(#ENDINGS)]
    end
    return table.concat(parts)
  end

  it("never raises, keeps every line in range, and set_status round-trips", function()
    math.randomseed(tonumber(os.getenv("AGENT_FUZZ_SEED") or "") or 20260405)
    local rng = math.random
    local root = t.tmpdir()
    for _ = 1, tonumber(os.getenv("AGENT_FUZZ_ROUNDS") or "") or 1500 do
      local text = document(rng)
      local ok, p = pcall(runbook.parse, text)
      assert(ok, p)
      local summary = runbook.summary(text) -- what parse says of the title and status, no more
      for _, k in ipairs({ "id", "title", "title_line", "status", "status_raw", "status_line", "status_col", "status_form" }) do
        assert(summary[k] == p[k], ("summary.%s differs from parse's for:\n%s"):format(k, text))
      end
      assert(summary.steps == nil and summary.lines == nil, "summary reads no steps")
      local last = #p.lines + 1
      for _, pr in ipairs(p.problems) do assert(pr.line >= 1 and pr.line <= last, text) end
      for _, s in ipairs(p.steps) do
        assert(s.line >= 1 and s.end_line <= last, text)
        for _, b in ipairs(s.blocks or {}) do assert(b.line > s.line and b.line <= s.end_line, text) end
      end
      local gok, problems = pcall(require("agent.gates").check, p, root)
      assert(gok, problems)
      for i = 2, #problems do assert(problems[i - 1].line <= problems[i].line) end
      if p.status then
        local out = assert(runbook.set_status(text, "ACCEPTED"))
        local q = runbook.parse(out)
        assert.are.same({ "ACCEPTED", p.status_form, p.status_line }, { q.status, q.status_form, q.status_line })
        assert.are.equal(#text - #p.status_raw + #"ACCEPTED", #out)
      end
    end
    t.cleanup()
  end)
end)
