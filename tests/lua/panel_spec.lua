-- The panel's mechanics: loading personas (validation, team overrides and base(), roster,
-- panel.personas), script errors and limits, the ask loop (one concurrent batch, one retry
-- with the reason, fail closed), citations, the reply cache, and the synthesis (offline
-- determinism, proposed changes, reply validation).
require("agent")
local t = require("testutil")
local loader = require("agent.loader")
local panel = require("agent.panel")
local cache = require("agent.cache")
local synthesis = require("agent.synthesis")
local api = require("agent.script_api")
local judge = require("agent.judge")

local real_context = require("agent.context")

-- A stand-in for context.render: the text names the role, so tests can see who got what.
-- redact() stays the real one: the persona scripts' view of the documents goes through it.
local function stub_context(cut)
  return {
    render = function(_, opts)
      return "CONTEXT FOR " .. tostring(opts.role), { tokens = 3, cut = cut or {}, redactions = {} }
    end,
    redact = real_context.redact,
  }
end

-- providers with run() replaced: respond(call, n) -> result, n counting every call so far.
local function fake_providers(respond)
  local real = require("agent.providers")
  local fake = setmetatable({ calls = {}, batches = 0 }, { __index = real })
  fake.run = function(calls, opts)
    fake.batches = fake.batches + 1
    local out = {}
    for i, call in ipairs(calls) do
      fake.calls[#fake.calls + 1] = call
      out[i] = respond(call, #fake.calls)
      if opts.on_done then opts.on_done(i, out[i]) end
    end
    return out
  end
  return fake, real
end

local function reply(text, finish)
  return { reply = { text = text, finish = finish or "stop", truncated = finish == "length", usage = { input = 10, output = 5 } } }
end

local STORY = {
  id = "INFRA-012", title = "Rate limiting", scope = "INFRA", relpath = ".agent/cache/stories/INFRA/INFRA-012.md",
  text = table.concat({
    "# INFRA-012: Rate limiting", "", "## State", "", "COMMITTED", "",
    "## Problem Statement", "", "The orders API has no rate limiting.", "",
    "## User Story", "", "As an operator I want per-client limits so that one client cannot starve the rest.", "",
    "## Acceptance Criteria", "", "- [ ] Given 101 requests in a minute, when POST /orders, then 429.", "",
    "## Test Strategy", "", "pytest unit tests for the limiter.", "",
    "## Rollback Plan", "", "Revert the commit; no data migrations.", "",
  }, "\n"),
  sections = {
    ["Problem Statement"] = "The orders API has no rate limiting.",
    ["User Story"] = "As an operator I want per-client limits so that one client cannot starve the rest.",
    ["Acceptance Criteria"] = "- [ ] Given 101 requests in a minute, when POST /orders, then 429.",
    ["Test Strategy"] = "pytest unit tests for the limiter.",
    ["Rollback Plan"] = "Revert the commit; no data migrations.",
  },
  named_files = { "src/orders/api.py", "src/orders/limits.py", "README.md" },
}

local GATHERED = {
  rules = { { relpath = ".agent/rules/100-api.mdc", body = "Every endpoint is described in openapi.yaml.\n", why = { always = true } } },
  adrs = { { relpath = ".agent/adrs/ADR-001-postgres.md", id = "ADR-001", title = "Postgres", status = "ACCEPTED", text = "Use Postgres." } },
  compliance = {}, instructions = {},
  files = {
    { relpath = "src/orders/api.py", exists = true, text = "def create_order():\n    pass\n" },
    { relpath = "src/orders/limits.py", exists = false },
    { relpath = "README.md", exists = true, text = "# Orders\n" },
  },
  tree = { "README.md", "src/orders/api.py" },
}

local function team_repo(files)
  local root = t.tmpdir()
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\n")
  for rel, text in pairs(files or {}) do t.write(root .. "/" .. rel, text) end
  return root
end

local function configure(root, limits)
  loader.configure({ repo = root and (root .. "/.agent") or nil, limits = limits or { instructions = 5000000, time_ms = 2000 } })
  api.install(root)
end

local function by_id(list)
  local out = {}
  for _, m in ipairs(list) do out[m.id] = m end
  return out
end

describe("panel.validate", function()
  it("names the file and the missing field", function()
    local p, err = panel.validate({ api = 1, checklist = {} }, "x.lua")
    assert.is_nil(p)
    assert.are.equal("x.lua: missing required field 'id'", err)
    p, err = panel.validate({ api = 1, id = "x" }, "x.lua")
    assert.is_nil(p)
    assert.are.equal("x.lua: missing required field 'checklist' (or 'prompt')", err)
  end)

  it("refuses another persona API, saying which it was written for and which this agent implements", function()
    local p, err = panel.validate({ api = 2, id = "x", checklist = {} }, ".agent/personas/x.lua")
    assert.is_nil(p)
    assert.are.equal(".agent/personas/x.lua: written for persona API 2, but this agent implements persona API 1", err)
    p, err = panel.validate({ id = "x", checklist = {} }, "x.lua")
    assert.is_nil(p)
    assert.matches("missing required field 'api'.*implements 1", err)
    p, err = panel.validate({ api = "1", id = "x", checklist = {} }, "x.lua")
    assert.is_nil(p)
    assert.are.equal([[x.lua: field 'api' must be an integer (got string "1"); this agent implements persona API 1]], err)
  end)

  it("checks types, owned fields and the id against the file name", function()
    assert.matches("must return a table %(got string%)", select(2, panel.validate("nope", "x.lua")))
    assert.matches("field 'prompt' must be a function", select(2, panel.validate({ api = 1, id = "x", prompt = "hi" }, "x.lua")))
    assert.matches("'owns' names 'spec.nope'", select(2, panel.validate({ api = 1, id = "x", checklist = {}, owns = { "spec.nope" } }, "x.lua")))
    assert.matches("field 'id' is 'y' but the file is named 'x.lua'", select(2, panel.validate({ api = 1, id = "y", checklist = {} }, "x.lua", "x")))
    assert.matches("checklist%[2%]", select(2, panel.validate({ api = 1, id = "x", checklist = { "ok", 42 } }, "x.lua")))
  end)

  it("fills the defaults from the id", function()
    local p = assert(panel.validate({ api = 1, id = "data-steward", checklist = { "a" } }, "x.lua"))
    assert.are.equal("@DataSteward", p.name)
    assert.are.equal("data-steward", p.role)
    assert.are.same({}, p.owns)
    assert.are.equal("Performance", assert(panel.validate({ api = 1, id = "perf", name = "Performance", checklist = { "a" } }, "x.lua")).title)
    assert.are.equal("Perf", assert(panel.validate({ api = 1, id = "perf", name = "@Perf", checklist = { "a" } }, "x.lua")).title)
  end)
end)

describe("panel.load", function()
  after_each(function()
    configure(nil)
    t.cleanup()
  end)

  it("puts every built-in on the panel, sorted, when panel.personas is unset", function()
    configure(nil)
    local members = assert(panel.load(nil, { panel = {} }))
    local ids = {}
    for i, m in ipairs(members) do
      ids[i] = m.id
      assert.are.equal("ok", m.status, m.error)
    end
    assert.are.same({ "architect", "compliance", "docs", "observability", "qa", "security" }, ids)
  end)

  it("lets panel.personas choose and order, and refuses an unknown id", function()
    configure(nil)
    local members = assert(panel.load(nil, { panel = { personas = { "security", "qa" } } }))
    assert.are.equal(2, #members)
    assert.are.equal("security", members[1].id)
    assert.are.equal("qa", members[2].id)
    local none, err = panel.load(nil, { panel = { personas = { "security", "perf" } } })
    assert.is_nil(none)
    assert.matches("names 'perf', but no persona script or roster member has that id", err)
    assert.matches("known: architect, compliance", err)
    assert.is_nil((panel.load(nil, { panel = { personas = {} } })))
  end)

  it("lets a repo persona replace a built-in and extend it through base()", function()
    local root = team_repo({
      [".agent/personas/security.lua"] = [[
local sec = base()
local p = {}
for k, v in pairs(sec) do p[k] = v end
p.checklist = {}
for i, item in ipairs(sec.checklist) do p.checklist[i] = item end
p.checklist[#p.checklist + 1] = { text = "Card data stays out of scope (PCI DSS)", evidence = { "pci", "card" } }
p.prompt = function(ctx)
  local pr = sec.prompt(ctx)
  return { system = pr.system .. "\nPAYMENTS TEAM RULE", user = pr.user }
end
return p
]],
      [".agent/personas/perf.lua"] = [[
return { api = 1, id = "perf", name = "@Perf", checklist = { "p95 latency budget stated" } }
]],
    })
    configure(root)
    local m = by_id(assert(panel.load(root, { panel = {} })))
    assert.are.equal("ok", m.security.status, m.security.error)
    assert.are.equal("repo", m.security.origin)
    assert.are.equal(".agent/personas/security.lua", m.security.file)
    local items = m.security.persona.checklist
    assert.are.equal("Card data stays out of scope (PCI DSS)", items[#items].text)
    assert.is_true(#items > 1)
    assert.are.equal("ok", m.perf.status)
    local pr = m.security.persona.prompt(loader.readonly({ persona = m.security.persona, context = "CTX" }))
    assert.matches("PAYMENTS TEAM RULE", pr.system)
    assert.matches("Card data stays out of scope", pr.system)
    assert.are.equal("CTX", pr.user)
  end)

  it("reports a broken script as file:line and keeps the others", function()
    local root = team_repo({
      [".agent/personas/qa.lua"] = "return {\n  api = 1,\n  id = 'qa',\n  checklist = { nil_global.x },\n}\n",
      [".agent/personas/old.lua"] = "return { api = 0, id = 'old', checklist = { 'x' } }\n",
      [".agent/personas/syntax.lua"] = "return {\n  api = 1,,\n}\n",
    })
    configure(root)
    local m = by_id(assert(panel.load(root, { panel = {} })))
    assert.are.equal("script_error", m.qa.status)
    assert.matches("^%.agent/personas/qa%.lua:4: ", m.qa.error)
    assert.are.equal("script_error", m.old.status)
    assert.matches("written for persona API 0, but this agent implements persona API 1", m.old.error)
    assert.are.equal("script_error", m.syntax.status)
    assert.matches("%.agent/personas/syntax%.lua:2:", m.syntax.error)
    assert.are.equal("ok", m.security.status)
    assert.are.equal("ok", m.architect.status)
  end)

  it("turns a roster into personas: matching roles extend, other roles join", function()
    local root = team_repo({
      [".agent/etc/agents.yaml"] = [[
team:
  - role: security
    name: "Security (CISO)"
    responsibilities: ["Scan for secrets"]
    governance_checks: ["No PII in logs"]
    instruction: "Only BLOCK for proven vulnerabilities."
  - role: product
    name: "Product Owner"
    description: "Voice of the user."
    responsibilities: ["Validate acceptance criteria"]
    governance_checks: ["Are Acceptance Criteria clear and testable?"]
  - name: "no role"
]],
    })
    configure(root)
    local members, warnings = panel.load(root, { panel = {} })
    assert.matches("team%[3%]: needs a 'role'", warnings[1])
    local m = by_id(members)
    local sec = m.security.persona
    assert.are.equal("No PII in logs", sec.checklist[#sec.checklist])
    assert.are.equal("Security (CISO)", sec.title)
    local pr = sec.prompt(loader.readonly({ persona = sec, context = "C" }))
    assert.matches("Only BLOCK for proven vulnerabilities", pr.system)
    assert.matches("Scan for secrets", pr.system)
    assert.are.equal("ok", m.product.status)
    assert.are.equal("@Product", m.product.name)
    assert.are.equal("Product Owner", m.product.title)
    assert.are.same({ "Are Acceptance Criteria clear and testable?" }, m.product.persona.checklist)
    assert.are.equal("product", members[#members].id) -- roster-only roles come after the scripts
  end)

  it("refuses an unreadable roster with the file and line", function()
    local root = team_repo({ [".agent/etc/agents.yaml"] = "team:\n  - role: [unclosed\n" })
    configure(root)
    local none, err = panel.load(root, { panel = {} })
    assert.is_nil(none)
    assert.matches("^%.agent/etc/agents%.yaml: yaml: line %d+", err)
  end)
end)

describe("panel.review offline", function()
  local saved
  before_each(function()
    saved = package.loaded["agent.context"]
    package.loaded["agent.context"] = stub_context()
  end)
  after_each(function()
    package.loaded["agent.context"] = saved
    configure(nil)
    t.cleanup()
  end)

  local function env(extra)
    local e = { story = STORY, gathered = GATHERED, config = { panel = {} }, provider = "offline", model = "offline" }
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  it("judges every checklist and stops an endless loop at its line, reviewing the rest", function()
    local root = team_repo({
      [".agent/personas/loop.lua"] = "return {\n  api = 1, id = 'loop', checklist = { 'x' },\n  offline = function(ctx)\n    while true do end\n  end,\n}\n",
      [".agent/personas/raise.lua"] = "return {\n  api = 1, id = 'raise', checklist = { 'x' },\n  offline = function(ctx)\n    error('boom')\n  end,\n}\n",
    })
    configure(root, { instructions = 2000000, time_ms = 2000 })
    local members = assert(panel.load(root, { panel = {} }))
    local events = {}
    local results = panel.review(members, env({ root = root, on_event = function(kind, i) events[#events + 1] = kind .. i end }))
    local r = by_id(results)
    assert.are.equal("script_error", r.loop.status)
    assert.matches("^%.agent/personas/loop%.lua:4: .*budget exceeded", r.loop.error)
    assert.are.equal("script_error", r.raise.status)
    assert.matches("^%.agent/personas/raise%.lua:4: boom", r.raise.error)
    for _, id in ipairs({ "architect", "compliance", "docs", "observability", "qa", "security" }) do
      assert.are.equal("ok", r[id].status, r[id].error)
      assert.is_truthy(({ APPROVE = 1, CHANGES = 1 })[r[id].verdict])
      assert.is_true(#r[id].checklist > 0)
    end
    assert.are.equal(#members * 2, #events) -- a start and a done per member
  end)

  it("quotes story evidence, cites the rule only the documents cover, and turns missing items into CHANGES", function()
    configure(nil)
    local members = assert(panel.load(nil, { panel = { personas = { "qa", "architect" } } }))
    local r = by_id(panel.review(members, env()))
    local qa = r.qa
    local testing = qa.checklist[1]
    assert.are.equal("met", testing.status)
    assert.matches('pytest unit tests for the limiter', testing.note)
    local arch = r.architect
    assert.are.equal("CHANGES", arch.verdict)
    local api_item = arch.checklist[1]
    assert.are.equal("met", api_item.status)
    local found_missing = false
    for _, item in ipairs(arch.items) do
      if item.severity == "major" and item.text:match("^Data models") then found_missing = true end
    end
    assert.is_true(found_missing)
    assert.matches("Required: ", arch.sections["spec.api"])
    assert.matches("POST /orders", arch.sections["spec.api"])
  end)

  it("counts an offline approval that leaves checklist items out as CHANGES, the items missing", function()
    local root = team_repo({ [".agent/personas/lazy.lua"] = "return { api = 1, id = 'lazy', checklist = { 'Auth is specified' },\n"
      .. "  offline = function() return { verdict = 'APPROVE', checklist = { 'Auth is specified' } } end }\n" })
    configure(root)
    local members = assert(panel.load(root, { panel = { personas = { "lazy" } } }))
    local r = panel.review(members, env({ root = root }))[1]
    assert.are.equal("ok", r.status, r.error)
    assert.are.equal("CHANGES", r.verdict)
    assert.are.same({ item = "Auth is specified", status = "missing", note = "no status given" }, r.checklist[1])
  end)

  it("cannot review offline a persona with only a prompt, and says why", function()
    local root = team_repo({ [".agent/personas/chat.lua"] = "return { api = 1, id = 'chat', prompt = function(ctx) return { system = 's', user = 'u' } end }\n" })
    configure(root)
    local members = assert(panel.load(root, { panel = { personas = { "chat" } } }))
    local r = panel.review(members, env({ root = root }))[1]
    assert.are.equal("no_review", r.status)
    assert.matches("no checklist and no offline review", r.error)
  end)

  it("is deterministic", function()
    configure(nil)
    local members = assert(panel.load(nil, { panel = {} }))
    local a = require("agent.json").encode(panel.review(members, env())[1].sections)
    local b = require("agent.json").encode(panel.review(members, env())[1].sections)
    assert.are.equal(a, b)
  end)
end)

describe("panel.ask and panel.review with a model", function()
  local saved_ctx, real
  before_each(function()
    saved_ctx = package.loaded["agent.context"]
    package.loaded["agent.context"] = stub_context({ ".agent/adrs/ADR-001-postgres.md" })
    real = require("agent.providers")
  end)
  after_each(function()
    package.loaded["agent.context"] = saved_ctx
    package.loaded["agent.providers"] = real
    configure(nil)
    t.cleanup()
  end)

  -- What a model that did its job replies: every item its prompt's checklist lists, assessed
  -- by name ("met"), plus `extra` fields.
  local function approval(call, extra)
    local f = { verdict = "APPROVE", summary = "fine", items = {}, checklist = {}, sections = { ["quality.testing"] = "Cover 90%." } }
    local list = (call.system or ""):match("Judge every item of your checklist[^\n]*\n(.-)\n\n")
    for item in (list or ""):gmatch("%- ([^\n]+)") do f.checklist[#f.checklist + 1] = { item = item, status = "met", note = "ok" } end
    for k, v in pairs(extra or {}) do f[k] = v end
    return require("agent.json").encode(f)
  end

  local function model_env(root, extra)
    local e = { story = STORY, gathered = GATHERED, config = { panel = {} }, provider = "openai", model = "m",
                root = root, store = root and cache.open(root, "INFRA-012") or nil }
    for k, v in pairs(extra or {}) do e[k] = v end
    return e
  end

  it("asks every persona in one batch and retries garbage once with the reason, then fails closed", function()
    configure(nil)
    local fake = fake_providers(function(call)
      if call.system:match("@QA") then return reply(approval(call)) end
      return reply("I think it is fine.")
    end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa", "docs" } } }))
    local r = by_id(panel.review(members, model_env(nil)))
    assert.are.equal(2, fake.batches) -- the first round, then the retries
    assert.are.equal(3, #fake.calls)
    assert.are.equal("ok", r.qa.status)
    assert.are.equal("APPROVE", r.qa.verdict)
    assert.are.equal("Cover 90%.", r.qa.sections["quality.testing"])
    assert.are.equal("met", r.qa.checklist[1].status)
    assert.are.equal("no_review", r.docs.status)
    assert.is_nil(r.docs.verdict)
    assert.matches("no JSON object.*; retried once: .*no JSON object", r.docs.error)
    local retry = fake.calls[3]
    assert.matches("Your previous reply could not be used: ", retry.user)
    assert.are.equal("CONTEXT FOR docs", retry.user:sub(1, 16))
  end)

  it("counts each persona's own HTTP attempts and time, retries included; a cached reply costs none", function()
    configure(nil)
    local fake = fake_providers(function(call, n)
      local r = reply(call.system:match("@QA") and approval(call) or (n <= 2 and "not json" or approval(call)))
      r.reply.attempts = call.system:match("@QA") and 3 or 2 -- the HTTP layer's own retries
      r.reply.elapsed_ms = call.system:match("@QA") and 700 or 40
      return r
    end)
    package.loaded["agent.providers"] = fake
    local root = t.tmpdir()
    local members = assert(panel.load(nil, { panel = { personas = { "qa", "docs" } } }))
    local r = by_id(panel.review(members, model_env(root)))
    assert.are.same({ "ok", 3, 700 }, { r.qa.status, r.qa.attempts, r.qa.elapsed_ms })
    assert.are.same({ "ok", 4, 80 }, { r.docs.status, r.docs.attempts, r.docs.elapsed_ms }) -- 2 + the retry's 2
    local again = by_id(panel.review(members, model_env(root)))
    assert.are.same({ true, 0, 0 }, { again.qa.cached, again.qa.attempts, again.qa.elapsed_ms })
  end)

  -- Fail closed: a reply that assessed nothing is no approval, nor one that pairs checklist
  -- entries with items by position without naming them.
  it("takes no review that leaves a checklist item unassessed: retried once with the items named, then no review", function()
    configure(nil)
    local fake = fake_providers(function(call, n)
      if n == 1 then return reply('{"verdict": "APPROVE", "summary": "fine"}') end
      local full = require("agent.json").decode(approval(call))
      full.checklist = { { item = "anything", status = "met" }, table.unpack(full.checklist, 2) } -- item 1 unnamed
      return reply(require("agent.json").encode(full))
    end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local first_item = judge.item(members[1].persona.checklist[1]).text
    local r = panel.review(members, model_env(nil))[1]
    assert.are.equal(2, #fake.calls)
    assert.are.equal("no_review", r.status)
    assert.is_nil(r.verdict)
    assert.matches("could not be used: the checklist does not assess \"" .. first_item:gsub("%p", "%%%0"), fake.calls[2].user)
    assert.matches("; retried once: the checklist does not assess \"" .. first_item:gsub("%p", "%%%0") .. "\":", r.error)
  end)

  it("takes no bare-string checklist entry as an assessment", function()
    configure(nil)
    local fake = fake_providers(function() return reply('{"verdict": "APPROVE", "checklist": ["anything"]}') end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local r = panel.review(members, model_env(nil))[1]
    assert.are.equal("no_review", r.status)
    assert.matches('checklist entry "anything" needs a status', r.error)
  end)

  it("turns an approval with a missing item into CHANGES, as the offline judge does", function()
    configure(nil)
    local fake = fake_providers(function(call)
      local f = require("agent.json").decode(approval(call))
      f.checklist[2].status = "missing"
      return reply(require("agent.json").encode(f))
    end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local r = panel.review(members, model_env(nil))[1]
    assert.are.equal("ok", r.status, r.error)
    assert.are.equal("CHANGES", r.verdict)
  end)

  -- Whatever a persona's prompt() builds is redacted before it leaves: here it reads a file
  -- the context never sent, and adds a secret of its own to the system prompt.
  it("redacts every prompt right before sending it, and counts what that caught", function()
    local root = team_repo({
      ["notes.txt"] = "DB_PASSWORD=hunter2\n",
      [".agent/personas/leaky.lua"] = [[return { api = 1, id = "leaky",
  prompt = function(ctx)
    return { system = "token: ghp_]] .. ("Zy9Xw8Vu7T"):rep(3) .. [[sR6qP5 is yours",
             user = ctx.context .. "\n" .. agent.fs.read("notes.txt") }
  end }
]] })
    configure(root)
    local fake = fake_providers(function(call) return reply(approval(call)) end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(root, { panel = { personas = { "leaky" } } }))
    local r = panel.review(members, model_env(root))[1]
    assert.are.equal("ok", r.status, r.error)
    local sent = fake.calls[1]
    assert.is_nil((sent.system .. sent.user):find("hunter2", 1, true))
    assert.is_nil((sent.system .. sent.user):find("Zy9Xw8Vu7T", 1, true))
    assert.matches("DB_PASSWORD=%[REDACTED:PASSWORD%]", sent.user)
    assert.are.same({ PASSWORD = 1, GITHUB_TOKEN = 1 }, r.redactions)
  end)

  it("retries a reply cut off at the token limit with twice the budget", function()
    configure(nil)
    local fake = fake_providers(function(call, n)
      if n == 1 then return reply('{"verdict": "APPR', "length") end
      return reply(approval(call))
    end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local r = panel.review(members, model_env(nil))[1]
    assert.are.equal("ok", r.status)
    assert.are.equal(2, #fake.calls)
    assert.are.equal(fake.calls[1].max_tokens * 2, fake.calls[2].max_tokens)
    assert.matches("cut off at the output limit", fake.calls[2].user)
    assert.are.same({ input = 20, output = 10 }, r.tokens)
  end)

  it("never retries a transport failure, and reports it", function()
    configure(nil)
    local fake = fake_providers(function() return { error = "openai: no API key: set OPENAI_API_KEY", kind = "auth" } end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local r = panel.review(members, model_env(nil))[1]
    assert.are.equal(1, #fake.calls)
    assert.are.equal("no_review", r.status)
    assert.are.equal("openai: no API key: set OPENAI_API_KEY", r.error)
  end)

  it("marks citations the prompt did not carry", function()
    configure(nil)
    local fake = fake_providers(function(call)
      return reply(approval(call, { verdict = "CHANGES", summary = "s", items = {
        { severity = "major", text = "Follow ADR-001 and ADR-099.", rule = ".agent/rules/100-api.mdc" },
        { severity = "minor", text = "See .agent/rules/999-made-up.mdc", rule = "ADR-001" },
        { severity = "minor", text = "x", rule = "100-api.mdc, SEC-7" },
        { severity = "info", text = "Per .agent/rules/ and .agent/adrs/ nothing else.", rule = ".agent/rules/" } } }))
    end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local r = panel.review(members, model_env(nil))[1]
    local items = r.items
    assert.are.equal(".agent/rules/100-api.mdc", items[1].rule)
    assert.are.equal("Follow ADR-001 (not in context) and ADR-099 (not in context).", items[1].text) -- ADR-001 was cut
    assert.are.equal("ADR-001 (not in context)", items[2].rule)
    assert.are.equal("See .agent/rules/999-made-up.mdc (not in context)", items[2].text)
    assert.are.equal("100-api.mdc, SEC-7 (not in context)", items[3].rule)
    assert.are.equal(".agent/rules/", items[4].rule) -- a directory whose files were sent
    assert.are.equal("Per .agent/rules/ and .agent/adrs/ (not in context) nothing else.", items[4].text) -- its one ADR was cut
    assert.are.equal(6, r.unknown_citations)
  end)

  it("reports a review function that raises as a script error, without a retry", function()
    local root = team_repo({ [".agent/personas/strict.lua"] = "return {\n  api = 1, id = 'strict', checklist = { 'x' },\n  review = function(ctx, reply)\n    error('cannot read ' .. reply.verdict)\n  end,\n}\n" })
    configure(root)
    local fake = fake_providers(function(call) return reply(approval(call)) end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(root, { panel = { personas = { "strict" } } }))
    local r = panel.review(members, model_env(root))[1]
    assert.are.equal(1, #fake.calls)
    assert.are.equal("script_error", r.status)
    assert.are.equal(".agent/personas/strict.lua:4: cannot read APPROVE", r.error)
  end)

  it("retries once when a persona's review rejects the reply, with its reason", function()
    local root = team_repo({ [".agent/personas/picky.lua"] = [[
return { api = 1, id = "picky", checklist = { "x" },
  review = function(ctx, reply)
    if reply.summary == "fine" then return nil, "the summary must quote a figure" end
    return agent.persona.review(ctx, reply)
  end }
]] })
    configure(root)
    local fake = fake_providers(function(call, n)
      if n == 1 then return reply(approval(call)) end
      return reply(approval(call, { summary = "p95 40 ms" }))
    end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(root, { panel = { personas = { "picky" } } }))
    local r = panel.review(members, model_env(root))[1]
    assert.are.equal("ok", r.status, r.error)
    assert.are.equal(2, #fake.calls)
    assert.matches("could not be used: the summary must quote a figure", fake.calls[2].user)
  end)

  it("checks citations against the render's included list when it has one", function()
    configure(nil)
    package.loaded["agent.context"] = { render = function()
      return "C", { tokens = 1, cut = {}, included = { ".agent/rules/100-api.mdc" }, redactions = {} }
    end, redact = real_context.redact }
    package.loaded["agent.providers"] = fake_providers(function(call)
      return reply(approval(call, { verdict = "CHANGES", items = {
        { severity = "major", text = "a", rule = ".agent/adrs/ADR-001-postgres.md" },
        { severity = "major", text = "b", rule = ".agent/rules/100-api.mdc" } } }))
    end)
    local members = assert(panel.load(nil, { panel = { personas = { "qa" } } }))
    local items = panel.review(members, model_env(nil))[1].items
    assert.are.equal(".agent/adrs/ADR-001-postgres.md (not in context)", items[1].rule)
    assert.are.equal(".agent/rules/100-api.mdc", items[2].rule)
  end)

  it("caches each reply as it arrives and resumes without asking again", function()
    local root = team_repo()
    configure(root)
    local fake = fake_providers(function(call) return reply(approval(call)) end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(root, { panel = { personas = { "qa", "security" } } }))
    local first = panel.review(members, model_env(root))
    assert.are.equal(2, #fake.calls)
    assert.is_false(first[1].cached)
    local again = panel.review(members, model_env(root))
    assert.are.equal(2, #fake.calls)
    assert.is_true(again[1].cached and again[2].cached)
    assert.are.same({ input = 0, output = 0 }, again[1].tokens)
    panel.review(members, model_env(root, { store = cache.open(root, "INFRA-012", { fresh = true }) }))
    assert.are.equal(4, #fake.calls)
  end)

  it("uses a persona's own provider and model from config overrides", function()
    configure(nil)
    local fake = fake_providers(function(call) return reply(approval(call)) end)
    package.loaded["agent.providers"] = fake
    local members = assert(panel.load(nil, { panel = { personas = { "qa", "docs" } } }))
    local cfg = { panel = { overrides = { qa = { provider = "anthropic", model = "claude-x" } } } }
    local r = by_id(panel.review(members, model_env(nil, { config = cfg })))
    assert.are.equal("anthropic", r.qa.provider)
    assert.are.equal("claude-x", r.qa.model)
    assert.are.equal("openai", r.docs.provider)
    local explicit = by_id(panel.review(members, model_env(nil, { config = cfg, explicit_provider = true })))
    assert.are.equal("openai", explicit.qa.provider)
  end)
end)

describe("the script API", function()
  after_each(function()
    configure(nil)
    t.cleanup()
  end)

  it("gives scripts a read-only fs confined to the repository, symlinks included", function()
    local root = team_repo({ ["src/a.py"] = "print('a')\n" })
    local outside = t.tmpdir()
    t.write(outside .. "/secret.txt", "top secret")
    assert(t.sh("ln -s " .. t.q(outside .. "/secret.txt") .. " " .. t.q(root .. "/src/link.txt")))
    root = require("agent.fs").realpath(root)
    local fs = api.build(root).fs
    assert.are.equal("print('a')\n", fs.read("src/a.py"))
    assert.are.equal("print('a')\n", fs.read(root .. "/src/a.py"))
    assert.is_true(fs.exists("src/a.py"))
    assert.is_false(fs.exists("../" .. outside:match("[^/]+$")))
    local none, err = fs.read("src/link.txt")
    assert.is_nil(none)
    assert.are.equal("read 'src/link.txt': outside the repository", err)
    none, err = fs.read("../../../../../etc/passwd")
    assert.is_nil(none)
    assert.matches("outside the repository", err)
    assert.is_nil(fs.read(outside .. "/secret.txt"))
    assert.are.same({ "a.py", "link.txt" }, fs.list("src"))
    assert.is_nil(api.build(root).fs.write)
    assert.has_error(function() fs.read(42) end)
  end)

  it("withholds key files from scripts and hands out .env files redacted", function()
    local root = team_repo({ [".env"] = "DB_PASSWORD=hunter2\nMODE=prod\n", ["certs/tls.pem"] = "-----BEGIN CERTIFICATE-----\n",
                             ["notes.txt"] = "DB_PASSWORD=hunter2\n" })
    root = require("agent.fs").realpath(root)
    local fs = api.build(root).fs
    assert.are.equal("DB_PASSWORD=[REDACTED:PASSWORD]\nMODE=[REDACTED:ENV]\n", fs.read(".env"))
    local none, err = fs.read("certs/tls.pem")
    assert.is_nil(none)
    assert.are.equal("read 'certs/tls.pem': a key or credential file, never read (docs/security.md)", err)
    assert.is_true(fs.exists("certs/tls.pem")) -- that it exists is no secret
    assert.are.equal("DB_PASSWORD=hunter2\n", fs.read("notes.txt")) -- redacted on the way out instead
  end)

  it("offers safe JSON, and a redacted log that names the calling script", function()
    local root = team_repo({ [".agent/personas/talk.lua"] = [[
agent.log.warn("loaded " .. agent.json.encode({ 1 }))
agent.log.info("the key is ghp_]] .. ("Zy9Xw8Vu7T"):rep(3) .. [[sR6qP5")
local v, err = agent.json.decode("{oops")
assert(v == nil and err:match("^json decode: "))
return { api = 1, id = "talk", checklist = { "x" } }
]] })
    configure(root)
    local lines = {}
    local log = require("agent.log")
    log.setup({ out = { write = function(_, ...) lines[#lines + 1] = table.concat({ ... }) end } })
    local members = assert(panel.load(root, { panel = { personas = { "talk" } } }))
    log.setup({ out = io.stderr })
    assert.are.equal("ok", members[1].status, members[1].error)
    local out = table.concat(lines)
    assert.matches("warning: %.agent/personas/talk%.lua: loaded %[1%]", out) -- relative to the repository
    assert.matches(": %.agent/personas/talk%.lua: the key is %[REDACTED:GITHUB_TOKEN%]", out)
    assert.is_nil(out:find("Zy9Xw8Vu7T", 1, true))
  end)

  it("is read-only to scripts", function()
    local root = team_repo({ [".agent/personas/vandal.lua"] = "agent.persona.prompt = nil\nreturn { api = 1, id = 'vandal', checklist = { 'x' } }\n" })
    configure(root)
    local members = assert(panel.load(root, { panel = { personas = { "vandal", "qa" } } }))
    assert.are.equal("script_error", members[1].status)
    assert.matches("vandal%.lua:1: attempt to modify read%-only 'agent%.persona%.prompt'", members[1].error)
    assert.are.equal("ok", members[2].status)
  end)
end)

describe("panel.budget_for", function()
  it("takes --budget, then a number, then the model's or provider's entry, then the default", function()
    assert.are.equal(500, panel.budget_for({ context = { budget_tokens = 9 } }, 500, "openai", "m"))
    assert.are.equal(9, panel.budget_for({ context = { budget_tokens = 9 } }, nil, "openai", "m"))
    local map = { context = { budget_tokens = { ["gpt-4o-mini"] = 120000, ollama = 6000, default = 30000 } } }
    assert.are.equal(120000, panel.budget_for(map, nil, "openai", "gpt-4o-mini"))
    assert.are.equal(6000, panel.budget_for(map, nil, "ollama", "llama3.1:8b"))
    assert.are.equal(30000, panel.budget_for(map, nil, "anthropic", "claude"))
    assert.is_nil(panel.budget_for({ context = {} }, nil, "openai", "m"))
  end)
end)

describe("cache", function()
  after_each(t.cleanup)

  it("keys on provider, model and both prompts, and survives a corrupt entry", function()
    local call = { provider = "openai", model = "m", system = "s", user = "u" }
    local k = cache.key(call)
    assert.matches("^%x+$", k)
    assert.are.equal(64, #k)
    assert.are_not.equal(k, cache.key({ provider = "openai", model = "m", system = "su", user = "" }))
    -- field boundaries cannot be forged by a field that spells the encoding out
    assert.are_not.equal(cache.key({ provider = "openai", model = "m", system = "1:s,1:u,", user = "" }),
      cache.key({ provider = "openai", model = "m", system = "", user = "1:s,1:u," }))
    -- a reply cut off at 100 tokens must not answer the same prompt allowed 8000
    call.max_tokens = 100
    local small = cache.key(call)
    call.max_tokens = 8000
    assert.are_not.equal(small, cache.key(call))
    call.max_tokens = nil
    -- kept per call table, but never past a change to the call
    call.user = "u2"
    assert.are.equal(cache.key({ provider = "openai", model = "m", system = "s", user = "u2" }), cache.key(call))
    call.user = "u"
    assert.are.equal(k, cache.key(call))
    assert.are_not.equal(k, cache.key({ provider = "anthropic", model = "m", system = "s", user = "u" }))
    local root = t.tmpdir()
    local store = cache.open(root, "INFRA-012")
    assert.is_nil(store:get(call))
    assert.is_true(store:put(call, { text = "hi", finish = "stop", usage = { input = 1, output = 2 } }))
    local path = root .. "/.agent/cache/panel/INFRA-012/" .. k .. ".json"
    assert.is_truthy(t.read(path))
    assert.are.equal("hi", store:get(call).text)
    assert.is_nil(cache.open(root, "INFRA-012", { fresh = true }):get(call))
    t.write(path, "{not json")
    assert.is_nil(store:get(call))
  end)

  it("writes each entry atomically without fsync: a lost entry is only a miss", function()
    local fs = require("agent.fs")
    local real, seen = fs.write, {}
    fs.write = function(path, data, opts)
      seen[#seen + 1] = { path = path, opts = opts }
      return real(path, data, opts)
    end
    local root = t.tmpdir()
    local call = { provider = "openai", model = "m", system = "s", user = "u" }
    local store = cache.open(root, "INFRA-012") -- the user's cache key, made before counting
    local ok, err = pcall(function() return store:put(call, { text = "hi" }) end)
    fs.write = real
    assert.is_true(ok, err)
    assert.are.equal(1, #seen)
    assert.are.equal(root .. "/.agent/cache/panel/INFRA-012/" .. cache.key(call) .. ".json", seen[1].path)
    assert.are.same({ sync = false }, seen[1].opts)
    assert.are.equal("hi", cache.open(root, "INFRA-012"):get(call).text)
  end)
end)

describe("cache signatures", function()
  after_each(t.cleanup)

  it("computes HMAC-SHA256 as RFC 4231 says", function()
    -- test cases 1 and 6 (a key longer than the block is hashed first)
    assert.are.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      cache.hmac(("\x0b"):rep(20), "Hi There"))
    assert.are.equal("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
      cache.hmac(("\xaa"):rep(131), "Test Using Larger Than Block-Size Key - Hash Key First"))
  end)

  it("reads no entry it did not sign: a forged or foreign reply is a miss", function()
    local cjson = require("cjson")
    local root = t.tmpdir()
    local call = { provider = "openai", model = "m", system = "s", user = "u" }
    local store = cache.open(root, "INFRA-012")
    assert.is_true(store:put(call, { text = "signed", finish = "stop" }))
    assert.are.equal("signed", store:get(call).text)
    local path = store:path(call)
    local envelope = cjson.decode(t.read(path))
    -- a clone's forged approval: the entry a real run would write, under a key not the user's
    local forged = envelope.entry:gsub("signed", "APPROVE")
    t.write(path, cjson.encode({ entry = forged, mac = cache.hmac(("f"):rep(64), cache.key(call) .. "\n" .. forged) }))
    assert.is_nil(store:get(call))
    -- the same bytes re-signed under the user's key are read: the check is the signature
    local key = t.read(cache.key_file()):match("%x+")
    t.write(path, cjson.encode({ entry = forged, mac = cache.hmac(key, cache.key(call) .. "\n" .. forged) }))
    assert.are.equal("APPROVE", store:get(call).text)
    -- an entry of the unsigned layout is a miss too
    t.write(path, envelope.entry)
    assert.is_nil(store:get(call))
  end)

  it("keeps its key private to the user", function()
    cache.open(t.tmpdir(), "INFRA-012")
    local st = require("agent.fs").stat(cache.key_file())
    assert.are.equal(384, st.mode) -- 0600
  end)
end)

describe("synthesis", function()
  local saved
  before_each(function()
    saved = package.loaded["agent.context"]
    package.loaded["agent.context"] = stub_context()
  end)
  after_each(function()
    package.loaded["agent.context"] = saved
    configure(nil)
    t.cleanup()
  end)

  local function offline_doc()
    configure(nil)
    local members = assert(panel.load(nil, { panel = {} }))
    local results = panel.review(members, { story = STORY, gathered = GATHERED, config = { panel = {} }, provider = "offline" })
    return synthesis.offline({ story = STORY, gathered = GATHERED, results = results, provider = "offline" })
  end

  it("derives the body from the story: goal, changes by component, verification, rollback", function()
    local doc = offline_doc()
    assert.are.equal("INFRA-012", doc.id)
    assert.are.equal("PROPOSED", doc.status)
    assert.matches("The orders API has no rate limiting%.", doc.goal)
    assert.matches("User story: As an operator", doc.goal)
    assert.are.equal(2, #doc.changes)
    local src, root_comp = doc.changes[1], doc.changes[2]
    assert.are.equal("src", src.component)
    assert.are.equal("Repository root", root_comp.component)
    assert.are.equal("MODIFY", src.ops[1].op)
    assert.are.same({}, src.ops[1].blocks) -- never an invented SEARCH
    assert.matches("Change this file for INFRA%-012", src.ops[1].description)
    assert.are.equal("NEW", src.ops[2].op)
    assert.are.equal("src/orders/limits.py", src.ops[2].path)
    assert.matches("^# src/orders/limits%.py: new in INFRA%-012", src.ops[2].content)
    assert.are.equal("python", src.ops[2].lang)
    assert.matches("Given 101 requests", doc.verification)
    assert.matches("pytest unit tests", doc.verification)
    assert.are.equal("Revert the commit; no data migrations.", doc.rollback)
    for _, f in ipairs(synthesis.FIELDS) do
      local group, name = f.key:match("^([^.]+)%.(.+)$")
      assert.is_string(doc[group][name], f.key)
    end
  end)

  it("renders the same bytes twice, with every field under its heading", function()
    local tpl = assert(loader.load_script("templates", "runbook"))
    local a, b = tpl.render(offline_doc()), tpl.render(offline_doc())
    assert.are.equal(a, b)
    for _, f in ipairs(synthesis.FIELDS) do assert.is_truthy(a:find("### " .. f.title, 1, true), f.title) end
  end)

  it("redacts e-mail addresses everywhere it quotes the story when the config says so", function()
    local story = {}
    for k, v in pairs(STORY) do story[k] = v end
    local mail = "ops.lead@example.com"
    story.text = STORY.text:gsub("no rate limiting%.", "no rate limiting; ask " .. mail .. " about src/orders/limits.py.")
    story.sections = { ["Problem Statement"] = "The orders API has no rate limiting; ask " .. mail .. "." }
    local gathered = setmetatable({ redact = { emails = true, ips = false } }, { __index = GATHERED })
    local doc = synthesis.offline({ story = story, gathered = gathered, results = {}, provider = "offline" })
    local seen = require("agent.json").encode(doc)
    assert.is_nil(seen:find(mail, 1, true))
    assert.matches("%[REDACTED:EMAIL%]", doc.goal)
    assert.matches("%[REDACTED:EMAIL%]", doc.changes[1].ops[2].description)
  end)

  it("turns story headings into bold lines, never runbook sections", function()
    assert.are.equal("**Notes**\nkeep\n```\n## not a heading\n```", synthesis.embeddable("## Notes\nkeep\n```\n## not a heading\n```"))
  end)

  it("validates a model's document and never keeps an empty SEARCH", function()
    local parts = assert(synthesis.parse({
      goal = "Add limits.",
      spec = { api = "POST /orders returns 429." },
      changes = {
        { component = "src", ops = {
          { op = "MODIFY", path = "./src/orders/api.py", description = "wire it",
            blocks = { { search = "", replace = "x" }, { search = "def create_order():", replace = "def create_order(limit):" } } },
          { op = "new", path = "src/orders/limits.py", content = "LIMIT = 100\n" },
          { op = "DELETE", path = "old.py", rationale = "unused" } } } },
    }))
    assert.are.equal("POST /orders returns 429.", parts.spec.api)
    local ops = parts.changes[1].ops
    assert.are.equal("src/orders/api.py", ops[1].path)
    assert.are.equal(1, #ops[1].blocks)
    assert.matches("empty SEARCH and was left out", parts.notes[1])
    assert.are.equal("python", ops[2].lang)
    assert.are.equal("DELETE", ops[3].op)
    local none, err = synthesis.parse({ goal = "g", changes = { { ops = {
      { op = "NEW", path = "/etc/passwd", content = "x" }, { op = "NEW", path = "a/../b", content = "x" },
      { op = "NEW", path = "ok.txt" }, { op = "DELETE", path = "x" }, { op = "MOVE", path = "y" } } } } })
    assert.is_nil(none)
    assert.matches("must be relative to the repository root", err)
    assert.matches("must not contain '%.%.'", err)
    assert.matches("needs the complete file", err)
    assert.matches("needs a rationale", err)
    assert.matches("'op' must be MODIFY, NEW or DELETE", err)
    assert.matches("'goal' is missing", select(2, synthesis.parse({ changes = {} })))
    local quoted = { goal = "g", changes = { { ops = {
      { op = "MODIFY", path = "src/orders/api.py", blocks = { { search = "def create_order():\n", replace = "x" } } } } } } }
    -- checked against the content the prompt carried (redacted), not the file on disk
    local sent = { context_files = { ["src/orders/api.py"] = "def create_order():\n    key = '[REDACTED:AWS_KEY]'\n" } }
    assert.is_table(synthesis.parse(quoted, sent))
    quoted.changes[1].ops[1].blocks[1].search = "    pass\n" -- in the file, but not in what was sent
    local nope, why = synthesis.parse(quoted, sent)
    assert.is_nil(nope)
    assert.are.equal("MODIFY src/orders/api.py: SEARCH block 1 is not in the file as sent; copy it character for character", why)
    assert.is_table(synthesis.parse(quoted, { context_files = {} })) -- a file the prompt left out: the gates' job
    quoted.changes[1].ops[1].blocks[1].search = "    key = '[REDACTED:AWS_KEY]'\n"
    nope, why = synthesis.parse(quoted, sent)
    assert.is_nil(nope)
    assert.matches("SEARCH block 1 quotes a %[REDACTED:%.%.%.%] marker", why)
  end)
end)

describe("the review's exit status (review.panel_status)", function()
  local review = require("agent.review")
  local function status(...) return review.panel_status({ ... }) end
  local ok = { status = "ok", verdict = "APPROVE" }
  local block = { status = "ok", verdict = "BLOCK" }

  it("ranks a script error (3) over no usable review (5) over a BLOCK (6) over approval (0)", function()
    assert.are.equal(0, status(ok, { status = "ok", verdict = "CHANGES" }))
    assert.are.equal(6, status(ok, block))
    assert.are.equal(5, status(block, { status = "no_review" }, ok))
    assert.are.equal(3, status(block, { status = "no_review" }, { status = "script_error" }))
  end)

  it("counts a BLOCK only from a usable review", function()
    assert.are.equal(5, status({ status = "no_review", verdict = "BLOCK" }))
  end)
end)
