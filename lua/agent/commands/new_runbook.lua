-- agent new-runbook <STORY-ID>: the main job. A COMMITTED story, its governance context and
-- the panel's reviews become .agent/cache/runbooks/<SCOPE>/<STORY-ID>-runbook.md (Status:
-- PROPOSED), checked by the gates before it is written atomically.
--
-- Steps: validate the ID; find the story and refuse any state but COMMITTED; take the
-- story's lock (two runs on one story never interleave); refuse an existing runbook without
-- --force; gather the context; run the panel; synthesise; render with the template; run the
-- gates (one repair call with a model provider); write, keeping the old runbook as .bak.
local cli = require("agent.cli")
local fs = require("agent.fs")
local json = require("agent.json")
local loader = require("agent.loader")
local paths = require("agent.paths")
local log = require("agent.log")
local sys = require("agent.sys")
local review = require("agent.review")

local M = {
  name = "new-runbook",
  order = 10,
  summary = "Write the implementation runbook of a COMMITTED story, reviewed by the panel",
  usage = "agent new-runbook <STORY-ID> [--provider NAME] [--model MODEL] [--force] [--dry-run] [--json]",
  args = { { name = "STORY-ID", required = true, complete = "story" } },
}

M.flags = {
  { name = "force", type = "boolean",
    help = "replace an existing runbook, even an ACCEPTED one, with a warning (the old one is kept as <name>.bak)" },
  { name = "dry-run", type = "boolean", help = "print the runbook on stdout instead of writing it" },
}
for _, f in ipairs(review.REVIEW_FLAGS) do M.flags[#M.flags + 1] = f end

M.help = [[Reads .agent/cache/stories/<SCOPE>/<STORY-ID>*.md (the story must be COMMITTED), gathers
the rules, ADRs, compliance documents, instructions and named files that apply, has every
persona of the panel review it concurrently, writes the runbook body (one synthesis call, or
the deterministic offline synthesis), renders it with the template (.agent/templates/runbook.lua
replaces the built-in), checks it with the gates and writes
.agent/cache/runbooks/<SCOPE>/<STORY-ID>-runbook.md with Status: PROPOSED.

stdout: the path written (--dry-run: the runbook; --json: one JSON document with path, story,
status, verdicts, timings, tokens, redactions and gate_problems). stderr: progress, one line
per persona, redaction counts and a usage summary. Replies are cached in
.agent/cache/panel/<STORY-ID>/, so an interrupted run resumes without paying twice.

Exit statuses: 0 written and every persona reviewed; 3 written, but a persona script failed
(named as file:line); 5 written, but a persona (or the synthesis) gave no usable review;
6 written, but a persona's verdict is BLOCK; 4 written, but gate problems remain (listed in
its Gate Report section); 1 failure (missing
or non-COMMITTED story, runbook exists without --force, bad config, a missing key, or every
persona's call failed alike: key refused, out of credit, unknown model, host unreachable;
nothing written); 2 usage; 130/143
interrupted (cached replies kept, nothing written).

Examples:
  agent new-runbook INFRA-012
  agent new-runbook INFRA-012 --provider anthropic
  agent new-runbook INFRA-012 --provider openai --model gpt-4o-mini --jobs 4 --timeout 60
  agent new-runbook INFRA-012 --force --json
  agent new-runbook INFRA-012 --dry-run | less]]

local function relpath(S, path) return paths.relative(S.root, path) end

-- A message with the repository root taken off the paths it names.
local function strip_root(S, msg) return paths.strip(S.root, tostring(msg)) end

local function output_path(S)
  local scope = S.story.scope
  if type(scope) ~= "string" or not scope:match("^[%w][%w._-]*$") then
    cli.fail(cli.EXIT.fail, ("%s: cannot tell the story's scope (got '%s')"):format(S.story.relpath or S.story.id, tostring(scope)))
  end
  local dir = S.root .. "/" .. require("agent.runbook").RUNBOOKS_DIR .. "/" .. scope
  return dir, dir .. "/" .. S.story.id .. "-runbook.md"
end

local function refuse_existing(S, path)
  if S.opts.force or not fs.exists(path) then return end
  cli.fail(cli.EXIT.fail, ("%s already exists; it was left untouched (pass --force to replace it; the old one is kept as %s.bak)")
    :format(relpath(S, path), relpath(S, path)))
end

