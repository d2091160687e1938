-- The markdown helpers (agent.md) and the built-in runbook template: every contract heading
-- in order for a full and an empty document, no placeholder, fail-closed checklist, fences
-- that survive nested fences (render, parse back, same content), deterministic bytes.
require("agent")
local loader = require("agent.loader")
local markdown = require("agent.markdown")
local md = require("agent.mdutil")
local runbook = require("agent.runbook")
local gates = require("agent.gates")
local t = require("testutil")

-- The template as new-runbook loads it: through the loader, sandboxed, `agent.md` in its API.
local function template()
  loader.configure({ limits = { instructions = 1e8, memory = 64 * 1024 * 1024, time_ms = 5000 } })
  loader.set_api({ api_version = 1, md = md })
  local tpl, err = loader.load_script("templates", "runbook")
  assert(tpl, err)
  return tpl
end

-- new-runbook hands the template a read-only view of the document: so do the specs.
local function render(doc)
  local ok, out = loader.call(template().render, loader.readonly(doc))
  assert(ok, out)
  return out
end

-- The headings the contract requires, in order, as "##... Title" strings.
local function contract_headings(id, title, with_gate_report)
  local out = { "# " .. id .. ": " .. title }
  for _, s in ipairs(runbook.SECTIONS) do
    out[#out + 1] = "## " .. s.title
    for _, c in ipairs(s.children or {}) do out[#out + 1] = "### " .. c end
  end
  if with_gate_report then out[#out + 1] = "## Gate Report" end
  return out
end

-- The headings of a rendered runbook at levels 1-3, skipping persona and component H3s
-- (which the contract leaves open), as "##... Title" strings.
local function rendered_headings(text)
  local open = { ["Panel Review Findings"] = true, ["Proposed Changes"] = true }
  local out, parent = {}, nil
  for _, h in ipairs(markdown.parse(text).headings) do
    if h.level <= 2 then parent = h.title end
    if h.level <= 2 or (h.level == 3 and not open[parent]) then
      out[#out + 1] = ("#"):rep(h.level) .. " " .. h.title
    end
  end
  return out
end

local NESTED_MD = table.concat({
  "# Idempotency keys",
  "",
  "## Sending a key",
  "",
  "```sh",
  "curl -H 'Idempotency-Key: k1' https://orders.example/orders",
  "```",
  "",
  "````markdown",
  "```python",
  "print('inner')",
  "```",
  "````",
  "",
  "#### [MODIFY] not/a/step.py",
  "<<<SEARCH",
  "x",
  "===",
  "y",
  ">>>",
  "",
}, "\n")

-- A repository with the files the full document's steps touch.
local function repo()
  local root = t.tmpdir()
  t.write(root .. "/src/orders/settings.py", "class Settings:\n    max_order_items: int\n    log_level: str\n")
  t.write(root .. "/src/orders/old.py", "legacy = True\n")
  return root
end

local function full_doc()
  return {
    id = "INFRA-012", title = "Idempotent order creation", status = "PROPOSED", scope = "INFRA",
    goal = "Make retried `POST /orders` requests safe.",
    panel = {
      { id = "architect", name = "@Architect", title = "System Architect", status = "ok", verdict = "APPROVE",
        summary = "Fits ADR-002.", items = {}, checklist = { { item = "Boundaries respected", status = "met", note = "new module" } } },
      { id = "security", name = "@Security", title = "Security (CISO)", status = "ok", verdict = "CHANGES",
        summary = "Keys must be scoped.", items = { { severity = "high", text = "Scope keys by customer | tenant", rule = ".agent/rules/300-security.mdc" } } },
      { id = "qa", name = "@QA", status = "no_review", error = "reply was not JSON twice" },
      { id = "docs", name = "@Docs", status = "script_error", error = "personas/docs.lua:3: boom" },
      { id = "compliance", name = "@Compliance", status = "ok", verdict = "BLOCK", summary = "Retention missing." },
      { id = "sloppy", name = "@Sloppy", verdict = "APPROVE" }, -- no status: not counted
      { id = "mute", name = "@Mute", status = "ok" },           -- no verdict: not counted
    },
    spec = { api = "`POST /orders` accepts `Idempotency-Key`.", data_models = "Table `idempotency_keys`." },
    guardrails = { security = "Keys are never logged." },
    design = { idempotency = "Primary key on `(customer_id, idem_key)`." },
    quality = { testing = "8 threads, one order." },
    lifecycle = { documentation = "CHANGELOG line." },
    changes = {
      { component = "Orders service", ops = {
        { op = "MODIFY", path = "src/orders/settings.py", description = "Add the rollback switch.", blocks = {
          { search = "    max_order_items: int", replace = "    max_order_items: int\n    idempotency_enabled: bool" },
          { search = "    idempotency_enabled: bool\n    log_level: str", replace = "    idempotency_enabled: bool\n    log_level: str  # INFO" },
        } },
        { op = "NEW", path = "docs/idempotency.md", description = "Client documentation.", content = NESTED_MD },
        { op = "DELETE", path = "src/orders/old.py", rationale = "Replaced by idempotency.py." },
      } },
    },
    verification = "- `pytest tests/test_orders.py`",
    rollback = "Set `ORDERS_IDEMPOTENCY=off`.",
    provenance = {
      provider = "offline",
      rules = { { relpath = ".agent/rules/000-core.mdc", why = { always = true } },
                { relpath = ".agent/rules/100-python.mdc", why = { glob = "**/*.py", path = "src/orders/app.py" } } },
      adrs = { { relpath = ".agent/adrs/ADR-002-sqlite-order-storage.md", id = "ADR-002", title = "SQLite", status = "ACCEPTED" } },
      excluded_adrs = { { relpath = ".agent/adrs/ADR-001-postgres-order-storage.md", status = "SUPERSEDED" } },
      cut = { "src/orders/models.py" },
      redactions = { AWS_KEY = 2, JWT = 1 },
    },
    gate_report = { { line = 40, message = "[MODIFY] x: SEARCH block not found" } },
  }
end

describe("agent.md", function()
  it("makes a fence longer than the longest backtick run inside, at least three", function()
    assert.are.equal("```lua\nx = 1\n```\n", md.fence("x = 1\n", "lua"))
    local inner = "a\n````\nb\n`````c\n"
    local f = md.fence(inner)
    assert.are.equal("``````\n" .. inner .. "``````\n", f)
    assert.are.equal(inner, markdown.parse(f).code_blocks[1].text)
  end)

  it("adds the final newline a fenced block always has and drops backticks from info", function()
    local f = md.fence("no newline", "py`thon\n")
    assert.are.equal("```python\nno newline\n```\n", f)
    local block = markdown.parse(f).code_blocks[1]
    assert.are.equal("python", block.info)
    assert.are.equal("no newline\n", block.text)
  end)

  it("escapes inline text so markdown reads it back as the same words", function()
    local raw = "a *b* _c_ `d` [e](f) <g> h|i \\ j"
    local s = md.escape_inline(raw)
    assert.are.equal("a \\*b\\* \\_c\\_ \\`d\\` \\[e\\](f) \\<g\\> h\\|i \\\\ j", s)
    assert.are.equal(raw, markdown.parse("# " .. s).headings[1].title)
  end)

  it("keeps escaped inline text on one line and out of block syntax", function()
    assert.are.equal("one two", md.escape_inline("one\n  two"))
    for _, lead in ipairs({ "# not a heading", "- not a list", "+ no", "= no", "1. not a list", "2) no" }) do
      local doc = markdown.parse("para\n\n" .. md.escape_inline(lead) .. "\n")
      assert.are.equal(0, #doc.headings, lead)
      assert.matches("\\", md.escape_inline(lead), 1, true)
    end
  end)

  it("writes bullets, indenting the later lines of an item", function()
    assert.are.equal("- a\n- b\n  c\n", md.bullets({ "a", "b\nc" }))
    assert.are.equal("", md.bullets({}))
  end)

  it("writes headings and refuses a level outside 1-6", function()
    assert.are.equal("## Tech & Stack\n", md.heading(2, "Tech & Stack"))
    local h = md.heading(3, "Issue #")
    assert.are.equal("Issue #", markdown.parse(h).headings[1].title)
    assert.has_error(function() md.heading(7, "x") end)
    assert.has_error(function() md.heading(0, "x") end)
  end)

  it("writes a pipe table, escaping cells and padding short rows", function()
    assert.are.equal("| k | v |\n| --- | --- |\n| a\\|b |  |\n", md.table({ { "k", "v" }, { "a|b" } }))
    assert.are.equal("", md.table({}))
  end)

  it("nests markdown under a section: deeper headings, no steps, no setext headings, fences closed", function()
    assert.are.equal("### Top\ntext\n### Sub\n#### deep\n", md.nest("# Top\ntext\n## Sub\n#### deep\n", 3))
    assert.are.equal("#### \\[MODIFY] x.py\n```\n# kept\n```\n", md.nest("## [MODIFY] x.py\n```\n# kept\n", 4))
    assert.are.equal("````\n```\n## in\n```\n````\n#### out", md.nest("````\n```\n## in\n```\n````\n## out", 4))
    assert.are.equal("Title\n\n===\ntext\n\n---\n", md.nest("Title\n===\ntext\n---\n", 3))
    assert.are.equal("#hashtag\n    # code\n", md.nest("#hashtag\n    # code\n", 3))
    local doc = markdown.parse("## Section\n\n" .. md.nest("# A\nB\n===\n#### [NEW] x\n~~~~\n", 3))
    local levels = {}
    for _, h in ipairs(doc.headings) do levels[#levels + 1] = h.level .. " " .. h.title end
    assert.are.same({ "2 Section", "3 A", "4 [NEW] x" }, levels)
    assert.are.equal(1, #doc.code_blocks)
  end)

  it("names a file's language by its extension or name, one table for every caller", function()
    assert.are.same({ "python", "markdown", "dockerfile", "makefile", "cpp" },
      { md.language("src/a.PY"), md.language("rules/x.mdc"), md.language("deploy/Dockerfile"),
        md.language("Makefile"), md.language("x.hpp") })
    assert.is_nil(md.language("notes.unknownext"))
    assert.is_nil(md.language("README"))
  end)

  it("writes code spans that hold backticks", function()
    assert.are.equal("`a`", md.code("a"))
    assert.are.equal("``a`b ``", md.code("a`b "))
    assert.are.equal("`` `x ``", md.code("`x"))
  end)
end)

describe("the runbook template", function()
  after_each(t.cleanup)

  it("renders every contract heading in order for a full document", function()
    local out = render(full_doc())
    assert.are.same(contract_headings("INFRA-012", "Idempotent order creation", true), rendered_headings(out))
    local parsed = runbook.parse(out)
    assert.are.equal("PROPOSED", parsed.status)
    assert.are.equal("line", parsed.status_form)
    assert.are.equal("INFRA-012", parsed.id)
  end)

  it("renders every contract heading for an empty document, each section filled in words", function()
    local out = render({ id = "INFRA-012", title = "Empty" })
    assert.are.same(contract_headings("INFRA-012", "Empty", false), rendered_headings(out))
    assert.is_nil(out:find("Gate Report", 1, true))
    -- no section is empty and no placeholder is left: the gates find nothing at all
    assert.are.same({}, gates.check(out, t.tmpdir()))
    assert.is_nil(out:find("TBD", 1, true))
    assert.is_nil(out:find("{", 1, true))
  end)

  it("produces a runbook that passes every gate against the repository", function()
    local out = render(full_doc())
    assert.are.same({}, gates.check(out, repo()))
  end)

  it("never shows a persona without a usable review as approved", function()
    local out = render(full_doc())
    local checked, lines = 0, {}
    for line in out:gmatch("[^\n]+") do
      if line:match("^%- %[x%]") then checked = checked + 1 end
      if line:match("^%- %[") then lines[#lines + 1] = line end
    end
    assert.are.equal(1, checked)
    assert.matches("^%- %[x%] %*%*@Architect%*%*", lines[1])
    assert.matches("^%- %[ %] %*%*@Security%*%*.*CHANGES requested", lines[2])
    assert.matches("^%- %[ %] %*%*@QA%*%*: no usable review: reply was not JSON twice; not approved", lines[3])
    assert.matches("^%- %[ %] %*%*@Docs%*%*: script error: personas/docs%.lua:3: boom; not approved", lines[4])
    assert.matches("BLOCK", lines[5])
    assert.matches("^%- %[ %] %*%*@Sloppy%*%*: no usable review: no reason recorded; not approved", lines[6])
    assert.matches("^%- %[ %] %*%*@Mute%*%*: reply had no verdict; not approved", lines[7])
    assert.matches("Not reviewed %(no usable review", out)
  end)

  it("keeps a model's hostile markdown inside its section: no extra sections, steps or open fences", function()
    local doc = full_doc()
    doc.goal = "## Rogue section\n\n#### [MODIFY] evil.py\n\nSetext\n===\n\n```\nnever closed"
    doc.spec.api = "# Endpoints\n\n- `POST /orders`"
    doc.changes[1].ops[1].description = "## Why\n\nBecause.\n\n#### [DELETE] src/orders/settings.py"
    local out = render(doc)
    local got = rendered_headings(out)
    assert.are.equal("### Rogue section", table.remove(got, 3))
    assert.are.same(contract_headings("INFRA-012", "Idempotent order creation", true), got)
    assert.matches("\n#### Endpoints\n", out)
    local parsed = runbook.parse(out)
    assert.are.equal(3, #parsed.steps)
    assert.are.same({}, gates.check(out, repo()))
  end)

  it("quotes gate problems in the Gate Report without the gates taking them for placeholders", function()
    local doc = full_doc()
    doc.gate_report = { { line = 9, message = "unfilled placeholder '{panel_checks}'" } }
    local out = render(doc)
    assert.matches("line 9: unfilled placeholder '\\{panel\\_checks\\}'", out, 1, true)
    assert.are.same({}, gates.check(out, repo()))
  end)

  it("lists findings with severity and cited rule, and the context used", function()
    local out = render(full_doc())
    assert.matches("**HIGH**: Scope keys by customer \\| tenant (cites `.agent/rules/300-security.mdc`)", out, 1, true)
    assert.matches("`.agent/rules/000-core.mdc`: always applies", out, 1, true)
    assert.matches("glob `**/*.py` matches `src/orders/app.py`", out, 1, true)
    assert.matches("`.agent/adrs/ADR-001-postgres-order-storage.md`: SUPERSEDED", out, 1, true)
    assert.matches("Redactions before anything was sent: AWS\\_KEY 2, JWT 1.", out, 1, true)
    assert.matches("line 40: [MODIFY] x: SEARCH block not found", out:gsub("\\", ""), 1, true)
  end)

  it("keeps a [NEW] markdown file with inner fences and headings as one step", function()
    local out = render(full_doc())
    local parsed = runbook.parse(out)
    assert.are.same({}, parsed.problems)
    local ops = {}
    for _, s in ipairs(parsed.steps) do ops[#ops + 1] = s.op .. " " .. s.path end
    assert.are.same({ "MODIFY src/orders/settings.py", "NEW docs/idempotency.md", "DELETE src/orders/old.py" }, ops)
    local new = parsed.steps[2]
    assert.are.equal(NESTED_MD, new.content)
    assert.are.equal("markdown", new.lang)
    assert.are.equal("Orders service", new.component)
    for _, s in ipairs(parsed.sections) do
      assert.is_not.equal("Sending a key", s.title)
    end
    assert.are.equal("Replaced by idempotency.py.", parsed.steps[3].rationale)
  end)

  it("writes step paths with spaces, backticks or markup characters so they parse back whole", function()
    local odd = { "docs/User Guide.md", "docs/a`b.md", "[draft].md", "*star*.md", "notes/back\\slash.md" }
    local ops = {}
    for i, p in ipairs(odd) do ops[i] = { op = "NEW", path = p, content = "x\n" } end
    local doc = full_doc()
    doc.changes = { { component = "Docs", ops = ops } }
    local parsed = runbook.parse(render(doc))
    local got = {}
    for i, s in ipairs(parsed.steps) do got[i] = s.path end
    assert.are.same(odd, got)
    local problems = gates.check(render(doc), repo()) -- only the backslash, which gates refuse by design
    assert.are.equal(1, #problems)
    assert.matches("notes/back\\slash%.md: path contains '\\'", problems[1].message)
  end)

  it("writes MODIFY blocks that parse back to the same SEARCH and REPLACE", function()
    local doc = full_doc()
    local parsed = runbook.parse(render(doc))
    local blocks = parsed.steps[1].blocks
    assert.are.equal(2, #blocks)
    for i, b in ipairs(doc.changes[1].ops[1].blocks) do
      assert.are.equal(b.search, blocks[i].search)
      assert.are.equal(b.replace, blocks[i].replace)
    end
    assert.are.equal("Add the rollback switch.", parsed.steps[1].description)
  end)

  it("never writes an empty SEARCH, and says so in the step instead", function()
    local doc = full_doc()
    doc.changes[1].ops[1].blocks = { { search = "  \n", replace = "x = 1" } }
    local out = render(doc)
    assert.is_nil(out:find("<<<SEARCH\n===", 1, true))
    assert.is_nil(out:find("<<<SEARCH\n  \n===", 1, true))
    local step = runbook.parse(out).steps[1]
    assert.are.equal(0, #step.blocks)
    assert.matches("1 change block with an empty SEARCH was left out", step.description)
  end)

  it("is deterministic: same document, same bytes, whatever order tables were built in", function()
    local a, b = full_doc(), full_doc()
    b.provenance.redactions = {}
    b.provenance.redactions.JWT = 1
    b.provenance.redactions.AWS_KEY = 2
    assert.are.equal(render(a), render(b))
    assert.are.equal(render(a), render(full_doc()))
  end)

  it("is loaded through agent.template, which names a team template that is no template", function()
    local root = t.tmpdir()
    loader.configure({ repo = root .. "/.agent", limits = { instructions = 1e8, memory = 64 * 1024 * 1024, time_ms = 5000 } })
    loader.set_api({ api_version = 1, md = md })
    local tmpl = require("agent.template")
    local tpl, file, origin = tmpl.load(root, "runbook", "doc")
    assert.are.same({ "function", "builtin" }, { type(tpl.render), origin })
    assert.are.equal("lua/agent/templates/runbook.lua", file) -- the built-in, as the binary carries it
    t.write(root .. "/.agent/templates/runbook.lua", "return 42\n")
    assert.are.same({ nil, ".agent/templates/runbook.lua: a template must return a table with a render(doc) function" },
      { tmpl.load(root, "runbook", "doc") })
    t.write(root .. "/.agent/templates/runbook.lua", "return { api = 2, render = function() return '' end }\n")
    assert.are.same({ nil, ".agent/templates/runbook.lua: written for template API 2, but this agent implements API 1" },
      { tmpl.load(root, "runbook", "doc") })
    t.write(root .. "/.agent/templates/runbook.lua", "error('nope')\n")
    local none, err = tmpl.load(root, "runbook", "doc")
    assert.is_nil(none)
    assert.are.equal(".agent/templates/runbook.lua:1: nope", err)
  end)

  it("can be replaced by a team's .agent/templates/runbook.lua", function()
    local team = t.tmpdir()
    t.write(team .. "/templates/runbook.lua", "local b = base()\nreturn { api = 1, render = function(doc) return 'team\\n' .. b.render(doc) end }\n")
    loader.configure({ repo = team, limits = { instructions = 1e8, memory = 64 * 1024 * 1024, time_ms = 5000 } })
    loader.set_api({ api_version = 1, md = md })
    local tpl = assert(loader.load_script("templates", "runbook"))
    local ok, out = loader.call(tpl.render, { id = "X-1", title = "t" })
    assert.is_true(ok, out)
    assert.matches("^team\n# X%-1: t\n", out)
  end)
end)

-- Random file contents and SEARCH/REPLACE texts, full of backtick runs, tildes, headings and
-- marker-like lines, rendered and parsed back: the same bytes come out. Deterministic seed
-- (AGENT_FUZZ_SEED, AGENT_FUZZ_ROUNDS to vary it).
describe("the runbook template's fences, on arbitrary content", function()
  local PIECES = { "`", "``", "```", "````", "`````````", "~~~", "# h", "## [MODIFY] x", "    ```", "text", " ", "\t",
    "<<<SEARCH", "===x", ">>> y", "***", "- item", "[a](b)", "{{x}}" }

  local function content(rng)
    local lines = {}
    for i = 1, rng(12) do
      local line = {}
      for j = 1, rng(4) do line[j] = PIECES[rng(#PIECES)] end
      lines[i] = table.concat(line, rng(2) == 1 and "" or " ")
    end
    return table.concat(lines, "\n") .. "\n"
  end

  it("round-trips [NEW] content and S/R blocks exactly", function()
    math.randomseed(tonumber(os.getenv("AGENT_FUZZ_SEED") or "") or 97)
    local rng = math.random
    for _ = 1, tonumber(os.getenv("AGENT_FUZZ_ROUNDS") or "") or 300 do
      local file, search, replace = content(rng), content(rng):gsub("\n$", ""), content(rng):gsub("\n$", "")
      local doc = { id = "X-1", title = "t", changes = { { component = "C", ops = {
        { op = "NEW", path = "docs/f.md", content = file },
        { op = "MODIFY", path = "a.txt", blocks = { { search = search, replace = replace } } },
      } } } }
      local parsed = runbook.parse(render(doc))
      assert.are.equal(2, #parsed.steps)
      assert.are.same({}, parsed.problems)
      assert.are.equal(file, parsed.steps[1].content)
      local carried = not (("\n" .. search .. "\n"):find("\n<<<SEARCH\n") or ("\n" .. search .. "\n"):find("\n===\n")
        or ("\n" .. search .. "\n"):find("\n>>>\n") or ("\n" .. replace .. "\n"):find("\n<<<SEARCH\n")
        or ("\n" .. replace .. "\n"):find("\n>>>\n"))
      if not search:find("%S") then
        assert.are.equal(0, #parsed.steps[2].blocks)
        assert.matches("with an empty SEARCH", parsed.steps[2].description, 1, true)
      elseif carried then
        assert.are.same({ search, replace }, { parsed.steps[2].blocks[1].search, parsed.steps[2].blocks[1].replace })
      else
        assert.are.equal(0, #parsed.steps[2].blocks)
        assert.matches("holds a marker line", parsed.steps[2].description, 1, true)
      end
    end
  end)
end)
