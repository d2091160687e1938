-- --log-format json (and AGENT_LOG_FORMAT=json), end to end: the real binary runs the panel
-- and the synthesis against tests/servers/llm_server.py with an API key planted in the
-- environment. Every stderr line must be one JSON object with ts, level, run_id and event;
-- persona, synthesis and usage events carry provider, model, duration and tokens; one
-- run_id per invocation; and no line holds the key, even when the server echoes it back.
local t = require("testutil")
local json = require("agent").json

local ID = "INFRA-012"
local KEY = "sk-log-test-5d8e1f0a9b7c"
local WRONG_KEY = "sk-not-the-right-one-42af"

local SYNTHESIS = { goal = "Make POST /orders idempotent.", verification = "pytest", rollback = "revert" }

-- Every persona of root's panel approves, its whole checklist assessed; the synthesis
-- returns SYNTHESIS.
local function start_server(root)
  local dir = t.tmpdir()
  local rules = t.review_rules(root, { verdict = "APPROVE", summary = "Reviewed.", items = json.array(), sections = {} })
  rules[#rules + 1] = { match = "You write the implementation runbook", reply = SYNTHESIS }
  local scenario = t.write(dir .. "/scenario.json", json.encode(rules))
  return t.start_server("llm_server.py", { "--key", KEY, "--scenario", scenario })
end

local repo = t.example_repo

local function run(root, srv, args, env)
  local full = { OPENAI_BASE_URL = srv.url .. "/v1", OPENAI_API_KEY = KEY, ANTHROPIC_API_KEY = false,
                 GEMINI_API_KEY = false, GOOGLE_API_KEY = false, AGENT_LOG_FORMAT = false, NO_COLOR = "1",
                 http_proxy = false, https_proxy = false, HTTP_PROXY = false, HTTPS_PROXY = false }
  for k, v in pairs(env or {}) do full[k] = v end
  return t.run(args, { cwd = root, env = full })
end

-- Valgrind's own lines under AGENT_VALGRIND=1 ("--123-- WARNING: unhandled ... syscall"
-- for openat2): not agent's output.
local function from_valgrind(line)
  return os.getenv("AGENT_VALGRIND") == "1" and (line:match("^%-%-%d+%-%- ") or line:match("^==%d+== "))
end

