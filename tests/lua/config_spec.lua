-- .agent/etc/agent.yaml: the defaults (with the keys the panel reads), deep merging, YAML
-- null keeping a default, a failure naming the key for a value of the wrong kind, and a
-- warning for an unknown key. The example file in rules-examples uses only known keys, and
-- docs/configuration.md documents every key.
require("agent")
local t = require("testutil")
local config = require("agent.config")
local log = require("agent.log")
local cli = require("agent.cli")

local function repo_with(yaml_text)
  local root = t.tmpdir()
  t.write(root .. "/.agent/etc/agent.yaml", yaml_text)
  return root
end

-- config.load with warnings captured: cfg or nil, failure message; warnings.
local function load(yaml_text)
  local root = repo_with(yaml_text)
  local out = t.tmpdir() .. "/log"
  local f = assert(io.open(out, "w"))
  log.setup({ format = "text", level = "info", program = "agent test", out = f })
  local ok, cfg = pcall(config.load, root)
  f:close()
  log.setup({ out = io.stderr })
  local warnings = {}
  for line in (t.read(out) or ""):gmatch("[^\n]+") do warnings[#warnings + 1] = line end
  if not ok then
    assert(cli.is_failure(cfg), tostring(cfg))
    return nil, cfg.message, warnings
  end
  return cfg, nil, warnings
end

describe("config", function()
  after_each(t.cleanup)

  it("has defaults for every key the panel and synthesis read", function()
    local d = config.defaults()
    assert.are.same({ 4096, 16384, 8, 120, 900 }, { d.panel.max_tokens, d.panel.synthesis_max_tokens, d.panel.jobs, d.panel.timeout, d.panel.deadline })
    assert.are.same({}, d.panel.overrides)
    assert.is_nil(d.agent.provider)
  end)

  it("merges the file over the defaults, lists replacing and maps merging", function()
    local cfg = assert(load("panel:\n  jobs: 2\n  personas: [security, qa]\n  overrides:\n    qa: {provider: anthropic}\nscripts:\n  limits:\n    memory: 0\n"))
    assert.are.same({ 2, 120, 4096 }, { cfg.panel.jobs, cfg.panel.timeout, cfg.panel.max_tokens })
    assert.are.same({ "security", "qa" }, cfg.panel.personas)
    assert.are.same({ qa = { provider = "anthropic" } }, cfg.panel.overrides)
    assert.are.same({ 0, 200000000 }, { cfg.scripts.limits.memory, cfg.scripts.limits.instructions })
  end)

  it("keeps the default for a key left empty, and for an empty file", function()
    local cfg = assert(load("panel:\n  jobs:\n  timeout: 30\ncontext:\n  budget_tokens:\n"))
    assert.are.same({ 8, 30 }, { cfg.panel.jobs, cfg.panel.timeout })
    assert.is_nil(cfg.context.budget_tokens)
    assert.are.same(config.defaults(), assert(load("")))
  end)

  it("fails naming the key and what it must be", function()
    local cases = {
      { "panel: {jobs: eight}", "panel.jobs must be a positive integer %(got 'eight'%)" },
      { "panel: {jobs: 0}", "panel.jobs must be a positive integer %(got 0%)" },
      { "panel: {timeout: -1}", "panel.timeout must be a positive number of seconds" },
      { "agent: {provider: [openai]}", "agent.provider must be a string %(got a list%)" },
      { "agent: {models: {openai: 4}}", "agent.models.openai must be a string %(got 4%)" },
      { "panel: {personas: security}", "panel.personas must be a list of persona ids" },
      { "panel: [a]", "panel must be a mapping %(got a list%)" },
      { "scripts: {trusted: yes}", "scripts.trusted must be true or false %(got 'yes'%)" },
      { "scripts: {limits: {memory: -1}}", "scripts.limits.memory must be a non%-negative integer" },
      { "context: {budget_tokens: {default: 0}}", "context.budget_tokens must be a positive number of tokens, or a map" },
      { "hello", "expected a mapping of sections" },
    }
    for _, c in ipairs(cases) do
      local cfg, msg = load(c[1] .. "\n")
      assert.is_nil(cfg, c[1])
      assert.matches("^%.agent/etc/agent%.yaml: " .. c[2], msg)
      assert.is_nil(msg:find("\n"), msg)
    end
  end)

  it("accepts a budget per model or provider, and a plain number", function()
    assert.are.same({ ["gpt-4o"] = 1000, default = 500 },
      assert(load("context:\n  budget_tokens: {gpt-4o: 1000, default: 500}\n")).context.budget_tokens)
    assert.are.equal(60000, assert(load("context: {budget_tokens: 60000}\n")).context.budget_tokens)
  end)

  it("warns about an unknown key, naming it, and ignores it", function()
    local cfg, _, warnings = load("panle: {jobs: 3}\nagent: {provider: offline, colour: red}\npanel:\n  overrides:\n    qa: {temp: 1}\n")
    assert.are.same({
      "agent test: warning: .agent/etc/agent.yaml: unknown key 'agent.colour' ignored (docs/configuration.md lists the keys)",
      "agent test: warning: .agent/etc/agent.yaml: unknown key 'panel.overrides.qa.temp' ignored (docs/configuration.md lists the keys)",
      "agent test: warning: .agent/etc/agent.yaml: unknown key 'panle' ignored (docs/configuration.md lists the keys)",
    }, warnings)
    assert.are.equal("offline", cfg.agent.provider)
    assert.is_nil(cfg.panle)
    assert.are.same({ qa = {} }, cfg.panel.overrides)
  end)

  it("loads rules-examples' agent.yaml with no warning, every setting at its documented default", function()
    local cfg, err, warnings = load(assert(t.read(t.src .. "/rules-examples/.agent/etc/agent.yaml")))
    assert(cfg, err)
    assert.are.same({}, warnings)
    local d = config.defaults()
    for _, key in ipairs({ "jobs", "timeout", "deadline", "max_tokens", "synthesis_max_tokens" }) do
      assert.are.equal(d.panel[key], cfg.panel[key], "panel." .. key)
    end
    assert.are.same(d.scripts, cfg.scripts)
    assert.are.same(d.limits, cfg.limits)
    assert.are.same(d.redact, cfg.redact)
  end)

  it("is documented key by key in docs/configuration.md", function()
    local doc = assert(t.read(t.src .. "/docs/configuration.md"))
    local missing = {}
    for _, k in ipairs(config.keys()) do
      -- "panel.overrides.*.model" is written `panel.overrides.<id>.model`
      local pat = k[1]:gsub("[%p]", "%%%0"):gsub("%%%*", "<%%w+>")
      if not doc:find("`" .. pat .. "`") then missing[#missing + 1] = k[1] end
    end
    assert.are.same({}, missing)
  end)
end)
