-- The six built-in personas and the persona API: every runbook field of sections 5-9 of the
-- workflow is owned by exactly one built-in and reaches the rendered runbook; prompts ask for
-- the exact schema; replies are validated and normalised; the offline judge quotes evidence;
-- and the examples of docs/personas.md load and run as written.
require("agent")
local t = require("testutil")
local loader = require("agent.loader")
local panel = require("agent.panel")
local synthesis = require("agent.synthesis")
local api = require("agent.script_api")
local judge = require("agent.judge")

local BUILTINS = { "architect", "compliance", "docs", "observability", "qa", "security" }

local real_context = require("agent.context")

-- context with render() stubbed; redact() stays the real one (the persona scripts' view).
local function stub_context()
  return { render = function(_, o) return "CONTEXT FOR " .. tostring(o.role), { tokens = 1, cut = {}, redactions = {} } end,
           redact = real_context.redact }
end

local function story(lines, named)
  local text = table.concat(lines, "\n")
  local sections = {}
  local current
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local h = line:match("^## (.+)$")
    if h then current = h sections[h] = "" elseif current then sections[current] = sections[current] .. line .. "\n" end
  end
  return { id = "INFRA-012", title = "Rate limiting", scope = "INFRA", relpath = ".agent/cache/stories/INFRA/INFRA-012.md",
           text = text, sections = sections, named_files = named or {} }
end

local EMPTY_STORY = story({ "# INFRA-012: Rate limiting", "", "## State", "", "COMMITTED", "", "## Problem Statement", "", "Something." })

local function builtin_members()
  loader.configure({})
  api.install(nil)
  local members = assert(panel.load(nil, { panel = { personas = BUILTINS } }))
  local by = {}
  for _, m in ipairs(members) do
    assert.are.equal("ok", m.status, m.error)
    by[m.id] = m
  end
  return members, by
end

local function review_offline(members, s, gathered)
  return panel.review(members, { story = s, gathered = gathered or {}, config = { panel = {} }, provider = "offline" })
end

describe("built-in personas", function()
  local saved
  before_each(function()
    saved = package.loaded["agent.context"]
    package.loaded["agent.context"] = stub_context()
  end)
  after_each(function()
    package.loaded["agent.context"] = saved
    t.cleanup()
  end)

  it("each declares API 1 and a prompt with its lens; review and offline are the panel's defaults", function()
    local members = builtin_members()
    assert.are.equal(6, #members)
    for _, m in ipairs(members) do
      local p = m.persona
      assert.are.equal(1, p.api)
      assert.are.equal(m.id, p.id)
      assert.matches("^@", p.name)
      assert.is_function(p.prompt, m.id)
      assert.is_nil(p.review, m.id)
      assert.is_nil(p.offline, m.id)
      assert.is_true(#p.checklist >= 3, m.id)
    end
  end)

  it("own every runbook field of sections 5-9 exactly once, each through a checklist item", function()
    local _, by = builtin_members()
    local owner = {}
    for _, id in ipairs(BUILTINS) do
      local p = by[id].persona
      for _, field in ipairs(p.owns) do
        assert.is_nil(owner[field], ("%s is owned by both %s and %s"):format(field, tostring(owner[field]), id))
        owner[field] = id
        local covered = false
        for _, raw in ipairs(p.checklist) do
          if judge.item(raw).field == field then covered = true end
        end
        assert.is_true(covered, id .. " owns " .. field .. " but no checklist item fills it")
      end
      for _, raw in ipairs(p.checklist) do
        local item = judge.item(raw)
        if item.field then
          local owned = false
          for _, f in ipairs(p.owns) do if f == item.field then owned = true end end
          assert.is_true(owned, id .. ": item for " .. item.field .. " which it does not own")
        end
      end
    end
    local count = 0
    for _, f in ipairs(synthesis.FIELDS) do
      assert.is_string(owner[f.key], f.key .. " has no owner")
      count = count + 1
    end
    local owned = 0
    for _ in pairs(owner) do owned = owned + 1 end
    assert.are.equal(16, count)
    assert.are.equal(count, owned)
  end)

  it("carry every owned field into the rendered runbook under its own heading", function()
    local members, by = builtin_members()
    local results = review_offline(members, EMPTY_STORY)
    local doc = synthesis.offline({ story = EMPTY_STORY, gathered = {}, results = results, provider = "offline" })
    local tpl = assert(loader.load_script("templates", "runbook"))
    local text = tpl.render(doc)
    for _, f in ipairs(synthesis.FIELDS) do
      local start = assert(text:find("\n### " .. f.title .. "\n", 1, true), f.title)
      local stop = text:find("\n##", start + 5, true)
      local body = text:sub(start, stop)
      local owner
      for _, id in ipairs(BUILTINS) do
        for _, k in ipairs(by[id].persona.owns) do if k == f.key then owner = by[id].persona end end
      end
      local guidance
      for _, raw in ipairs(owner.checklist) do
        local item = judge.item(raw)
        if item.field == f.key then guidance = item.guidance break end
      end
      assert.is_truthy(body:find(guidance:sub(1, 40), 1, true), f.key .. " did not reach '### " .. f.title .. "'")
    end
  end)

  it("judge a silent story as CHANGES with a major finding per missing item", function()
    local members = builtin_members()
    for _, r in ipairs(review_offline(members, EMPTY_STORY)) do
      assert.are.equal("CHANGES", r.verdict, r.id)
      local missing, majors = 0, 0
      for _, c in ipairs(r.checklist) do if c.status == "missing" then missing = missing + 1 end end
      for _, i in ipairs(r.items) do if i.severity == "major" then majors = majors + 1 end end
      assert.is_true(missing > 0)
      -- and one more: nothing in the story meets any item (the documents alone never approve)
      assert.are.equal(missing + 1, majors, r.id)
    end
  end)

  it("never take a redaction marker for evidence: a story that leaked a token has not addressed secrets", function()
    local _, by = builtin_members()
    local s = story({
      "# INFRA-012: Rate limiting", "", "## State", "", "COMMITTED", "",
      "## Non-Functional Requirements", "",
      "- Deploy with the token [REDACTED:GITHUB_TOKEN] from the CI settings.",
    })
    local sec = review_offline({ by.security }, s)[1]
    local item
    for _, c in ipairs(sec.checklist) do
      if c.item:find("No secrets or personal data", 1, true) then item = c end
    end
    assert.is_table(item)
    assert.are_not.equal("met", item.status, item.note)
    assert.is_nil((item.note or ""):find("REDACTED", 1, true))
  end)

  it("quote the story line that meets an item and the rule that covers what the story does not", function()
    local _, by = builtin_members()
    local s = story({
      "# INFRA-012: Rate limiting", "", "## State", "", "COMMITTED", "",
      "## Non-Functional Requirements", "",
      "- Security: callers authenticate with OAuth2 bearer tokens; the limiter key is the client id.",
      "- Observability: expose a /metrics counter of rejected requests.",
    })
    local gathered = { rules = { { relpath = ".agent/rules/300-logging.mdc",
                                   body = "All services write structured JSON logs with correlation_id.\n" } } }
    local results = review_offline({ by.security, by.observability }, s, gathered)
    local sec, obs = results[1], results[2]
    assert.are.equal("met", sec.checklist[1].status)
    assert.are.equal('story (Non-Functional Requirements): "Security: callers authenticate with OAuth2 bearer tokens; the limiter key is the client id."',
      sec.checklist[1].note)
    assert.matches("OAuth2 bearer tokens", sec.sections["guardrails.security"])
    local logging = obs.checklist[1]
    assert.are.equal("partial", logging.status)
    assert.matches('^not in the story; %.agent/rules/300%-logging%.mdc says: "All services write structured JSON logs', logging.note)
    local cited = false
    for _, item in ipairs(obs.items) do
      if item.rule == ".agent/rules/300-logging.mdc" and item.severity == "minor" then cited = true end
    end
    assert.is_true(cited)
    assert.are.equal("met", obs.checklist[2].status)
    assert.are.equal(0, obs.unknown_citations)
  end)

  it("judge each story afresh: the evidence words compiled for one run change nothing in the next", function()
    local _, by = builtin_members()
    local met = story({
      "# INFRA-012: Rate limiting", "", "## State", "", "COMMITTED", "",
      "## Non-Functional Requirements", "",
      "- Security: callers authenticate with OAuth2 bearer tokens; the limiter key is the client id.",
    })
    local function statuses(s)
      local out = {}
      for _, c in ipairs(review_offline({ by.security }, s)[1].checklist) do out[#out + 1] = c.status .. ": " .. c.note end
      return out
    end
    local silent, with = statuses(EMPTY_STORY), statuses(met)
    assert.matches("^met: ", with[1])
    assert.matches("^missing: ", silent[1])
    assert.are.same(silent, statuses(EMPTY_STORY))
    assert.are.same(with, statuses(met))
    -- the judge keeps each document's units per table: a table whose text changed is read again
    local ctx = { persona = by.security.persona, story = { text = met.text } }
    assert.are.equal("met", judge.judge(ctx)[1].status)
    ctx.story.text = EMPTY_STORY.text
    assert.are.equal("missing", judge.judge(ctx)[1].status)
  end)

  it("mark an item n/a when nothing it applies to occurs", function()
    local _, by = builtin_members()
    local r = review_offline({ by.architect }, EMPTY_STORY)[1]
    local idem
    for _, c in ipairs(r.checklist) do if c.item:match("^Idempotency") then idem = c end end
    assert.are.equal("n/a", idem.status)
    assert.matches("^the story mentions none of: write", idem.note)
  end)

  it("ask for the exact schema, their checklist and the fields they own", function()
    local _, by = builtin_members()
    for _, id in ipairs(BUILTINS) do
      local p = by[id].persona
      local pr = p.prompt(loader.readonly({ persona = p, context = "THE CONTEXT" }))
      assert.are.equal("THE CONTEXT", pr.user)
      assert.is_truthy(pr.system:find(p.name, 1, true))
      assert.is_truthy(pr.system:find(api.schema(p), 1, true), id .. ": schema not in the prompt")
      for _, raw in ipairs(p.checklist) do
        assert.is_truthy(pr.system:find(judge.item(raw).text, 1, true), id .. ": " .. judge.item(raw).text)
      end
      for _, field in ipairs(p.owns) do assert.is_truthy(pr.system:find('"' .. field .. '"', 1, true), field) end
      assert.matches('"verdict": "APPROVE" | "CHANGES" | "BLOCK"', pr.system, 1, true)
      assert.matches("Never invent a reference", pr.system)
    end
  end)

  it("validate and normalise a model's reply, which must assess every checklist item by name", function()
    local _, by = builtin_members()
    local qa = by.qa.persona
    local ctx = loader.readonly({ persona = qa })
    local checklist = {}
    for i, raw in ipairs(qa.checklist) do checklist[i] = { item = judge.item(raw).text, status = "MET", note = "AC-" .. i } end
    checklist[1].status = "partial"
    local f = assert(api.review(ctx, {
      verdict = "request changes", summary = "  needs tests ",
      items = { "loose string", { severity = "critical", text = "no negative tests", rule = require("cjson").null } },
      checklist = { checklist[2], checklist[1], table.unpack(checklist, 3) },
      sections = { ["quality.testing"] = "Cover 85%.", ["spec.api"] = "not mine" },
    }))
    assert.are.equal("CHANGES", f.verdict)
    assert.are.equal("needs tests", f.summary)
    assert.are.equal("blocker", f.items[1].severity)
    assert.is_nil(f.items[1].rule)
    assert.are.equal("minor", f.items[2].severity)
    assert.are.same({ "partial", "met" }, { f.checklist[1].status, f.checklist[2].status }) -- by name, in the persona's order
    assert.are.same({ "AC-1", "AC-2" }, { f.checklist[1].note, f.checklist[2].note })
    assert.are.same({ ["quality.testing"] = "Cover 85%." }, f.sections)
    local bad, err = api.review(ctx, { verdict = "PASS" })
    assert.is_nil(bad)
    assert.are.equal([['verdict' must be "APPROVE", "CHANGES" or "BLOCK" (got 'PASS')]], err)
    assert.is_nil((api.review(ctx, "text")))
    assert.matches("items%[1%] has no 'text'", select(2, api.review(ctx, { verdict = "APPROVE", items = { {} } })))
    assert.matches("^the checklist does not assess", select(2, api.review(ctx, { verdict = "APPROVE" })))
    local blocked = assert(api.review(ctx, { verdict = "APPROVE", items = { { severity = "blocker", text = "x" } }, checklist = checklist }))
    assert.are.equal("BLOCK", blocked.verdict)
  end)
end)

describe("docs/personas.md examples", function()
  local saved
  before_each(function()
    saved = package.loaded["agent.context"]
    package.loaded["agent.context"] = stub_context()
  end)
  after_each(function()
    package.loaded["agent.context"] = saved
    loader.configure({})
    t.cleanup()
  end)

  -- Every ```lua block of the guide whose first line names a file under .agent/personas/.
  local function examples()
    local text = assert(t.read(t.src .. "/docs/personas.md"))
    local out = {}
    for body in text:gmatch("```lua\n(.-)\n```") do
      local name = body:match("^%-%- %.agent/personas/([%w_-]+)%.lua:")
      if name then out[name] = body .. "\n" end
    end
    return out
  end

  local function repo_with_examples()
    local root = t.tmpdir()
    local ex = examples()
    assert.is_string(ex.performance)
    assert.is_string(ex.security)
    for name, body in pairs(ex) do t.write(root .. "/.agent/personas/" .. name .. ".lua", body) end
    loader.configure({ repo = root .. "/.agent" })
    api.install(root)
    return root
  end

  it("@Performance joins the panel and reviews offline, with and without figures in the story", function()
    local root = repo_with_examples()
    local members = assert(panel.load(root, { panel = {} }))
    local perf
    for _, m in ipairs(members) do if m.id == "performance" then perf = m end end
    assert.are.equal("ok", perf.status, perf.error)
    assert.are.equal("@Performance", perf.name)
    local silent = review_offline({ perf }, EMPTY_STORY)[1]
    assert.are.equal("ok", silent.status, silent.error)
    assert.are.equal("CHANGES", silent.verdict)
    assert.are.equal("The story quotes no latency or load figure; add the budgets before implementation.", silent.items[1].text)
    local figures = story({ "# INFRA-012: x", "", "## Non-Functional Requirements", "",
      "- p95 latency under 50 ms at 200 requests per second.", "- A k6 load test runs in CI." })
    local r = review_offline({ perf }, figures)[1]
    assert.are.equal("APPROVE", r.verdict)
    assert.matches("Figures in the story: p95 latency under 50 ms", r.summary)
  end)

  it("@Performance rejects an approval without a figure through its own review", function()
    local root = repo_with_examples()
    local perf
    for _, m in ipairs(assert(panel.load(root, { panel = {} }))) do if m.id == "performance" then perf = m.persona end end
    local ctx = loader.readonly({ persona = perf })
    local checklist = {}
    for i, raw in ipairs(perf.checklist) do checklist[i] = { item = judge.item(raw).text, status = "met" } end
    local f = assert(perf.review(ctx, { verdict = "APPROVE", summary = "looks fast", checklist = checklist }))
    assert.are.equal("CHANGES", f.verdict)
    assert.matches("without quoting a single measurable budget", f.items[1].text)
    assert.are.equal("APPROVE", perf.review(ctx, { verdict = "APPROVE", summary = "p95 is 40 ms", checklist = checklist }).verdict)
    assert.is_nil((perf.review(ctx, { verdict = "APPROVE", summary = "p95 is 40 ms" }))) -- nothing assessed
  end)

  it("the security extension keeps the built-in and adds the PCI check", function()
    local root = repo_with_examples()
    local sec
    for _, m in ipairs(assert(panel.load(root, { panel = {} }))) do if m.id == "security" then sec = m end end
    assert.are.equal("repo", sec.origin)
    local items = sec.persona.checklist
    assert.are.equal("Card data never reaches this service (PCI DSS scope)", items[#items].text)
    local pr = sec.persona.prompt(loader.readonly({ persona = sec.persona, context = "C" }))
    assert.matches("PCI DSS scope: treat card data as a blocker", pr.system)
    assert.matches("Authentication %(OAuth2/OIDC%)", pr.system)
  end)
end)
