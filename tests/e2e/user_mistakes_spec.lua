-- The real binary on what a user gets wrong: a missing key, a misspelt roster or override, a
-- bad environment variable, a budget that cuts the story, a broken rule, and what -v shows.
-- Each case is a defect a reviewer found by using agent (docs/usage.md, docs/providers.md).
local t = require("testutil")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local repo = t.example_repo

local KEYS = { "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AGENT_LOG_FORMAT",
  "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "XDG_CONFIG_HOME" }

-- Runs agent in root with no provider key in the environment but those env sets.
local function agent(root, args, env)
  env = env or {}
  for _, k in ipairs(KEYS) do if env[k] == nil then env[k] = false end end
  env.NO_COLOR = "1"
  return t.run(args, { cwd = root, env = env })
end

local function config(root, extra)
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\n" .. (extra or ""))
end

describe("a missing API key", function()
  after_each(t.cleanup)

  local function offline_runbook(root)
    assert.are.equal(0, agent(root, { "new-runbook", ID }).code)
    return t.read(root .. "/" .. RUNBOOK)
  end

  it("fails new-runbook before any request, in one line, and leaves the runbook alone", function()
    local root = repo()
    local before = offline_runbook(root)
    local r = agent(root, { "new-runbook", ID, "--force", "--provider", "anthropic" })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: anthropic: no API key: set ANTHROPIC_API_KEY\n", r.stderr)
    assert.are.equal("", r.stdout)
    assert.are.equal(before, t.read(root .. "/" .. RUNBOOK))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK .. ".bak"))
  end)

  it("fails agent panel the same way", function()
    local r = agent(repo(), { "panel", ID, "--provider", "gemini" })
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("^agent: gemini: no API key: set GEMINI_API_KEY %(or GOOGLE_API_KEY%)\n$", r.stderr)
  end)

  it("is found for a persona's own provider (panel.overrides) and names the persona", function()
    local root = repo()
    config(root, "panel:\n  overrides:\n    security: {provider: openai}\n")
    local r = agent(root, { "panel", ID })
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("openai: no API key: set OPENAI_API_KEY %(needed by @Security%)", r.stderr)
    assert.is_nil(r.stderr:find("NO USABLE REVIEW", 1, true))
  end)

  it("is not asked for when the key is set (the request is then sent and fails on its own)", function()
    local root = repo()
    local r = agent(root, { "panel", ID, "--provider", "anthropic", "--timeout", "2" },
      { ANTHROPIC_API_KEY = "sk-test", ANTHROPIC_BASE_URL = "http://127.0.0.1:9" })
    assert.are.equal(1, r.code, r.stderr) -- the connection refused for every persona
    assert.matches("\nagent: anthropic: POST 'http://127.0.0.1:9/v1/messages': cannot connect", r.stderr)
    assert.is_nil(r.stderr:find("no API key", 1, true))
  end)
end)

