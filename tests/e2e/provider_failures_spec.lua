-- Provider failures as a user meets them, with the real binary against
-- tests/servers/llm_server.py: a failure every persona's call shares (refused key, unknown
-- model, unreachable host, no credit) stops the run with one line and writes nothing, while
-- a partial failure still writes a runbook that says who failed (exit 5); and the lines a
-- refused region, an exhausted account and a refused connection give.
local t = require("testutil")
local cjson = require("cjson")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"
local KEY = "sk-test-fail-5d1e7b"
local SYNTH = "You write the implementation runbook"

local function start(rules)
  return t.llm_server(rules, { "--key", KEY })
end

local requests = t.requests

local function count(srv, needle)
  return #requests(srv, needle)
end

local function repo()
  local root = t.example_repo()
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\n")
  return root
end

-- Runs agent with only the given provider variables set; base is the server's URL for
-- OPENAI_BASE_URL (with /v1) and ANTHROPIC_BASE_URL.
local function agent(root, args, base, env_extra)
  local env = { OPENAI_API_KEY = KEY, ANTHROPIC_API_KEY = KEY, GEMINI_API_KEY = false, GOOGLE_API_KEY = false,
                OPENAI_BASE_URL = base .. "/v1", ANTHROPIC_BASE_URL = base, GEMINI_BASE_URL = false,
                OLLAMA_HOST = false, NO_COLOR = "1", http_proxy = false, https_proxy = false,
                HTTP_PROXY = false, HTTPS_PROXY = false }
  for k, v in pairs(env_extra or {}) do env[k] = v end
  return t.run(args, { cwd = root, env = env })
end

local function lines(text)
  local n = 0
  for _ in text:gmatch("[^\n]+") do n = n + 1 end
  return n
end

-- The last line of stderr: the failure cli prints.
local function last_line(text)
  return text:match("([^\n]*)\n?$")
end

describe("a failure every persona's call shares", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  it("a refused key: exit 1, one line, no synthesis, nothing written, no --force needed next", function()
    srv = start({})
    local root = repo()
    local wrong = "sk-ant-wrong-key-000"
    local r = agent(root, { "new-runbook", ID, "--provider", "anthropic" }, srv.url, { ANTHROPIC_API_KEY = wrong })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: anthropic: the API key was refused (HTTP 401): set ANTHROPIC_API_KEY to a valid key",
      last_line(r.stderr))
    assert.is_nil(r.stderr:find(wrong, 1, true))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
    assert.are.equal(0, count(srv, SYNTH))
    assert.is_true(count(srv, "on a governance panel") >= 1)
    local again = agent(root, { "new-runbook", ID, "--provider", "anthropic" }, srv.url, { ANTHROPIC_API_KEY = wrong })
    assert.are.equal(1, again.code)
    assert.is_nil(again.stderr:find("already exists", 1, true))
  end)

  it("a model that does not exist (404): exit 1 with the server's message", function()
    srv = start({ { status = 404, error = { message = "The model `gpt-9` does not exist", code = "model_not_found" } } })
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--provider", "openai", "--model", "gpt-9" }, srv.url)
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: openai: HTTP 404: The model `gpt-9` does not exist", last_line(r.stderr))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
    assert.are.equal(0, count(srv, SYNTH))
  end)

  it("an Ollama model that was never pulled: exit 1 with the pull advice", function()
    srv = start({ { status = 404, error = "model 'llama9' not found" } })
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--provider", "ollama", "--model", "llama9" }, srv.url,
      { OLLAMA_HOST = srv.url })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: ollama: model 'llama9' not found (run 'ollama pull llama9')", last_line(r.stderr))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
  end)

  it("a host that refuses connections: exit 1, nothing written", function()
    srv = start({})
    local closed = srv.url
    srv.stop()
    srv = nil
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--provider", "openai", "--json" }, closed)
    assert.are.equal(1, r.code, r.stderr)
    local err = cjson.decode(r.stdout).error
    assert.are.equal(1, err.exit)
    assert.matches("^openai: POST '[^']+': cannot connect: Connection refused %(after 4 attempts%)$", err.message)
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
  end)

  it("a TLS handshake that fails, or a host that does not resolve: exit 1, one line", function()
    srv = start({}) -- speaks plain HTTP, so https:// to it fails the handshake
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--provider", "openai" }, (srv.url:gsub("^http:", "https:")))
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("^agent: openai: POST 'https://[^']+': TLS handshake failed", last_line(r.stderr))
    r = agent(root, { "new-runbook", ID, "--provider", "openai" }, "http://api.nowhere.invalid")
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: openai: POST 'http://api.nowhere.invalid/v1/chat/completions': cannot resolve host",
      last_line(r.stderr))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
    assert.are.equal(0, #requests(srv))
  end)

  it("agent panel exits 1 the same way, printing no findings", function()
    srv = start({})
    local root = repo()
    local r = agent(root, { "panel", ID, "--provider", "openai" }, srv.url, { OPENAI_API_KEY = "sk-wrong-1234" })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: openai: the API key was refused (HTTP 401): set OPENAI_API_KEY to a valid key",
      last_line(r.stderr))
    assert.are.equal("", r.stdout)
  end)

  it("a partial failure still writes the runbook, names who failed, and exits 5", function()
    local rules = { { match = "You are @Security (", status = 404 } }
    for _, rule in ipairs(t.review_rules(repo(), { verdict = "APPROVE", summary = "Fine.", items = {}, sections = {} })) do
      rules[#rules + 1] = rule
    end
    srv = start(rules)
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--provider", "openai" }, srv.url)
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("@Security: NO USABLE REVIEW: openai: HTTP 404", r.stderr)
    assert.matches("no usable review", t.read(root .. "/" .. RUNBOOK))
    assert.is_true(count(srv, SYNTH) >= 1)
  end)
end)