-- Refuses to write where a planted symlink would carry the write out of the repository.
local function stay_inside(S, targets)
  for _, p in ipairs(targets) do
    local ok, why = paths.check_inside(S.root, p)
    if not ok then cli.fail(cli.EXIT.fail, ("%s: %s; refusing to write there"):format(relpath(S, p), why)) end
  end
end

-- Takes the story's lock, waiting for another run that holds it, then checks again that no
-- runbook appeared meanwhile. The lock is released when the returned handle is closed.
local function take_lock(S, dir, path)
  local lock_path = require("agent.runbook").lock_path(path)
  stay_inside(S, { dir, lock_path, path, path .. ".bak" })
  refuse_existing(S, path)
  local ok, err = fs.mkdir_p(dir)
  if not ok then cli.fail(cli.EXIT.fail, ("cannot create %s: %s"):format(relpath(S, dir), paths.reason(err))) end
  local lock, lerr, code = fs.lock(lock_path, { wait = false })
  if not lock and code == "busy" then
    log.info(("another run on %s holds %s; waiting for it to finish"):format(S.story.id, relpath(S, lock_path)))
    local left = S.deadline_at and math.max(1, math.floor(S.deadline_at - sys.clock())) or nil
    lock, lerr = fs.lock(lock_path, { wait = true, timeout_ms = left })
  end
  if not lock then
    review.check_interrupted(S)
    cli.fail(cli.EXIT.fail, lerr)
  end
  local held, why = pcall(refuse_existing, S, path)
  if not held then
    lock:unlock()
    error(why, 0)
  end
  return lock
end

