-- The review session `agent panel` and `agent new-runbook` share: their flags, the story,
-- the context, the panel run with its progress display on stderr, the exit status the
-- panel implies, the usage summary and the personas' JSON.
local cli = require("agent.cli")
local log = require("agent.log")
local sys = require("agent.sys")
local json = require("agent.json")

local M = {}

-- Flags of every command that runs the panel.
M.REVIEW_FLAGS = {
  { name = "provider", type = "string", arg = "NAME", complete = "provider", help = "model provider: offline, openai, anthropic, gemini, ollama (default: agent.provider, else offline)" },
  { name = "model", type = "string", arg = "MODEL", help = "model name (default: agent.models.<provider>, else the provider's default)" },
  { name = "fresh", type = "boolean", help = "ignore cached replies (new replies are still cached)" },
  { name = "timeout", type = "number", arg = "SECONDS", help = "per model call (default: panel.timeout, 120)" },
  { name = "deadline", type = "number", arg = "SECONDS", help = "for the whole run (default: panel.deadline, 900)" },
  { name = "jobs", type = "number", arg = "N", help = "model calls in flight at once (default: panel.jobs, 8)" },
  { name = "budget", type = "number", arg = "TOKENS", help = "context budget per prompt (default: context.budget_tokens, per model or provider, else 100000)" },
}

-- ---- Output helpers ----------------------------------------------------------------------

local function human_stderr(opts)
  return not opts.quiet and log.format() == "text"
end

local function seconds(ms) return ("%.1fs"):format((ms or 0) / 1000) end

local COLORS = { APPROVE = "32", CHANGES = "33", BLOCK = "31", error = "31", dim = "2" }