describe("what a provider failure says", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  it("a 403 that is not about the key shows the server's message, not key advice", function()
    srv = start({ { status = 403, error = { code = "unsupported_country_region_territory", type = "request_forbidden",
                                           message = "Country, region, or territory not supported" } } })
    local root = repo()
    local r = agent(root, { "panel", ID, "--provider", "openai" }, srv.url)
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: openai: HTTP 403: Country, region, or territory not supported", last_line(r.stderr))
    assert.is_nil(r.stderr:find("OPENAI_API_KEY", 1, true))
  end)

  it("an account out of credit (429 insufficient_quota) is said in one line, and not retried", function()
    srv = start({ { status = 429, retry_after = "1", error = { code = "insufficient_quota", type = "insufficient_quota",
      message = "You exceeded your current quota, please check your plan and billing details." } } })
    local root = repo()
    local r = agent(root, { "panel", ID, "--provider", "openai" }, srv.url)
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("^agent: openai: the account is out of credit %(HTTP 429: You exceeded your current quota",
      last_line(r.stderr))
    local asked = {}
    for _, req in ipairs(requests(srv)) do
      local who = req.prompt:match("You are (@%S+) %(")
      assert.is_nil(asked[who], "asked twice: " .. tostring(who))
      asked[who] = true
    end
    assert.is_not_nil(next(asked))
  end)

  it("a Retry-After past the deadline fails at once, saying what the server asked", function()
    srv = start({ { match = "You are @QA (", status = 429, retry_after = "600" } })
    local root = repo()
    local r = agent(root, { "panel", ID, "--provider", "openai", "--deadline", "60" }, srv.url)
    assert.are.equal(5, r.code, r.stderr)
    assert.matches("@QA: NO USABLE REVIEW: openai: HTTP 429: scripted status 429 %(the server asked to retry after 600 s, beyond the deadline%)",
      r.stderr)
    assert.are.equal(1, count(srv, "You are @QA ("))
  end)

  it("Anthropic's low credit balance (400) gets the same line", function()
    srv = start({ { status = 400, error = { type = "invalid_request_error",
      message = "Your credit balance is too low to access the Anthropic API." } } })
    local root = repo()
    local r = agent(root, { "panel", ID, "--provider", "anthropic" }, srv.url)
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("^agent: anthropic: the account is out of credit %(HTTP 400: Your credit balance is too low",
      last_line(r.stderr))
    assert.are.equal(1, lines(last_line(r.stderr)))
  end)
end)
