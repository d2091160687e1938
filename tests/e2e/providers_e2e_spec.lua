-- agent new-runbook with model providers, end to end: the real binary against
-- tests/servers/llm_server.py on loopback, each provider's real wire format, scripted persona
-- and synthesis replies. What the server recorded is the evidence: matched rules present in
-- the prompts and unmatched ones absent, planted secrets absent, the right auth header,
-- persona calls concurrent. Then the failure paths: garbage twice (exit 5), a refused key (exit 1),
-- the cache (resume without paying twice, --fresh), a deadline and a SIGINT cutting a run
-- short, the gate repair call, a persona on its own provider, and two runs on one story.
local t = require("testutil")
local cjson = require("cjson")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"
local KEY = "sk-test-e2e-7f3a9c"
local PLANTED = { "AKIAQYLPMN5HHHFPZAM2", "ghp_R4nd0mT0k3nF0rT3st1ngOnly0123456789" }
local PANEL = "[architect, security, qa, docs, compliance, observability]"
local LATENCY_MS = 400
-- Every agent runs several times slower under valgrind (scripts/test.sh --valgrind).
local SLOW = os.getenv("AGENT_VALGRIND") == "1" and 8 or 1

local PROVIDERS = {
  openai = {
    env = function(url) return { OPENAI_BASE_URL = url .. "/v1", OPENAI_API_KEY = KEY } end,
    path = "^/v1/chat/completions$",
    auth = function(h) return h.authorization == "Bearer " .. KEY end,
  },
  anthropic = {
    env = function(url) return { ANTHROPIC_BASE_URL = url, ANTHROPIC_API_KEY = KEY } end,
    path = "^/v1/messages$",
    auth = function(h) return h["x-api-key"] == KEY and h.authorization == nil end,
  },
  gemini = {
    env = function(url) return { GEMINI_BASE_URL = url, GEMINI_API_KEY = KEY } end,
    path = "^/v1beta/models/[^/]+:generateContent$",
    auth = function(h) return h["x-goog-api-key"] == KEY end,
  },
  ollama = {
    env = function(url) return { OLLAMA_HOST = url } end,
    path = "^/api/chat$",
    auth = function(h) return h.authorization == nil and h["x-api-key"] == nil end,
  },
}


local SYNTHESIS = {
  goal = "Make POST /orders idempotent with an Idempotency-Key header.",
  spec = { api = "POST /orders accepts an optional `Idempotency-Key` header (1-255 characters)." },
  changes = { { component = "src", ops = {
    { op = "MODIFY", path = "src/orders/settings.py", description = "Add the rollback switch.",
      blocks = { { search = "    max_order_items: int\n", replace = "    max_order_items: int\n    idempotency: bool\n" } } },
    { op = "NEW", path = "src/orders/idempotency.py", content = '"""Idempotency keys: validation, fingerprints, replay."""\n' },
  } } },
  verification = "pytest tests/test_orders.py covers AC-1 to AC-6.",
  rollback = "Set ORDERS_IDEMPOTENCY=off and restart.",
}

local function start(rules)
  return t.llm_server(rules, { "--key", KEY })
end

local requests = t.requests

local function persona_requests(srv)
  return requests(srv, "on a governance panel")
end

-- A copy of rules-examples with secrets planted in a named file and in an always-apply rule,
-- and the six built-ins on the panel.
local function repo(extra_config)
  local root = t.example_repo()
  local settings = root .. "/src/orders/settings.py"
  t.write(settings, t.read(settings) .. '\nAWS_ACCESS_KEY_ID = "' .. PLANTED[1] .. '"\n')
  local core = root .. "/.agent/rules/000-core.mdc"
  t.write(core, t.read(core) .. "\nThe CI bot token is " .. PLANTED[2] .. " (rotate it).\n")
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\npanel:\n  personas: " .. PANEL .. "\n" .. (extra_config or ""))
  return root
end

-- Each persona's checklist on the panel of repo(), by name ("@Security"), every item "met":
-- a reply that leaves one out is no review.
local checklists
local function checklist_of(name)
  if not checklists then
    checklists = {}
    for _, rule in ipairs(t.review_rules(repo(), {})) do
      checklists[rule.match:match("^You are (@%S+) %($")] = rule.reply.checklist
    end
  end
  return assert(checklists[name], name)
end