-- The one-word-or-so state of a persona for the progress lines (and agent panel's output).
local function state_text(r)
  if r.status == "ok" then
    local notes = {}
    if r.cached then notes[#notes + 1] = "cached" end
    if (r.unknown_citations or 0) > 0 then
      notes[#notes + 1] = ("%d citation%s not in context"):format(r.unknown_citations, r.unknown_citations == 1 and "" or "s")
    end
    return r.verdict .. (#notes > 0 and (" (" .. table.concat(notes, ", ") .. ")") or ""), r.verdict
  end
  if r.status == "script_error" then return "SCRIPT ERROR: " .. tostring(r.error), "error" end
  return "NO USABLE REVIEW: " .. tostring(r.error), "error"
end

-- ---- Progress on stderr ------------------------------------------------------------------
-- On a terminal: one line per persona, redrawn in place as states change. Otherwise: one
-- plain line per persona as it finishes (through log, so --quiet and --log-format hold).

local Progress = {}
Progress.__index = Progress

function M.progress(opts, members)
  local p = setmetatable({ rows = {}, live = false, color = log.color(), drawn = 0, t0 = sys.clock() }, Progress)
  p.live = human_stderr(opts) and sys.isatty("stderr")
  p.width = 12
  for i, m in ipairs(members) do
    p.rows[i] = { id = m.id, name = m.name or ("@" .. m.id), state = "waiting", elapsed = nil }
    p.width = math.max(p.width, #p.rows[i].name)
  end
  return p
end

function Progress:paint(text, key)
  if not self.color or not COLORS[key] then return text end
  return "\27[" .. COLORS[key] .. "m" .. text .. "\27[0m"
end

function Progress:row_text(row)
  local elapsed = row.elapsed and seconds(row.elapsed) or seconds(sys.clock() - self.t0)
  local state = #row.state > 100 and (row.state:sub(1, 97) .. "...") or row.state
  return ("  %-" .. self.width .. "s  %6s  %s"):format(row.name, elapsed, self:paint(state, row.key))
end

function Progress:draw()
  if not self.live then return end
  local out = {}
  if self.drawn > 0 then out[1] = ("\27[%dF"):format(self.drawn) end
  for _, row in ipairs(self.rows) do out[#out + 1] = "\27[2K" .. self:row_text(row) .. "\n" end
  io.stderr:write(table.concat(out))
  io.stderr:flush()
  self.drawn = #self.rows
end

-- A persona's result as the fields of its JSON log event.
local function persona_fields(r)
  return log.usage_fields({ event = "persona", persona = r.id, provider = r.provider, model = r.model,
    status = r.status, verdict = r.verdict, error = r.error, cached = r.cached or false,
    attempts = r.attempts }, r.elapsed_ms, r.tokens)
end

-- Receives panel.review's events.
function Progress:event(kind, i, data)
  local row = self.rows[i]
  if not row then return end
  if kind == "start" then
    row.state = "reviewing"
    if i < #self.rows then return end -- the whole panel starts at once: draw it once
  elseif kind == "progress" then
    row.state = ("receiving (%d chars)"):format(data)
  elseif kind == "reply" then
    row.state = data.error and "failed" or "received"
  elseif kind == "retry" then
    row.state = "retrying: " .. tostring(data)
    if not self.live then
      log.info(("%s: reply unusable (%s); retrying once"):format(row.name, tostring(data)),
        { event = "persona_retry", persona = row.id, reason = tostring(data) })
    end
  elseif kind == "done" then
    row.state, row.key = state_text(data)
    row.elapsed = data.elapsed_ms
    if not self.live then log.info(("%s: %s (%s)"):format(row.name, row.state, seconds(row.elapsed)), persona_fields(data)) end
  end
  self:draw()
end

-- ---- The review session ------------------------------------------------------------------

local function budget_configured(config)
  return config and config.context and config.context.budget_tokens ~= nil
end

local function positive(opts, name, integer)
  local v = opts[name]
  if v == nil then return nil end
  if v <= 0 or (integer and math.type(v) ~= "integer" and v ~= math.floor(v)) then
    cli.usage_error(("flag --%s must be a positive %s, got %s"):format(name, integer and "integer" or "number", tostring(v)))
  end
  return integer and math.floor(v) or v
end

local function validate_flags(opts)
  return {
    timeout = positive(opts, "timeout"), deadline = positive(opts, "deadline"),
    jobs = positive(opts, "jobs", true), budget = positive(opts, "budget", true),
  }
end

-- Finds and checks the story. require_committed: refuse any other state.
local function find_story(ctx, id, require_committed)
  local story = require("agent.story")
  local ok, why = story.validate_id(id)
  if not ok then cli.usage_error(why) end
  local s, err = story.find(ctx.root, id, ctx.config)
  if not s then cli.fail(cli.EXIT.fail, err) end
  if require_committed then
    local committed, msg = story.check_committed(s)
    if not committed then cli.fail(cli.EXIT.fail, msg) end
  end
  return s
end

local function choose_provider(opts, config)
  local providers = require("agent.providers")
  local name, model = providers.choose({ provider = opts.provider, model = opts.model }, config)
  if not name then
    if opts.provider then cli.usage_error("--provider: " .. model) end
    cli.fail(cli.EXIT.fail, ".agent/etc/agent.yaml: agent.provider: " .. model)
  end
  return name, model
end

-- The members (by name) each provider of the panel would serve; the run's own provider is
-- keyed too (the synthesis uses it), with no names when no member uses it.
local function providers_needed(S)
  local panel = require("agent.panel")
  local env = { config = S.config, provider = S.provider, model = S.model, explicit_provider = S.explicit_provider }
  local needed = { [S.provider] = {} }
  for _, m in ipairs(S.members) do
    local name = m.status == "ok" and panel.provider_for(m, env)
    if name then
      needed[name] = needed[name] or {}
      table.insert(needed[name], m.name or ("@" .. m.id))
    end
  end
  return needed
end

-- Fails (exit 1, one line, nothing sent or written) when a provider the run would call has
-- no key: every call would fail, and a runbook of "no usable review" helps nobody.
-- with_synthesis: the run's own provider is called even when no persona uses it.
function M.check_keys(S, with_synthesis)
  local providers = require("agent.providers")
  local needed = providers_needed(S)
  local names = {}
  for name, who in pairs(needed) do
    if #who > 0 or with_synthesis then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local ok, msg = providers.check_key(name, S.config)
    if not ok then
      if name ~= S.provider then msg = ("%s (needed by %s)"):format(msg, table.concat(needed[name], ", ")) end
      cli.fail(cli.EXIT.fail, msg)
    end
  end
end

-- Redaction counts of everything sent: per kind, the most any one prompt carried (each
-- prompt holds the same documents, so a sum would count one secret once per persona).
function M.redactions(results, extra)
  local redact = require("agent.redact")
  local out = {}
  for _, r in ipairs(results or {}) do redact.max_counts(out, r.redactions) end
  return redact.max_counts(out, extra)
end

function M.redaction_line(counts)
  local kinds = {}
  for kind, n in pairs(counts) do if n > 0 then kinds[#kinds + 1] = kind end end
  if #kinds == 0 then return nil end
  table.sort(kinds)
  for i, kind in ipairs(kinds) do kinds[i] = ("%s %d"):format(kind, counts[kind]) end
  return "redacted before sending: " .. table.concat(kinds, ", ")
end

-- Everything up to the panel: flags, story, provider, context, personas, cache.
-- Returns the session S = {opts, ctx, root, config, story, gathered, provider, model,
-- explicit_provider, members, store, t0, deadline_at, timeout, jobs, budget}.
function M.prepare(opts, ctx, require_committed)
  local flags = validate_flags(opts)
  local config = ctx.config
  local S = { opts = opts, ctx = ctx, root = ctx.root, config = config, t0 = sys.clock() }
  S.story = find_story(ctx, opts.args[1], require_committed)
  S.provider, S.model = choose_provider(opts, config)
  S.explicit_provider = opts.provider ~= nil
  local panel_cfg = config.panel or {}
  S.timeout = flags.timeout or panel_cfg.timeout
  S.jobs = flags.jobs or panel_cfg.jobs
  S.budget = flags.budget -- else per model: panel.budget_for
  local deadline = flags.deadline or panel_cfg.deadline
  S.deadline_at = deadline and (S.t0 + deadline * 1000) or nil
  require("agent.script_api").install(ctx.root, { redact = ctx.config.redact })
  local members, warnings = require("agent.panel").load(ctx.root, config)
  if not members then cli.fail(cli.EXIT.fail, warnings) end
  for _, w in ipairs(warnings) do log.warn(w) end
  S.members = members
  M.check_keys(S, require_committed)
  S.store = require("agent.cache").open(ctx.root, S.story.id, { fresh = opts.fresh })
  return S
end

-- Gathers the context (its warnings on stderr).
function M.gather(S)
  local gathered = require("agent.context").gather(S.root, S.story, S.config)
  for _, w in ipairs(gathered.warnings or {}) do log.warn(w) end
  S.gathered = gathered
  return gathered
end

-- Runs the panel with the progress display. Returns the results.
function M.run_panel(S)
  local opts = S.opts
  local label = S.provider == "offline" and "offline" or (S.provider .. "/" .. tostring(S.model))
  log.info(("%s: panel of %d reviewing with %s"):format(S.story.id, #S.members, label),
    { event = "panel_start", story = S.story.id, provider = S.provider, model = S.model, personas = #S.members })
  local progress = M.progress(opts, S.members)
  local results = require("agent.panel").review(S.members, {
    story = S.story, gathered = S.gathered, config = S.config, root = S.root,
    provider = S.provider, model = S.model, explicit_provider = S.explicit_provider,
    store = S.store, timeout = S.timeout, deadline_at = S.deadline_at, jobs = S.jobs,
    budget_tokens = S.budget,
    -- replies are streamed only for the live progress lines that show characters arriving;
    -- elsewhere a whole reply keeps agent.http's retry of a transfer cut mid-way (a stream
    -- cut after its first event cannot be retried)
    stream = progress.live,
    on_event = function(kind, i, data) progress:event(kind, i, data) end,
  })
  S.results = results
  M.warn_cuts(S, results)
  return results
end

-- What the cut lists of results took that a review cannot do without: the story (cut to
-- fit) and the alwaysApply rules. Returns story_cut, rules (sorted relpaths), the first
-- result that lost any of them.
local function essential_cuts(S, results)
  local always = {}
  for _, rule in ipairs(S.gathered and S.gathered.rules or {}) do
    if rule.always_apply then always[rule.relpath] = true end
  end
  local story_name = S.story.relpath
  local story_cut, seen, rules, first = false, {}, {}, nil
  for _, r in ipairs(results) do
    for _, name in ipairs(r.cut or {}) do
      local path = tostring(name):gsub(" %(truncated%)$", "")
      local hit = path == story_name or always[path]
      if path == story_name then story_cut = true end
      if always[path] and not seen[path] then seen[path] = true rules[#rules + 1] = path end
      if hit then first = first or r end
    end
  end
  table.sort(rules)
  return story_cut, rules, first
end

-- Warns once when the budget cut the story or an alwaysApply rule out of a persona's prompt:
-- a review that never saw them cites them "(not in context)" and says little.
function M.warn_cuts(S, results)
  local story_cut, rules, r = essential_cuts(S, results)
  if not r then return end
  local budget = require("agent.panel").budget_for(S.config, S.budget, r.provider, r.model)
    or require("agent.context").DEFAULT_BUDGET_TOKENS
  local source = S.budget and "--budget" or (budget_configured(S.config) and "context.budget_tokens" or "the default")
  local what = {}
  if story_cut then what[#what + 1] = "the story (truncated)" end
  if #rules > 0 then
    what[#what + 1] = ("%d alwaysApply rule%s (%s)"):format(#rules, #rules == 1 and "" or "s", table.concat(rules, ", "))
  end
  log.warn(("context budget of %d tokens (%s) cut %s from the personas' prompts; raise --budget or context.budget_tokens")
    :format(budget, source, table.concat(what, " and ")))
end

-- Exits with the signal's status when a SIGINT/SIGTERM arrived: the replies that came in are
-- already cached, and nothing has been written yet.
function M.check_interrupted(S)
  local sig = require("agent.host").interrupted()
  if sig then
    cli.fail(sig == "SIGINT" and cli.EXIT.sigint or cli.EXIT.sigterm,
      ("interrupted by %s; replies received so far are cached in .agent/cache/panel/%s/"):format(sig, S.story.id))
  end
end

-- The failure kinds every call to a service shares: a refused key or account, an exhausted
-- account, a model (or path) that does not exist, a host that cannot be reached.
local SHARED_KINDS = { auth = true, forbidden = true, quota = true, not_found = true,
                       connect = true, dns = true, tls = true }

-- Fails (exit 1, one line, before the synthesis and before anything is written) when every
-- persona's call failed for a reason all of them share: a runbook of "no usable review"
-- helps nobody, and the next run would need --force. The line is the distinct messages, the
-- first persona's first. Partial failures are left to the exit status (5).
function M.check_shared_failure(results)
  local seen, msgs = {}, {}
  for _, r in ipairs(results) do
    if r.status ~= "no_review" or not SHARED_KINDS[r.error_kind] then return end
    local msg = tostring(r.error)
    if not seen[msg] then seen[msg], msgs[#msgs + 1] = true, msg end
  end
  if #msgs > 0 then cli.fail(cli.EXIT.fail, table.concat(msgs, "; ")) end
end

-- The exit status the panel alone implies: 3 when a persona script failed, else 5 when a
-- persona gave no usable review, else 6 when a persona BLOCKs, else 0.
function M.panel_status(results)
  local incomplete, blocked = false, false
  for _, r in ipairs(results) do
    if r.status == "script_error" then return cli.EXIT.script end
    if r.status ~= "ok" then incomplete = true end
    if r.status == "ok" and r.verdict == "BLOCK" then blocked = true end
  end
  if incomplete then return cli.EXIT.incomplete end
  return blocked and cli.EXIT.blocked or cli.EXIT.ok
end

-- Per-persona time and tokens, plus extra rows ({name=, elapsed_ms=, tokens=, cached=}),
-- and the total, on stderr.
function M.usage_summary(S, extra)
  if not human_stderr(S.opts) then
    local tokens = { input = 0, output = 0 }
    local function add(t)
      tokens.input, tokens.output = tokens.input + (t and t.input or 0), tokens.output + (t and t.output or 0)
    end
    for _, r in ipairs(S.results or {}) do add(r.tokens) end
    for _, e in ipairs(extra or {}) do add(e.tokens) end
    log.event("info", log.usage_fields({ event = "usage", story = S.story.id }, sys.clock() - S.t0, tokens))
    return
  end
  local rows, total_in, total_out = {}, 0, 0
  local function add(name, ms, tokens, cached)
    tokens = tokens or {}
    local tin, tout = tokens.input or 0, tokens.output or 0
    total_in, total_out = total_in + tin, total_out + tout
    local t = cached and "cached" or (tin + tout > 0 and ("%d in / %d out tokens"):format(tin, tout) or "no tokens")
    rows[#rows + 1] = ("  %-16s %7s  %s"):format(name, seconds(ms), t)
  end
  for _, r in ipairs(S.results or {}) do add(r.name, r.elapsed_ms, r.tokens, r.cached) end
  for _, e in ipairs(extra or {}) do add(e.name, e.elapsed_ms, e.tokens, e.cached) end
  rows[#rows + 1] = ("  %-16s %7s  %d in / %d out tokens"):format("total", seconds(sys.clock() - S.t0), total_in, total_out)
  io.stderr:write("usage:\n", table.concat(rows, "\n"), "\n")
end

-- The per-persona part of the JSON summaries.
function M.json_personas(results)
  local verdicts, timings, tokens, personas = {}, {}, {}, json.array({})
  for _, r in ipairs(results) do
    verdicts[r.id] = r.status == "ok" and r.verdict or r.status
    timings[r.id] = math.floor((r.elapsed_ms or 0) + 0.5)
    tokens[r.id] = { input = r.tokens and r.tokens.input or 0, output = r.tokens and r.tokens.output or 0 }
    personas[#personas + 1] = {
      id = r.id, name = r.name, status = r.status, verdict = r.verdict, error = r.error, cached = r.cached,
      provider = r.provider, model = r.model, summary = r.summary,
      items = json.array(r.items or {}), checklist = json.array(r.checklist or {}), sections = r.sections or {},
    }
  end
  return verdicts, timings, tokens, personas
end

M.state_text = state_text

return M