-- Every stderr line decoded; fails on the first line that is not a JSON object.
local function records(stderr)
  local out = {}
  for line in stderr:gmatch("[^\n]+") do
    if not from_valgrind(line) then
      local rec, err = json.decode(line)
      assert(type(rec) == "table", ("stderr line is not a JSON object (%s): %s"):format(tostring(err), line))
      out[#out + 1] = rec
    end
  end
  assert.is_true(#out > 0, "no log lines at all")
  return out
end

local function by_event(recs, name)
  local out = {}
  for _, r in ipairs(recs) do if r.event == name then out[#out + 1] = r end end
  return out
end

local function assert_common(recs)
  local run_id = recs[1].run_id
  assert.matches("^%x+$", run_id)
  for _, r in ipairs(recs) do
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.ts)
    assert.is_truthy(({ debug = 1, info = 1, warn = 1, error = 1 })[r.level], r.level)
    assert.is_string(r.event)
    assert.are.equal(run_id, r.run_id)
  end
  return run_id
end

local function assert_no_key(stderr, stdout)
  for _, key in ipairs({ KEY, WRONG_KEY }) do
    assert.is_nil(stderr:find(key, 1, true), "a key reached stderr")
    assert.is_nil((stdout or ""):find(key, 1, true), "a key reached stdout")
  end
end

-- A whole non-negative number (lua-cjson decodes every number as a float).
local function is_count(v) return type(v) == "number" and v >= 0 and v % 1 == 0 end

describe("--log-format json", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  it("new-runbook with a model: one JSON object per line, persona events with their usage, no key", function()
    local root = repo()
    srv = start_server(root)
    local r = run(root, srv, { "new-runbook", ID, "--provider", "openai", "--model", "gpt-test", "--log-format", "json" })
    assert.are.equal(0, r.code, r.stderr)
    assert_no_key(r.stderr, r.stdout)
    local recs = records(r.stderr)
    assert_common(recs)

    local start = by_event(recs, "panel_start")
    assert.are.equal(1, #start)
    assert.are.same({ "openai", "gpt-test", ID }, { start[1].provider, start[1].model, start[1].story })

    local personas = by_event(recs, "persona")
    assert.are.equal(start[1].personas, #personas)
    local total_in, total_out, seen = 0, 0, {}
    for _, p in ipairs(personas) do
      assert.is_string(p.persona)
      assert.is_nil(seen[p.persona], "two events for " .. p.persona)
      seen[p.persona] = true
      assert.are.same({ "openai", "gpt-test", "ok", "APPROVE" }, { p.provider, p.model, p.status, p.verdict })
      assert.is_true(is_count(p.duration_ms), p.persona)
      assert.is_true(p.tokens_in > 0 and p.tokens_out > 0, p.persona .. ": no tokens")
      total_in, total_out = total_in + p.tokens_in, total_out + p.tokens_out
    end
    assert.is_true(seen.security and seen.architect)

    local synth = by_event(recs, "synthesis")
    assert.are.equal(1, #synth)
    assert.are.same({ "openai", "gpt-test", "ok" }, { synth[1].provider, synth[1].model, synth[1].status })
    assert.is_true(synth[1].tokens_in > 0 and is_count(synth[1].duration_ms))

    local written = by_event(recs, "runbook_written")
    assert.are.equal(".agent/cache/runbooks/INFRA/INFRA-012-runbook.md", written[1].path)
    assert.are.equal(0, written[1].status)

    local usage = by_event(recs, "usage")
    assert.are.equal(1, #usage)
    assert.are.equal(total_in + synth[1].tokens_in, usage[1].tokens_in)
    assert.are.equal(total_out + synth[1].tokens_out, usage[1].tokens_out)
    assert.is_true(is_count(usage[1].duration_ms))
  end)

  it("a refused key: persona events say no_review, and neither key appears although the server echoes it", function()
    local root = repo()
    srv = start_server(root)
    local r = run(root, srv, { "panel", ID, "--provider", "openai", "--json" },
      { OPENAI_API_KEY = WRONG_KEY, AGENT_LOG_FORMAT = "json" })
    assert.are.equal(1, r.code, r.stderr) -- every persona refused alike: the run stops
    assert_no_key(r.stderr, r.stdout)
    local recs = records(r.stderr)
    assert_common(recs)
    local personas = by_event(recs, "persona")
    assert.is_true(#personas > 0)
    for _, p in ipairs(personas) do
      assert.are.equal("no_review", p.status)
      assert.matches("API key was refused", p.error)
      assert.are.equal(0, p.tokens_out)
    end
    local failed = by_event(recs, "failed")
    assert.are.equal(1, #failed)
    assert.are.equal(1, failed[1].exit)
    assert.matches("API key was refused", failed[1].msg)
  end)

  it("gives each invocation its own run_id, and leaves text mode as it was", function()
    local root = repo()
    srv = start_server(root)
    local a = records(run(root, srv, { "panel", ID, "--log-format", "json" }).stderr)
    local b = records(run(root, srv, { "panel", ID, "--log-format", "json" }).stderr)
    assert.are_not.equal(assert_common(a), assert_common(b))
    local text = run(root, srv, { "panel", ID })
    assert.are.equal(0, text.code, text.stderr)
    assert.is_nil(text.stderr:find("{", 1, true))
    assert.matches("agent panel: @Security: APPROVE", text.stderr)
  end)

  it("masks a provider key wherever it appears and drops fields named like credentials", function()
    local script = t.write(t.tmpdir() .. "/log.lua", ([[
require("agent")
local log = require("agent.log")
log.setup({ format = "json" })
log.info("sent %s to the server", { event = "probe", note = "x-%s-y", api_key = "a", openai_api_key = "b",
  auth_token = "c", password = "d", tokens_in = 3 })
log.setup({ format = "text", program = "probe" })
log.warn("text too: %s")
]]):gsub("%%s", KEY))
    local out = t.tmpdir() .. "/stderr"
    assert(t.sh(("OPENAI_API_KEY=%s LUA_CPATH=%s lua5.4 %s 2>%s"):format(
      t.q(KEY), t.q(os.getenv("LUA_CPATH") or ""), t.q(script), t.q(out))))
    local stderr = t.read(out)
    assert_no_key(stderr)
    local lines = {}
    for line in stderr:gmatch("[^\n]+") do lines[#lines + 1] = line end
    local rec = assert(json.decode(lines[1]))
    assert.are.same({ "probe", "sent [key] to the server", "x-[key]-y", 3 }, { rec.event, rec.msg, rec.note, rec.tokens_in })
    for _, k in ipairs({ "api_key", "openai_api_key", "auth_token", "password" }) do assert.is_nil(rec[k], k) end
    assert.matches('^{"ts":"[^"]+","level":"info","run_id":"%x+","event":"probe","msg":', lines[1])
    assert.are.equal("probe: warning: text too: [key]", lines[2])
  end)

  it("ends a failed run with a JSON error line, whether the failure came before or after logging began", function()
    local root = repo()
    local cases = {
      { args = { "new-runbook", "INFRA-999", "--log-format", "json" }, code = 1, kind = "fail", msg = "INFRA%-999" },
      { args = { "new-runbook", ID, "--frob", "--log-format=json" }, code = 2, kind = "usage", msg = "unknown flag '%-%-frob'" },
      { args = { "panel" }, env = { AGENT_LOG_FORMAT = "json" }, code = 2, kind = "usage", msg = "STORY%-ID" },
    }
    for _, c in ipairs(cases) do
      local r = t.run(c.args, { cwd = root, env = c.env })
      assert.are.equal(c.code, r.code, r.stderr)
      local recs = records(r.stderr)
      local last = recs[#recs]
      assert.are.same({ "error", "failed", c.code, c.kind }, { last.level, last.event, last.exit, last.kind })
      assert.matches(c.msg, last.msg)
    end
    local text = t.run({ "new-runbook", "INFRA-999" }, { cwd = root })
    assert.matches("^agent: [^\n]*INFRA%-999[^\n]*\n$", text.stderr)
  end)

  it("refuses an unknown format in one line", function()
    local root = repo()
    srv = start_server(root)
    local r = run(root, srv, { "panel", ID, "--log-format", "xml" })
    assert.are.equal(2, r.code)
    assert.matches("%-%-log%-format must be 'text' or 'json', got 'xml'", r.stderr)
  end)
end)