describe("the roster (.agent/etc/agents.yaml)", function()
  after_each(t.cleanup)

  local function roster(root, text)
    t.write(root .. "/.agent/etc/agents.yaml", text)
  end

  it("warns about a misspelt member key, naming the file, line and key", function()
    local root = repo()
    roster(root, "team:\n  - role: dba\n    name: DBA\n    responsibilities: [\"Review migrations\"]\n"
      .. "    governance_chekcs: [\"Is there a down migration?\"]\n")
    local r = agent(root, { "panel", ID })
    assert.matches("warning: %.agent/etc/agents%.yaml:2: team%[1%] %(role 'dba'%): unknown key 'governance_chekcs' ignored", r.stderr)
  end)

  it("refuses a member with nothing to check rather than let it approve everything", function()
    local root = repo()
    roster(root, "team:\n  - role: qa\n    governance_checks: [\"Tests?\"]\n  - role: dba\n    name: DBA\n"
      .. "    governance_chekcs: [\"Is there a down migration?\"]\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("agent: %.agent/etc/agents%.yaml:4: team%[2%] %(role 'dba'%): no governance_checks", r.stderr)
    assert.is_nil(t.read(root .. "/" .. RUNBOOK))
  end)

  it("warns about an unknown top-level key (a misspelt team: drops the whole roster)", function()
    local root = repo()
    roster(root, "teem:\n  - role: dba\n    governance_checks: [\"Down migration?\"]\n")
    local r = agent(root, { "panel", ID })
    assert.matches("warning: %.agent/etc/agents%.yaml: unknown key 'teem' ignored %(known: team%)", r.stderr)
  end)
end)

describe("panel.overrides", function()
  after_each(t.cleanup)

  it("refuses an unknown provider at load, naming the key, like agent.provider", function()
    local root = repo()
    config(root, "panel:\n  overrides:\n    security: {provider: foo}\n")
    local r = agent(root, { "panel", ID })
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("^agent: %.agent/etc/agent%.yaml: panel%.overrides%.security%.provider must be one of offline, openai, anthropic, gemini, ollama %(got 'foo'%)\n$", r.stderr)
  end)

  it("warns about an override for a persona that is not on the panel", function()
    local root = repo()
    config(root, "panel:\n  overrides:\n    secuirty: {provider: offline}\n")
    local r = agent(root, { "panel", ID })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("warning: panel%.overrides%.secuirty: no persona 'secuirty' on the panel; ignored %(on the panel: architect, [%w, ]*security", r.stderr)
  end)
end)

describe("a bad value names where it came from", function()
  after_each(t.cleanup)

  it("names the budget map's key whose value is wrong", function()
    local root = repo()
    config(root, "context:\n  budget_tokens: {default: 50000, ollama: x}\n")
    local r = agent(root, { "panel", ID })
    assert.are.equal(1, r.code, r.stderr)
    assert.are.equal("agent: .agent/etc/agent.yaml: context.budget_tokens.ollama must be a positive number of tokens (got 'x')\n", r.stderr)
  end)

  it("names AGENT_LOG_FORMAT, not --log-format, when the variable is wrong", function()
    local r = agent(repo(), { "version" }, { AGENT_LOG_FORMAT = "xml" })
    assert.are_not.equal(0, r.code)
    assert.matches("AGENT_LOG_FORMAT must be 'text' or 'json', got 'xml'", r.stderr)
    assert.is_nil(r.stderr:find("--log-format", 1, true))
    local flag = agent(repo(), { "version", "--log-format", "xml" }, { AGENT_LOG_FORMAT = "json" })
    assert.matches("%-%-log%-format must be 'text' or 'json', got 'xml'", flag.stderr)
  end)
end)

describe("messages in user terms", function()
  after_each(t.cleanup)

  it("init says what it could not create, without naming a primitive", function()
    local dir = t.tmpdir()
    local r = agent(dir, { "init", "/proc/nope" })
    assert.are.equal(1, r.code)
    assert.are.equal("agent: cannot create '/proc/nope': No such file or directory\n", r.stderr)
    t.write(dir .. "/afile", "x")
    r = agent(dir, { "init", "afile" })
    assert.are.equal(1, r.code)
    assert.are.equal("agent: cannot set up 'afile': it is a file, not a directory\n", r.stderr)
  end)

  it("--root explains an empty path, a missing one and a file, and suggests init only for a directory", function()
    local dir = t.tmpdir()
    t.write(dir .. "/afile", "x")
    local cases = {
      { "", "^agent: %-%-root: an empty path names no directory" },
      { dir .. "/none", "^agent: %-%-root '[^']+/none': No such file or directory\n$" },
      { dir .. "/afile", "^agent: %-%-root '[^']+/afile': it is a file, not a directory" },
      { dir, "^agent: %-%-root [^ ]+: no %.agent/ directory there %(run 'agent init " },
    }
    for _, c in ipairs(cases) do
      local r = agent(dir, { "list", "stories", "--root", c[1] })
      assert.are.equal(1, r.code, c[1])
      assert.matches(c[2], r.stderr)
      assert.is_nil(r.stderr:find("realpath", 1, true), r.stderr)
    end
  end)
end)

describe("a budget that cuts the story or the alwaysApply rules", function()
  after_each(t.cleanup)

  it("is warned about once, naming the budget, what was cut and how to raise it", function()
    local root = repo()
    local r = agent(root, { "new-runbook", ID, "--budget", "10" })
    local _, n = r.stderr:gsub("warning: context budget", "")
    assert.are.equal(1, n, r.stderr)
    assert.matches("warning: context budget of 10 tokens %(%-%-budget%) cut the story %(truncated%) and 2 alwaysApply rules "
      .. "%(%.agent/rules/000%-core%.mdc, %.agent/rules/300%-security%.mdc%) from the personas' prompts; raise %-%-budget "
      .. "or context%.budget_tokens", r.stderr)
  end)

  it("says nothing when they fit", function()
    local r = agent(repo(), { "panel", ID, "--budget", "100000" })
    assert.is_nil(r.stderr:find("context budget", 1, true), r.stderr)
  end)
end)

describe("a rule with broken frontmatter", function()
  after_each(t.cleanup)

  it("is listed in the runbook's Context Used with the reason, not only warned about", function()
    local root = repo()
    t.write(root .. "/.agent/rules/050-broken.mdc", "---\nalwaysApply: [true\n---\nAlways review the thing.\n")
    local r = agent(root, { "new-runbook", ID })
    assert.matches("050%-broken%.mdc:%d+: broken frontmatter", r.stderr)
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    local used = text:match("## Context Used\n(.*)$")
    assert.matches("Rules skipped, never reviewed %(fix them and run again%):\n\n%- `%.agent/rules/050%-broken%.mdc`: broken frontmatter", used)
    assert.is_nil(used:find("`.agent/rules/100-python.mdc`: broken", 1, true)) -- only the broken one
  end)

  it("adds nothing when every rule could be read", function()
    local root = repo()
    assert.are.equal(0, agent(root, { "new-runbook", ID }).code)
    assert.is_nil(t.read(root .. "/" .. RUNBOOK):find("Rules skipped", 1, true))
  end)
end)

describe("panel --json", function()
  after_each(t.cleanup)

  it("gives a persona whose script failed to load its provider and model, like every result", function()
    local root = repo()
    t.write(root .. "/.agent/personas/security.lua", "return {\n")
    local r = agent(root, { "panel", ID, "--json" })
    assert.are.equal(3, r.code, r.stderr)
    local doc = require("cjson").decode(r.stdout)
    local seen = 0
    for _, p in ipairs(doc.personas) do
      assert.are.equal("offline", p.provider, p.id)
      assert.is_string(p.model, p.id)
      if p.status == "script_error" then seen = seen + 1 end
    end
    assert.are.equal(1, seen)
  end)
end)

describe("-v/--verbose", function()
  after_each(t.cleanup)

  local DEBUG = {
    "config: read %.agent/etc/agent%.yaml",
    "search path: personas/security%.lua %-> [^\n]+/personas/security%.lua %(",
    "rule %.agent/rules/000%-core%.mdc: selected %(alwaysApply: true%)",
    "rule %.agent/rules/600%-web%-ui%.mdc: not selected %(no file matched its globs",
    "context for @Security: %d+ of 100000 tokens, 0 items cut",
  }

  it("shows the config read, search-path hits, rule selection and budget cuts; without -v none of it", function()
    local root = repo()
    config(root)
    local v = agent(root, { "panel", ID, "-v" })
    assert.are.equal(0, v.code, v.stderr)
    for _, p in ipairs(DEBUG) do assert.matches(p, v.stderr) end
    local quiet = agent(root, { "panel", ID })
    for _, p in ipairs(DEBUG) do assert.is_nil(quiet.stderr:match(p), p) end
  end)

  it("shows each model call's cache miss with its timing, then the cache hit", function()
    local srv = t.start_server("llm_server.py", {})
    local root = repo()
    config(root, "panel:\n  personas: [security]\n")
    local env = function() return { OPENAI_BASE_URL = srv.url .. "/v1", OPENAI_API_KEY = "sk-test" } end
    local first = agent(root, { "panel", ID, "--provider", "openai", "-v" }, env())
    local second = agent(root, { "panel", ID, "--provider", "openai", "-v" }, env())
    local plain = agent(root, { "panel", ID, "--provider", "openai" }, env())
    srv.stop()
    assert.matches("security: openai/[^:]+: cache miss; replied in %d+ ms %(1 attempt%)", first.stderr)
    assert.matches("security: openai/[^:]+: cache hit", second.stderr)
    assert.is_nil(second.stderr:find("cache miss", 1, true), second.stderr)
    assert.is_nil(plain.stderr:find("cache hit", 1, true), plain.stderr)
  end)
end)

describe("new-runbook's write failures", function()
  after_each(t.cleanup)

  it("name the path and the reason, not the primitive", function()
    local root = repo()
    t.write(root .. "/.agent/cache/runbooks", "a file where the directory goes\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(1, r.code)
    assert.matches("agent: cannot create %.agent/cache/runbooks/INFRA: Not a directory\n$", r.stderr)
    root = repo()
    t.sh("mkdir -p " .. t.q(root .. "/" .. RUNBOOK))
    r = agent(root, { "new-runbook", ID, "--force" })
    assert.are.equal(1, r.code)
    assert.matches("agent: cannot keep the old runbook as %.bak: cannot read " .. RUNBOOK:gsub("%p", "%%%0") .. ": Is a directory\n$", r.stderr)
  end)
end)
