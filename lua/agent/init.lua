-- require "agent": the Lua API for programs that embed agent (a stock lua5.4 through agent.so,
-- a C host through agent_host_state, `agent lua FILE`). The primitives are the C modules; the
-- pipeline functions run the same code as the CLI commands (commands/*.lua execute) and
-- return what those print, printing nothing on stdout. docs/lua-api.md and
-- docs/embedding.md document it.
--
-- Conventions: a failure the CLI would report (no repository, unknown or uncommitted story,
-- bad config, a broken template, an existing runbook) returns nil, message, exit status;
-- misuse (an unknown option, a wrong type) raises; a bug in agent raises with its traceback.
local cli = require("agent.cli")
local log = require("agent.log")

local M = {
  version = require("agent.host").version,
  fs = require("agent.fs"),
  http = require("agent.http"),
  yaml = require("agent.yaml"),
  markdown = require("agent.markdown"),
  rules = require("agent.rules"),
  sys = require("agent.sys"),
  json = require("agent.json"),
}

-- ---- Options -----------------------------------------------------------------------------

-- Every option a pipeline function may take, with its Lua type and the CLI flag it becomes
-- (story is the command's argument).
local OPTIONS = {
  story = { "string" }, root = { "string", "root" }, scripts = { "table", "scripts" },
  provider = { "string", "provider" }, model = { "string", "model" },
  fresh = { "boolean", "fresh" }, timeout = { "number", "timeout" }, deadline = { "number", "deadline" },
  jobs = { "number", "jobs" }, budget = { "number", "budget" },
  force = { "boolean", "force" }, dry_run = { "boolean", "dry-run" },
  quiet = { "boolean", "quiet" }, verbose = { "boolean", "verbose" }, log_format = { "string", "log-format" },
}

local SESSION = { "root", "scripts", "quiet", "verbose", "log_format" }
local REVIEW = { "story", "provider", "model", "fresh", "timeout", "deadline", "jobs", "budget" }

local function allowed(...)
  local set = {}
  for _, list in ipairs({ ... }) do
    for _, name in ipairs(list) do set[name] = true end
  end
  return set
end

local ALLOWED = {
  new_runbook = allowed(SESSION, REVIEW, { "force", "dry_run" }),
  panel = allowed(SESSION, REVIEW),
  check_runbook = allowed(SESSION),
}

-- Raises (at the caller of the API function) on an option that is unknown or of the wrong
-- type: a typo such as `dryrun = true` must not run the real thing.
local function check_options(fname, t)
  if type(t) ~= "table" then
    error(("agent.%s: expected a table of options, got %s"):format(fname, type(t)), 3)
  end
  for k, v in pairs(t) do
    if not ALLOWED[fname][k] then error(("agent.%s: unknown option '%s'"):format(fname, tostring(k)), 3) end
    local want = OPTIONS[k][1]
    if type(v) ~= want then
      error(("agent.%s: option '%s' must be a %s, got %s"):format(fname, k, want, type(v)), 3)
    end
  end
  for i, dir in ipairs(t.scripts or {}) do
    if type(dir) ~= "string" then error(("agent.%s: scripts[%d] must be a string"):format(fname, i), 3) end
  end
end

-- The command's parsed flags, as cli.parse would build them from the same request. Stderr
-- gets warnings and errors only, unless the host asks for more (quiet = false, verbose).
local function cli_opts(t, args)
  local opts = { args = args }
  for k, v in pairs(t) do
    local flag = OPTIONS[k][2]
    if flag then opts[flag] = v end
  end
  if t.quiet == nil then opts.quiet = not t.verbose end
  return opts
end

-- Runs fn(opts, ctx) as one invocation of command `name`: a new run_id, then the session
-- (logging, repository root, config, search path) exactly as the CLI sets it up. Returns
-- fn's value, or nil, message, exit status for a failure the CLI would report.
local function invoke(name, opts, fn)
  local cmd = assert(cli.command(name), name)
  log.new_run()
  local ok, res = xpcall(function()
    return fn(opts, cli.setup(cmd, opts))
  end, cli.keep_failure)
  if ok then return res end
  if cli.is_failure(res) then return nil, res.message, res.code end
  error(res, 0)
end

-- ---- Results as plain data ---------------------------------------------------------------

-- A deep copy without metatables: results must not share tables with the pipeline.
local function plain(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = plain(x) end
  return out
end

-- One persona's findings from a panel result.
local function finding(r)
  local tokens = r.tokens or {}
  return {
    id = r.id, name = r.name, title = r.title, status = r.status, verdict = r.verdict,
    summary = r.summary, error = r.error, items = plain(r.items or {}),
    checklist = plain(r.checklist or {}), sections = plain(r.sections or {}),
    provider = r.provider, model = r.model, elapsed_ms = r.elapsed_ms, cached = r.cached or false,
    tokens = { input = tokens.input or 0, output = tokens.output or 0 },
    unknown_citations = r.unknown_citations or 0,
  }
end

local function findings(results)
  local out = {}
  for i, r in ipairs(results) do out[i] = finding(r) end
  return out
end

local function story_of(S)
  local s = S.story
  return { id = s.id, title = s.title, scope = s.scope, state = s.state, relpath = s.relpath }
end

-- ---- The pipeline ------------------------------------------------------------------------

-- agent.new_runbook{story=, root=, provider=, model=, dry_run=, force=, fresh=, timeout=,
-- deadline=, jobs=, budget=, scripts=, quiet=, verbose=, log_format=}
--   -> {text=, path=, relpath=, story=, provider=, model=, findings=, gate_problems=,
--       status=, run_id=} | nil, message, status
-- `agent new-runbook`: the runbook is written unless dry_run (path is then nil). status is
-- the exit status the CLI would give (0, or 3/5/6/4 for a written runbook with an incomplete
-- review or gate problems).
function M.new_runbook(t)
  check_options("new_runbook", t)
  if t.story == nil then error("agent.new_runbook: option 'story' (a story ID) is required", 2) end
  local command = require("agent.commands.new_runbook")
  return invoke("new-runbook", cli_opts(t, { t.story }), function(opts, ctx)
    local r = command.execute(opts, ctx)
    require("agent.review").usage_summary(r.session, r.extra)
    local S = r.session
    local problems = {}
    for i, p in ipairs(r.problems) do problems[i] = { line = p.line, message = p.message } end
    return {
      text = r.text, path = r.path,
      relpath = r.path and require("agent.paths").relative(S.root, r.path) or nil,
      story = story_of(S), provider = S.provider, model = S.model,
      findings = findings(r.results), gate_problems = problems, status = r.status, run_id = log.run_id(),
    }
  end)
end

-- agent.panel{story=, root=, provider=, model=, fresh=, timeout=, deadline=, jobs=, budget=,
-- scripts=, quiet=, verbose=, log_format=} -> findings, status | nil, message, status
-- `agent panel`: the review alone, any story state, nothing written but the reply cache.
-- findings has one entry per persona in panel order; status is 0, 3, 5 or 6 as the CLI's.
function M.panel(t)
  check_options("panel", t)
  if t.story == nil then error("agent.panel: option 'story' (a story ID) is required", 2) end
  local command = require("agent.commands.panel")
  local r, err, code = invoke("panel", cli_opts(t, { t.story }), function(opts, ctx)
    local res = command.execute(opts, ctx)
    require("agent.review").usage_summary(res.session)
    return res
  end)
  if not r then return nil, err, code end
  return findings(r.results), r.status
end

-- agent.check_runbook(id_or_path [, {root=, scripts=, quiet=, verbose=, log_format=}])
--   -> {path=, id=, status=, status_form=, steps=, problems = {{line=, message=}...}}
--    | nil, message, status
-- `agent check-runbook`: the gates alone. An ID is looked up under the repository's
-- .agent/cache/runbooks/; anything with a '/' or ending in .md is a path (relative to the
-- working directory). No problems means the runbook passes every gate.
function M.check_runbook(target, t)
  if type(target) ~= "string" then
    error(("agent.check_runbook: expected a runbook ID or path, got %s"):format(type(target)), 2)
  end
  t = t or {}
  check_options("check_runbook", t)
  local command = require("agent.commands.check_runbook")
  return invoke("check-runbook", cli_opts(t, { target }), function(opts, ctx)
    local where = command.locate(ctx, opts.args[1])
    local parsed, problems = command.check(ctx, where, command.read(where))
    local list = {}
    for i, p in ipairs(problems) do list[i] = { line = p.line, message = p.message } end
    return { path = where.display, id = parsed.id, status = parsed.status, status_form = parsed.status_form,
             steps = #parsed.steps, problems = list }
  end)
end

return M