-- A review by persona `name` (its checklist assessed), with `extra` fields.
local function findings(name, extra)
  local f = { verdict = "APPROVE", summary = "Reviewed against the rules in context.", items = {},
              checklist = checklist_of(name), sections = {} }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

-- The default scenario: every persona approves after LATENCY_MS, the architect with a section
-- and a citation; the synthesis returns SYNTHESIS. `before` rules take precedence.
local function scenario(before)
  local rules = {}
  for _, r in ipairs(before or {}) do rules[#rules + 1] = r end
  rules[#rules + 1] = { match = "You are @Architect", latency_ms = LATENCY_MS, reply = findings("@Architect", {
    items = { { severity = "minor", text = "Follow ADR-002 for the key table.", rule = ".agent/adrs/ADR-002-sqlite-order-storage.md" } },
    sections = { ["spec.state"] = "Replay records live in the `idempotency_keys` SQLite table for 24 hours." } }) }
  checklist_of("@Architect")
  local names = {}
  for name in pairs(checklists) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    rules[#rules + 1] = { match = "You are " .. name .. " (", latency_ms = LATENCY_MS, reply = findings(name) }
  end
  rules[#rules + 1] = { match = "You write the implementation runbook", reply = SYNTHESIS }
  return rules
end

local function agent(root, provider, srv, args, extra_env, run_opts)
  local env = { OPENAI_API_KEY = false, ANTHROPIC_API_KEY = false, GEMINI_API_KEY = false, GOOGLE_API_KEY = false,
                OPENAI_BASE_URL = false, ANTHROPIC_BASE_URL = false, GEMINI_BASE_URL = false, OLLAMA_HOST = false,
                NO_COLOR = "1", http_proxy = false, https_proxy = false, HTTP_PROXY = false, HTTPS_PROXY = false }
  for k, v in pairs(PROVIDERS[provider].env(srv.url)) do env[k] = v end
  for k, v in pairs(extra_env or {}) do env[k] = v end
  local argv = { "new-runbook", ID, "--provider", provider }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local opts = { cwd = root, env = env }
  for k, v in pairs(run_opts or {}) do opts[k] = v end
  return t.run(argv, opts)
end

describe("new-runbook with each provider", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  for _, name in ipairs({ "openai", "anthropic", "gemini", "ollama" }) do
    it(name .. ": a full run, with what was sent checked on the server", function()
      srv = start(scenario())
      local root = repo()
      local r = agent(root, name, srv, { "--json" })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("redacted before sending: AWS_ACCESS_KEY 1, GITHUB_TOKEN 1", r.stderr, 1, true)
      local summary = cjson.decode(r.stdout)
      assert.are.same({ AWS_ACCESS_KEY = 1, GITHUB_TOKEN = 1 }, summary.redactions)
      assert.are.equal("APPROVE", summary.verdicts.security)
      assert.is_true(summary.tokens.total.input > 0)
      local text = t.read(root .. "/" .. RUNBOOK)
      assert.matches("Make POST /orders idempotent with an Idempotency%-Key header%.", text)
      assert.matches("<<<SEARCH\n    max_order_items: int\n===\n", text, 1, true)
      assert.matches("Replay records live in the `idempotency_keys` SQLite table", text, 1, true)
      assert.matches("cites `.agent/adrs/ADR-002-sqlite-order-storage.md`", text, 1, true)

      local all = requests(srv)
      local personas = persona_requests(srv)
      assert.are.equal(6, #personas)
      assert.are.equal(7, #all) -- six personas and one synthesis, nothing retried
      local first, last = math.huge, -math.huge
      for _, req in ipairs(all) do
        assert.matches(PROVIDERS[name].path, req.path)
        assert.is_true(PROVIDERS[name].auth(req.headers), name .. ": wrong auth headers")
        local sent = req.prompt .. (type(req.body_text) == "string" and req.body_text or "") .. cjson.encode(req.body)
        for _, secret in ipairs(PLANTED) do assert.is_nil(sent:find(secret, 1, true), "secret sent: " .. secret) end
        assert.is_truthy(req.prompt:find("[REDACTED:", 1, true))
        assert.is_truthy(req.prompt:find("These apply to every story, whatever it touches.", 1, true)) -- alwaysApply rule
        assert.is_truthy(req.prompt:find("Resources are plural nouns", 1, true)) -- glob rule matched by a named file
        assert.is_nil(req.prompt:find("600: Web UI", 1, true)) -- a rule whose globs match nothing
      end
      for _, req in ipairs(personas) do
        first, last = math.min(first, req.time), math.max(last, req.time)
      end
      assert.is_true(last - first < LATENCY_MS / 1000 / 2,
        ("persona calls were not concurrent: arrivals spread over %.3fs"):format(last - first))
    end)
  end
end)

-- Runs a command with its stderr on a pseudo-terminal (stdout and stdin as they are), copies
-- what the terminal showed to stderr, and exits with the command's status: agent then draws
-- its live progress lines, as for a person at a terminal.
local ON_A_TERMINAL = [[
import os, pty, subprocess, sys
master, slave = pty.openpty()
child = subprocess.Popen(sys.argv[1:], stderr=slave)
os.close(slave)
shown = []
while True:
    try:
        data = os.read(master, 65536)
    except OSError:
        break
    if not data:
        break
    shown.append(data)
sys.stderr.buffer.write(b"".join(shown))
sys.exit(child.wait())
]]

-- A streamed request, in each format: stream: true, or Gemini's streaming method.
local function streamed(req)
  if req.path:find(":streamGenerateContent", 1, true) then return true end
  return type(req.body) == "table" and req.body.stream == true
end

describe("new-runbook streams persona replies to the live progress lines", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  local CASES = {
    { "openai" }, { "anthropic" }, { "gemini" },
    -- Ollama's /v1 repeats delta.role in every chunk (ollama/ollama#7626)
    { "openai", role_every_chunk = true, label = "openai (Ollama's /v1 chunks)" },
  }
  for _, case in ipairs(CASES) do
    local name = case[1]
    it((case.label or name) .. ": on a terminal the replies arrive streamed and are read whole", function()
      local rules = scenario()
      for _, rule in ipairs(rules) do rule.chunk_chars, rule.role_every_chunk = 40, case.role_every_chunk end
      srv = start(rules)
      local root = repo()
      local r = agent(root, name, srv, nil, { TERM = "dumb" }, { prefix = { t.python, "-c", ON_A_TERMINAL } })
      assert.are.equal(0, r.code, r.stderr)
      assert.matches("receiving %(%d+ chars%)", r.stderr)
      local personas = persona_requests(srv)
      assert.are.equal(6, #personas)
      for _, req in ipairs(personas) do assert.is_true(streamed(req), req.path) end
      assert.are.equal(7, #requests(srv)) -- nothing retried: every streamed reply was usable
      local text = t.read(root .. "/" .. RUNBOOK)
      assert.is_truthy(text:find("[x] **@Security**", 1, true))
      assert.is_truthy(text:find("Replay records live in the `idempotency_keys` SQLite table", 1, true))
    end)
  end

  it("ollama: replies arrive whole even on a terminal (its stream is not server-sent events)", function()
    srv = start(scenario())
    local root = repo()
    local r = agent(root, "ollama", srv, nil, { TERM = "dumb" }, { prefix = { t.python, "-c", ON_A_TERMINAL } })
    assert.are.equal(0, r.code, r.stderr)
    for _, req in ipairs(requests(srv)) do assert.is_false(req.body.stream) end
  end)

  it("off a terminal, replies are not streamed (a cut transfer can then be retried)", function()
    srv = start(scenario())
    local root = repo()
    assert.are.equal(0, agent(root, "anthropic", srv).code)
    for _, req in ipairs(requests(srv)) do assert.is_false(streamed(req)) end
  end)
end)

describe("new-runbook with a model, failing closed", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  it("marks a persona that returns garbage twice as no usable review, and exits 5", function()
    srv = start(scenario({ { match = "You are @Docs", reply = "Sure! Here is my review: looks good to me." } }))
    local root = repo()
    local r = agent(root, "openai", srv)
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("@Docs: NO USABLE REVIEW: no JSON object", r.stderr)
    local docs = requests(srv, "You are @Docs")
    assert.are.equal(2, #docs)
    assert.is_nil(docs[1].prompt:find("Your previous reply could not be used", 1, true))
    assert.is_truthy(docs[2].prompt:find("Your previous reply could not be used: no JSON object", 1, true))
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("%[ %] %*%*@Docs%*%* %(Tech Writer%): no usable review: ", text)
    assert.matches("%[x%] %*%*@Security%*%*", text)
  end)

  -- A refusal is not a malformed reply: asking again with the same prompt is refused again.
  for _, case in ipairs({
    { "anthropic", { finish = "refusal", reply = "" }, 'anthropic: the model refused to answer %(stop_reason "refusal"%)' },
    { "gemini", { finish = "SAFETY", reply = "" }, "gemini: the reply was blocked %(finishReason SAFETY%)" },
    { "openai", { refusal = "I can't help with that." }, "openai: the model refused: I can't help with that%." },
  }) do
    local name, rule, said = case[1], case[2], case[3]
    it(name .. ": names a persona's refusal as its reason, and does not ask again", function()
      rule.match = "You are @Security"
      srv = start(scenario({ rule }))
      local root = repo()
      local r = agent(root, name, srv)
      assert.are.equal(5, r.code, r.stderr)
      assert.matches("@Security: NO USABLE REVIEW: " .. said, r.stderr)
      assert.is_nil(r.stderr:find("no JSON object", 1, true))
      assert.are.equal(1, #requests(srv, "You are @Security"))
      assert.is_truthy(t.read(root .. "/" .. RUNBOOK):find("**@Security** (Security (CISO)): no usable review: " .. name, 1, true))
    end)
  end

  it("marks citations of rules and ADRs the persona was never sent", function()
    srv = start(scenario({ { match = "You are @Security", reply = findings("@Security", { verdict = "CHANGES", items = {
      { severity = "major", text = "Violates ADR-099 on key storage.", rule = ".agent/rules/999-invented.mdc" },
      { severity = "minor", text = "Keep keys out of logs.", rule = ".agent/rules/300-security.mdc" } } }) } }))
    local root = repo()
    local r = agent(root, "openai", srv)
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("@Security: CHANGES %(2 citations not in context%)", r.stderr)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.is_truthy(text:find("Violates ADR-099 (not in context) on key storage.", 1, true))
    assert.is_truthy(text:find("(cites `.agent/rules/999-invented.mdc (not in context)`)", 1, true))
    assert.is_truthy(text:find("(cites `.agent/rules/300-security.mdc`)", 1, true))
  end)

  it("falls back to the offline body when the synthesis gives nothing usable, and exits 5", function()
    srv = start(scenario({ { match = "You write the implementation runbook", reply = "Here is the runbook you asked for." } }))
    local root = repo()
    local r = agent(root, "openai", srv)
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("synthesis: no usable reply", r.stderr)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("Change this file for INFRA%-012", text) -- the offline derivation
    assert.matches("%[x%] %*%*@Security%*%*", text) -- the panel's reviews stand
    assert.are.equal(2, #requests(srv, "You write the implementation runbook")) -- asked once, retried once
  end)

  it("names the key variable when the key is refused, never the key, and writes nothing", function()
    srv = start(scenario())
    local root = repo()
    local r = agent(root, "anthropic", srv, nil, { ANTHROPIC_API_KEY = "sk-ant-wrong-key-000" })
    assert.are.equal(1, r.code) -- every persona refused alike (tests/e2e/provider_failures_spec.lua)
    assert.matches("set ANTHROPIC_API_KEY", r.stderr)
    assert.is_nil(r.stderr:find("sk-ant-wrong-key-000", 1, true))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
  end)

  it("resumes from the cache without new requests, and --fresh asks again", function()
    srv = start(scenario())
    local root = repo()
    assert.are.equal(0, agent(root, "openai", srv).code)
    local first = t.read(root .. "/" .. RUNBOOK)
    local n = #requests(srv)
    assert.are.equal(7, n)
    local again = agent(root, "openai", srv, { "--force" })
    assert.are.equal(0, again.code, again.stderr)
    assert.are.equal(n, #requests(srv))
    assert.matches("@Security: APPROVE %(cached%)", again.stderr)
    assert.are.equal(first, t.read(root .. "/" .. RUNBOOK))
    assert.are.equal(0, agent(root, "openai", srv, { "--force", "--fresh" }).code)
    assert.are.equal(2 * n, #requests(srv))
  end)

  it("resumes a run its deadline cut short, paying only for what was missing", function()
    srv = start(scenario({ { match = "You are @QA", behavior = "hang" } }))
    local root = repo()
    local r = agent(root, "openai", srv, { "--deadline", tostring(3 * SLOW), "--timeout", tostring(2 * SLOW) })
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("@QA: NO USABLE REVIEW: [^\n]*time", r.stderr)
    local before = #requests(srv)
    srv.stop()
    srv = start(scenario())
    local again = agent(root, "openai", srv, { "--force" })
    assert.are.equal(0, again.code, again.stderr)
    local asked = requests(srv)
    assert.are.equal(2, #asked, "only @QA and the synthesis (whose prompt holds @QA's findings) are new")
    assert.is_truthy(asked[1].prompt:find("You are @QA", 1, true))
    assert.is_true(before >= 7)
  end)

  for _, case in ipairs({ { "INT", 130 }, { "TERM", 143 } }) do
    local sig, status = case[1], case[2]
    it(("stops on SIG%s with status %d, keeping the replies that arrived and writing nothing"):format(sig, status), function()
      srv = start(scenario({ { match = "You are @QA", behavior = "hang" } }))
      local root = repo()
      local env = PROVIDERS.openai.env(srv.url)
      local job = t.spawn(root, { "new-runbook", ID, "--provider", "openai" }, {
        ANTHROPIC_API_KEY = false, OPENAI_BASE_URL = env.OPENAI_BASE_URL, OPENAI_API_KEY = KEY, NO_COLOR = "1" })
      local cache_dir = root .. "/.agent/cache/panel/" .. ID
      local function cached()
        return tonumber(t.output("ls " .. t.q(cache_dir) .. " 2>/dev/null | wc -l"))
      end
      -- signal once the other replies are cached and @QA's request hangs, however loaded the machine
      t.wait_for(function()
        return #requests(srv, "You are @QA") > 0 and cached() >= 5
      end, "@QA's request and the other replies")
      os.execute("kill -" .. sig .. " " .. job.pid)
      local r = job.finish()
      local code, err = r.code, r.stderr
      assert.are.equal(status, code, err)
      assert.matches("interrupted by SIG" .. sig, err)
      assert.matches("@Security: NO USABLE REVIEW: interrupted by SIG" .. sig, err)
      assert.is_nil(t.read(root .. "/" .. RUNBOOK))
      assert.are.equal(".INFRA-012.lock\n", t.output("ls -A " .. t.q(root .. "/.agent/cache/runbooks/INFRA"))) -- no temporary file left behind
      assert.are.equal(5, tonumber(t.output("ls " .. t.q(root .. "/.agent/cache/panel/INFRA-012") .. " | wc -l")))
    end)
  end

  it("retries a synthesis whose SEARCH is not in the file it was sent, with the reason", function()
    local bad = cjson.decode(cjson.encode(SYNTHESIS))
    bad.changes[1].ops[1].blocks[1].search = "def nonexistent_function():\n"
    srv = start(scenario({ { match = "You write the implementation runbook", reply = bad, times = 1 } }))
    local root = repo()
    local r = agent(root, "openai", srv)
    assert.are.equal(0, r.code, r.stderr)
    local synth = requests(srv, "You write the implementation runbook")
    assert.are.equal(2, #synth)
    assert.is_truthy(synth[2].prompt:find("MODIFY src/orders/settings.py: SEARCH block 1 is not in the file as sent", 1, true))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK):find("nonexistent_function", 1, true))
  end)

  it("makes one repair call when the gates fail, and reports what still fails (exit 4)", function()
    local bad = cjson.decode(cjson.encode(SYNTHESIS))
    bad.changes[1].ops[2].path = "src/orders/models.py" -- [NEW] over a file that exists
    srv = start(scenario({
      { match = "Problems the gates found", reply = bad },
      { match = "You write the implementation runbook", reply = bad },
    }))
    local root = repo()
    local r = agent(root, "openai", srv)
    assert.are.equal(4, r.code, r.stderr)
    local repairs = requests(srv, "Problems the gates found")
    for _, req in ipairs(repairs) do assert.is_truthy(req.prompt:find("src/orders/settings.py", 1, true)) end
    assert.are.equal(1, #repairs)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("\n## Gate Report\n", text)
    assert.matches("src/orders/models%.py", text:match("## Gate Report\n(.*)$"))
  end)

  it("keeps the repaired runbook when the repair fixes the gates", function()
    local bad = cjson.decode(cjson.encode(SYNTHESIS))
    bad.changes[1].ops[2].path = "src/orders/models.py"
    srv = start(scenario({
      { match = "Problems the gates found", reply = SYNTHESIS },
      { match = "You write the implementation runbook", reply = bad },
    }))
    local root = repo()
    local r = agent(root, "openai", srv)
    assert.are.equal(0, r.code, r.stderr)
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.is_nil(text:find("## Gate Report", 1, true))
    assert.is_nil(text:find("[NEW] src/orders/models.py", 1, true))
    assert.is_truthy(text:find("[NEW] src/orders/idempotency.py", 1, true))
  end)

  it("holds --jobs calls in flight at most", function()
    srv = start(scenario())
    local root = repo()
    local r = agent(root, "openai", srv, { "--jobs", "1" })
    assert.are.equal(0, r.code, r.stderr)
    local times = {}
    for _, req in ipairs(persona_requests(srv)) do times[#times + 1] = req.time end
    table.sort(times)
    for i = 2, #times do
      assert.is_true(times[i] - times[i - 1] >= LATENCY_MS / 1000 * 0.9, "two persona calls overlapped under --jobs 1")
    end
  end)

  it("sends a persona to its own provider and model from the script", function()
    local perf = { verdict = "APPROVE", summary = "Latency budget stated.", items = {}, sections = {},
                   checklist = { { item = "p95 latency stated", status = "met", note = "In the story." } } }
    srv = start(scenario({ { match = "You are @Perf (", reply = perf } }))
    local root = repo()
    t.write(root .. "/.agent/personas/perf.lua", [[
return { api = 1, id = "perf", provider = "ollama", model = "llama-perf", checklist = { "p95 latency stated" } }
]])
    t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: openai\npanel:\n  personas: [perf, qa]\n")
    local r = t.run({ "new-runbook", ID }, { cwd = root, env = {
      NO_COLOR = "1", OPENAI_BASE_URL = srv.url .. "/v1", OPENAI_API_KEY = KEY, OLLAMA_HOST = srv.url } })
    assert.are.equal(0, r.code, r.stderr)
    local by_path = {}
    for _, req in ipairs(requests(srv)) do
      by_path[req.path] = by_path[req.path] or {}
      table.insert(by_path[req.path], req)
    end
    assert.are.equal(1, #by_path["/api/chat"])
    assert.are.equal("llama-perf", by_path["/api/chat"][1].body.model)
    assert.is_truthy(by_path["/api/chat"][1].prompt:find("You are @Perf", 1, true))
    assert.are.equal(2, #by_path["/v1/chat/completions"]) -- @QA and the synthesis
  end)

  it("sends a persona to its own provider and model from the config", function()
    srv = start(scenario())
    local root = repo("  overrides:\n    security: { provider: anthropic, model: claude-test }\n")
    local r = agent(root, "openai", srv, nil, { ANTHROPIC_BASE_URL = srv.url, ANTHROPIC_API_KEY = KEY })
    -- --provider on the command line wins over the config: run without it to use the override
    assert.are.equal(0, r.code, r.stderr)
    local r2 = t.run({ "new-runbook", ID, "--force" }, { cwd = root, env = {
      NO_COLOR = "1", ANTHROPIC_BASE_URL = srv.url, ANTHROPIC_API_KEY = KEY, OPENAI_API_KEY = false } })
    assert.are.equal(0, r2.code, r2.stderr)
    local anthropic = {}
    for _, req in ipairs(requests(srv)) do
      if req.path == "/v1/messages" then anthropic[#anthropic + 1] = req end
    end
    assert.are.equal(1, #anthropic)
    assert.is_truthy(anthropic[1].prompt:find("You are @Security", 1, true))
    assert.are.equal("claude-test", anthropic[1].body.model)
  end)

  it("makes a second run on one story wait for the first, then leave its runbook alone", function()
    -- the first run holds the story's lock while @QA takes its time, however slow the machine
    srv = start(scenario({ { match = "You are @QA (", latency_ms = 2000 * SLOW, reply = findings("@QA") } }))
    local root = repo()
    local env = PROVIDERS.openai.env(srv.url)
    local first = t.spawn(root, { "new-runbook", ID, "--provider", "openai" },
      { OPENAI_BASE_URL = env.OPENAI_BASE_URL, OPENAI_API_KEY = KEY, NO_COLOR = "1" })
    t.wait_for(function() return #requests(srv) > 0 end, "the first run's requests")
    local second = agent(root, "openai", srv)
    local r1 = first.finish()
    assert.are.equal(0, r1.code, r1.stderr)
    assert.are.equal(1, second.code, second.stderr)
    assert.matches("waiting for it to finish", second.stderr)
    assert.matches("already exists; it was left untouched", second.stderr)
    assert.are.equal(7, #requests(srv), "the second run asked nothing")
  end)
end)