local function union_cut(results, extra)
  local seen, out = {}, {}
  local function add(list)
    for _, c in ipairs(list or {}) do
      local key = type(c) == "table" and (c.relpath or c.path) or c
      if key and not seen[key] then seen[key] = true out[#out + 1] = key end
    end
  end
  for _, r in ipairs(results) do add(r.cut) end
  add(extra)
  table.sort(out)
  return out
end

local function is_offline(name) return require("agent.providers").is_offline(name) end

-- Adds what a synthesis or repair prompt carried to the run's redaction report (S.redactions,
-- the table every document's provenance holds): the rendered context's counts plus what
-- redacting the whole prompt before sending caught.
local function sent(S, input, info)
  local redact = require("agent.redact")
  local counts = redact.merge_counts(redact.merge_counts({}, input.context_redactions or {}), info.redactions or {})
  redact.max_counts(S.redactions, counts)
end

-- The runbook document: offline, or one synthesis call. Returns doc, input, info.
local function synthesize(S, results)
  local synthesis = require("agent.synthesis")
  local input = {
    story = S.story, gathered = S.gathered, root = S.root, results = results, config = S.config,
    provider = S.provider, model = S.model, redactions = S.redactions, cut = union_cut(results),
  }
  if is_offline(S.provider) then
    return synthesis.offline(input), input, { name = "synthesis", elapsed_ms = 0, offline = true, status = "ok" }
  end
  local budget = require("agent.panel").budget_for(S.config, S.budget, S.provider, S.model)
  local text, report = require("agent.context").render(S.gathered, { budget_tokens = budget })
  input.context_text = text
  input.context_files = report.files
  input.context_redactions = report.redactions
  input.cut = union_cut(results, report.cut)
  input.ask_env = { store = S.store, timeout = S.timeout, deadline_at = S.deadline_at, jobs = S.jobs, config = S.config }
  log.info(("synthesis: writing the runbook with %s/%s"):format(S.provider, tostring(S.model)))
  local doc, info = synthesis.run(input)
  sent(S, input, info)
  info.name = "synthesis"
  for _, note in ipairs(info.notes or {}) do log.warn("synthesis: " .. note) end
  if info.status ~= "ok" then
    log.warn(("synthesis: no usable reply (%s); the runbook body is derived offline from the story and the panel's findings")
      :format(tostring(info.error)))
  else
    log.info(("synthesis: done (%.1fs)%s"):format((info.elapsed_ms or 0) / 1000, info.cached and ", cached" or ""))
  end
  return doc, input, info
end

-- Renders doc with the template on the search path (a team's .agent/templates/runbook.lua
-- replaces the built-in). A broken template is a script error, and so is one whose runbook
-- has no status line: nothing could accept it, and --json would report a status it lacks.
-- Returns text, parsed (runbook.parse of it, for the gates).
local function render(S, doc)
  local tpl, file = require("agent.template").load(S.root, "runbook", "doc")
  if not tpl then cli.fail(cli.EXIT.script, file) end
  local ok, text = loader.call(tpl.render, loader.readonly(doc))
  if not ok then cli.fail(cli.EXIT.script, strip_root(S, text)) end
  if type(text) ~= "string" then cli.fail(cli.EXIT.script, file .. ": render(doc) must return a string") end
  local parsed = require("agent.runbook").parse(text)
  if not (parsed and parsed.status) then
    cli.fail(cli.EXIT.script, ("%s: render(doc) returned a runbook without a 'Status: %s' line under its title; "
      .. "nothing was written"):format(file, tostring(doc.status or "PROPOSED")))
  end
  return text, parsed
end

-- The text (parsed: its runbook.parse) with a Gate Report section appended when the
-- template left it out: the problems that remain must be in the runbook whatever the
-- template renders.
local function with_gate_report(text, parsed, problems)
  for _, h in ipairs(parsed.sections) do
    if h.level == 2 and h.title:lower() == "gate report" then return text end
  end
  return text:gsub("\n*$", "\n") .. "\n## Gate Report\n\n" .. require("agent.gates").report_markdown(problems)
end

-- Renders and gates; with a model provider, one repair call when the gates fail. Whatever
-- still fails goes into the Gate Report section. Returns text, problems, repair info.
local function render_and_gate(S, doc, input)
  local gates = require("agent.gates")
  local text, parsed = render(S, doc)
  local problems = gates.check(parsed, S.root)
  local repair
  if #problems > 0 and not is_offline(S.provider) then
    log.info(("gates: %d problem%s; asking %s for one repair"):format(#problems, #problems == 1 and "" or "s", S.provider))
    local fixed, info = require("agent.synthesis").repair(input, doc, problems)
    sent(S, input, info)
    repair = info
    repair.name = "repair"
    if info.status == "ok" then
      doc = fixed
      text, parsed = render(S, doc)
      problems = gates.check(parsed, S.root)
    else
      log.warn("repair: no usable reply: " .. tostring(info.error))
    end
  end
  if #problems > 0 then
    doc.gate_report = problems
    text, parsed = render(S, doc)
    text = with_gate_report(text, parsed, problems)
  end
  return text, problems, repair
end

-- --force over a runbook past PROPOSED (ACCEPTED, IMPLEMENTED...) takes its approval away:
-- said on stderr, since the new one must go through review and accept again.
local function warn_replaced(S, path, old)
  local status = (require("agent.runbook").summary(old) or {}).status
  if status and status ~= "PROPOSED" then
    log.warn(("%s was %s; it is replaced by a PROPOSED runbook that must be accepted again (the %s one is kept "
      .. "as %s.bak)"):format(relpath(S, path), status, status, relpath(S, path)))
  end
end

local function write(S, path, text)
  local previous
  if fs.exists(path) then
    local old, err = fs.read(path)
    previous = old
    local why = not old and ("cannot read %s: %s"):format(relpath(S, path), paths.reason(err))
    if old then
      local kept, werr = fs.write(path .. ".bak", old)
      why = not kept and ("cannot write %s.bak: %s"):format(relpath(S, path), paths.reason(werr))
    end
    if why then cli.fail(cli.EXIT.fail, "cannot keep the old runbook as .bak: " .. why) end
  end
  local ok, err = fs.write(path, text)
  if not ok then cli.fail(cli.EXIT.fail, ("cannot write %s: %s"):format(relpath(S, path), paths.reason(err))) end
  if previous then warn_replaced(S, path, previous) end
end

-- The JSON log event of the synthesis or repair call (text mode has its own lines).
local function log_call(S, info)
  log.event(info.status == "ok" and "info" or "warn", log.usage_fields({
    event = info.name, story = S.story.id, provider = S.provider, model = S.model, status = info.status,
    error = info.error, cached = info.cached or false }, info.elapsed_ms, info.tokens))
end

-- 3 (a persona script failed) before 5 (no usable review, the synthesis's included) before
-- 6 (a persona BLOCKs) before 4 (gate problems remain).
local function exit_status(results, synth, problems)
  local status = review.panel_status(results)
  if status == cli.EXIT.script or status == cli.EXIT.incomplete then return status end
  if synth.status ~= "ok" then return cli.EXIT.incomplete end
  if status ~= cli.EXIT.ok then return status end
  if #problems > 0 then return cli.EXIT.gate end
  return cli.EXIT.ok
end

local function names_where(results, keep)
  local names = {}
  for _, r in ipairs(results) do if keep(r) then names[#names + 1] = r.name end end
  return names
end

local function explain(status, results, problems)
  if status == cli.EXIT.script or status == cli.EXIT.incomplete then
    local names = names_where(results, function(r) return r.status ~= "ok" end)
    local who = #names > 0 and table.concat(names, ", ") or "the synthesis"
    log.warn(("review incomplete: %s gave no usable review; the runbook says so and nothing counts as their approval"):format(who))
  elseif status == cli.EXIT.blocked then
    local names = names_where(results, function(r) return r.status == "ok" and r.verdict == "BLOCK" end)
    log.warn(("blocked: %s BLOCK%s this change; 'agent accept' refuses the runbook until that is resolved")
      :format(table.concat(names, ", "), #names == 1 and "s" or ""))
  elseif status == cli.EXIT.gate then
    log.warn(("%d gate problem%s remain; see the runbook's Gate Report"):format(#problems, #problems == 1 and "" or "s"))
  end
end

local function summary_json(S, path, text, results, extra, problems, status)
  local verdicts, timings, tokens, personas = review.json_personas(results)
  local total = { input = 0, output = 0 }
  for _, t in pairs(tokens) do total.input, total.output = total.input + t.input, total.output + t.output end
  for _, e in ipairs(extra) do
    timings[e.name] = math.floor((e.elapsed_ms or 0) + 0.5)
    local t = e.tokens or { input = 0, output = 0 }
    tokens[e.name] = { input = t.input or 0, output = t.output or 0 }
    total.input, total.output = total.input + (t.input or 0), total.output + (t.output or 0)
  end
  tokens.total = total
  timings.total = math.floor(sys.clock() - S.t0 + 0.5)
  local gate = json.array({})
  for i, p in ipairs(problems) do gate[i] = { line = p.line, message = p.message } end
  return json.encode({
    path = path or json.null, relpath = path and relpath(S, path) or json.null, story = { id = S.story.id, title = S.story.title, scope = S.story.scope, relpath = S.story.relpath },
    status = (require("agent.runbook").summary(text) or {}).status or json.null, provider = S.provider, model = S.model, verdicts = verdicts, timings = timings,
    tokens = tokens, redactions = S.redactions, gate_problems = gate, personas = personas,
    exit = status, runbook = S.opts["dry-run"] and text or nil,
  })
end

-- The whole pipeline, printing nothing on stdout: what `run` prints and what require("agent")'s
-- new_runbook returns. Returns {session=S, path= (nil with dry-run), text=, results=,
-- extra= {synthesis info [, repair info]}, problems=, status=, redactions= (the run's report:
-- per kind, the most any prompt sent carried)}; failures raise through cli.
function M.execute(opts, ctx)
  local S = review.prepare(opts, ctx, true)
  local dir, path = output_path(S)
  local lock <close> = not opts["dry-run"] and take_lock(S, dir, path) or nil -- luacheck: ignore 211 (held until the end)
  review.gather(S)
  local results = review.run_panel(S)
  review.check_interrupted(S)
  review.check_shared_failure(results)
  S.redactions = review.redactions(results)
  local doc, input, synth = synthesize(S, results)
  log_call(S, synth)
  review.check_interrupted(S)
  local text, problems, repair = render_and_gate(S, doc, input)
  if repair then log_call(S, repair) end
  review.check_interrupted(S)
  local status = exit_status(results, synth, problems)
  local line = review.redaction_line(S.redactions)
  if line then log.info(line) end
  if not opts["dry-run"] then
    write(S, path, text)
    log.info(("wrote %s (Status: PROPOSED)"):format(relpath(S, path)),
      { event = "runbook_written", story = S.story.id, path = relpath(S, path), status = status })
  end
  explain(status, results, problems)
  local extra = { synth }
  if repair then extra[#extra + 1] = repair end
  return { session = S, path = not opts["dry-run"] and path or nil, text = text, results = results,
           extra = extra, problems = problems, status = status, redactions = S.redactions }
end

function M.run(opts, ctx)
  local r = M.execute(opts, ctx)
  if opts.json then
    io.stdout:write(summary_json(r.session, r.path, r.text, r.results, r.extra, r.problems, r.status), "\n")
  elseif opts["dry-run"] then
    io.stdout:write(r.text)
  else
    io.stdout:write(r.path, "\n")
  end
  review.usage_summary(r.session, r.extra)
  return r.status
end

return M
