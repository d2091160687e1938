-- The governance panel: loads the personas (built-in, team, roster), asks them all at once,
-- and turns what comes back into per-persona results, failing closed: a persona whose script
-- broke, whose reply never parsed, or whose provider never answered is reported as such and
-- is never counted as an approval.
--
--   panel.load(root, config)      -> members, warnings | nil, message
--   panel.review(members, env)    -> results (one per member, in panel order)
--   panel.ask(requests, env)      -> outcomes: model calls with the cache, one concurrent
--                                    batch, and one retry of unusable replies (also used by
--                                    the synthesis)
local host = require("agent.host")
local loader = require("agent.loader")
local sys = require("agent.sys")
local log = require("agent.log")
local api = require("agent.script_api")
local judge = require("agent.judge")
local findings_mod = require("agent.findings")
local cache = require("agent.cache")
local roster = require("agent.roster")
local synthesis = require("agent.synthesis")
local trim = require("agent.text").trim

local M = {}

-- Output budget of one persona reply (config panel.max_tokens). A reply cut off at the limit
-- is retried once with twice the budget, never more than RETRY_MAX_TOKENS.
local PERSONA_MAX_TOKENS = 4096
local RETRY_MAX_TOKENS = 32768

local ID_PATTERN = "^[%a][%w_-]*$"


local handle = roster.handle

-- Messages name files relative to the repository, so runbooks read the same on every
-- checkout.
local function relative(msg, root) return require("agent.paths").strip(root, msg) end

-- ---- Loading -----------------------------------------------------------------------------

-- The first of the optional fields `names` that is set to something other than a `kind`.
local function check_kind(p, file, names, kind)
  for _, k in ipairs(names) do
    if p[k] ~= nil and type(p[k]) ~= kind then
      return ("%s: field '%s' must be a %s (got %s)"):format(file, k, kind, type(p[k]))
    end
  end
end

local function check_lists(p, file)
  if p.checklist ~= nil then
    if type(p.checklist) ~= "table" then return ("%s: field 'checklist' must be a list"):format(file) end
    for i, item in ipairs(p.checklist) do
      local ok, err = pcall(judge.item, item)
      if not ok then return ("%s: checklist[%d]: %s"):format(file, i, tostring(err):gsub("^.-:%d+: ", "")) end
    end
  end
  for _, k in ipairs({ "sections", "owns" }) do
    if p[k] ~= nil then
      if type(p[k]) ~= "table" then return ("%s: field '%s' must be a list of strings"):format(file, k) end
      for _, v in ipairs(p[k]) do
        if type(v) ~= "string" then return ("%s: field '%s' must be a list of strings"):format(file, k) end
        if k == "owns" and not synthesis.BY_KEY[v] then
          return ("%s: field 'owns' names '%s', which is not a runbook field (see docs/personas.md)"):format(file, v)
        end
      end
    end
  end
end

-- Validates what a persona script returned. Returns a normalised copy (defaults filled in)
-- or nil and "<file>: <what is wrong>".
function M.validate(p, file, expect_id)
  if type(p) ~= "table" then
    return nil, ("%s: a persona script must return a table (got %s)"):format(file, type(p))
  end
  if p.api == nil then
    return nil, ("%s: missing required field 'api' (the persona API it was written for; this agent implements %d)")
      :format(file, loader.PERSONA_API)
  end
  if math.type(p.api) ~= "integer" then
    return nil, ("%s: field 'api' must be an integer (got %s %s); this agent implements persona API %d")
      :format(file, type(p.api), ("%q"):format(tostring(p.api)), loader.PERSONA_API)
  end
  if p.api ~= loader.PERSONA_API then
    return nil, ("%s: written for persona API %d, but this agent implements persona API %d")
      :format(file, p.api, loader.PERSONA_API)
  end
  if p.id == nil then return nil, file .. ": missing required field 'id'" end
  if type(p.id) ~= "string" or not p.id:match(ID_PATTERN) then
    return nil, ("%s: field 'id' must be a name of letters, digits, '-' and '_'"):format(file)
  end
  if expect_id and p.id ~= expect_id then
    return nil, ("%s: field 'id' is '%s' but the file is named '%s.lua'"):format(file, p.id, expect_id)
  end
  if p.checklist == nil and p.prompt == nil then
    return nil, file .. ": missing required field 'checklist' (or 'prompt')"
  end
  local err = check_kind(p, file, { "name", "title", "role", "focus", "provider", "model" }, "string")
    or check_kind(p, file, { "prompt", "review", "offline" }, "function") or check_lists(p, file)
  if err then return nil, err end
  local copy = {}
  for k, v in pairs(p) do copy[k] = v end
  copy.name = copy.name or handle(p.id)
  copy.title = copy.title or (copy.name:gsub("^@", ""))
  copy.role = copy.role or p.id
  copy.owns = copy.owns or {}
  copy.sections = copy.sections or {}
  return copy
end

local function script_error(id, file, message, root)
  return { id = id, name = handle(id), title = handle(id):sub(2), file = file, status = "script_error",
           error = relative(message, root) }
end

-- One member of the panel: the persona script `id` on the search path (extended by the
-- roster member of that role, if any), or the roster member's generic persona.
local function load_member(id, member, root)
  local winner = loader.resolve("personas", id .. ".lua")
  if not winner then
    local persona, err = roster.persona(member)
    if not persona then return nil, err end
    return { id = id, file = roster.RELPATH, origin = "roster", persona = persona, status = "ok" }
  end
  local file = relative(winner.path, root)
  local value, second = loader.load_script("personas", id)
  if value == nil and type(second) == "string" then return script_error(id, file, second, root) end
  local p, err = M.validate(value, file, id)
  if not p then return script_error(id, file, err, root) end
  if member then p = roster.extend(p, member) end
  return { id = id, file = file, origin = winner.origin, persona = p, status = "ok", name = p.name, title = p.title }
end

-- The ids on the panel, in order: panel.personas when set, else every persona on the search
-- path (sorted) followed by the roster's other roles (in roster order).
local function panel_ids(config, members)
  local chosen = config.panel and config.panel.personas
  local known = {}
  for _, name in ipairs(loader.list("personas")) do known[name] = true end
  for _, m in ipairs(members) do known[m.role] = true end
  if chosen ~= nil then
    if type(chosen) ~= "table" or #chosen == 0 then
      return nil, "panel.personas in .agent/etc/agent.yaml must be a non-empty list of persona ids (or left unset for all)"
    end
    local ids, seen = {}, {}
    for _, id in ipairs(chosen) do
      if type(id) ~= "string" or not id:match(ID_PATTERN) then
        return nil, ("panel.personas in .agent/etc/agent.yaml: '%s' is not a persona id"):format(tostring(id))
      end
      if not known[id] then
        local names = {}
        for k in pairs(known) do names[#names + 1] = k end
        table.sort(names)
        return nil, ("panel.personas in .agent/etc/agent.yaml names '%s', but no persona script or roster member has that id (known: %s)")
          :format(id, table.concat(names, ", "))
      end
      if not seen[id] then seen[id] = true ids[#ids + 1] = id end
    end
    return ids
  end
  local ids, seen = {}, {}
  for _, name in ipairs(loader.list("personas")) do
    if name:match(ID_PATTERN) then seen[name] = true ids[#ids + 1] = name end
  end
  for _, m in ipairs(members) do
    if not seen[m.role] then seen[m.role] = true ids[#ids + 1] = m.role end
  end
  return ids
end

-- An override for an id not on the panel would be ignored: a misspelt persona id would
-- silently keep that persona on the run's provider. Named in a warning instead.
local function warn_stray_overrides(config, ids, warnings)
  local overrides = config.panel and config.panel.overrides
  if type(overrides) ~= "table" then return end
  local on = {}
  for _, id in ipairs(ids) do on[id] = true end
  local stray = {}
  for id in pairs(overrides) do
    if not on[id] then stray[#stray + 1] = tostring(id) end
  end
  table.sort(stray)
  local listed = { table.unpack(ids) }
  table.sort(listed)
  for _, id in ipairs(stray) do
    warnings[#warnings + 1] = ("panel.overrides.%s: no persona '%s' on the panel; ignored (on the panel: %s)")
      :format(id, id, table.concat(listed, ", "))
  end
end

-- Loads the panel of the repository at root (nil: built-ins only). Returns members and the
-- roster's warnings, or nil and a message when the configuration itself is unusable.
-- member = {id=, name=, title=, file=, origin=, persona=, status="ok"|"script_error", error=}
function M.load(root, config)
  local members, warnings = {}, {}
  if root then
    local r, w = roster.load(root)
    if not r then return nil, w end
    members, warnings = r, w
  end
  local ids, err = panel_ids(config or {}, members)
  if not ids then return nil, err end
  warn_stray_overrides(config or {}, ids, warnings)
  local by_role = {}
  for _, m in ipairs(members) do by_role[m.role] = m end
  local panel = {}
  for i, id in ipairs(ids) do
    local m, merr = load_member(id, by_role[id], root)
    if not m then return nil, merr end
    if m.persona then m.name, m.title = m.persona.name, m.persona.title end
    panel[i] = m
  end
  return panel, warnings
end

-- ---- Asking models -----------------------------------------------------------------------

local function remaining_s(env)
  if not env.deadline_at then return nil end
  return math.max(0, (env.deadline_at - sys.clock()) / 1000)
end

local function add_usage(total, reply, cached)
  if cached or not reply or type(reply.usage) ~= "table" then return end
  total.input = total.input + (tonumber(reply.usage.input) or 0)
  total.output = total.output + (tonumber(reply.usage.output) or 0)
end

-- Judges one result: the validated value, or nil, reason, kind where kind "unusable" may be
-- retried and "transport"/"script" may not (the http layer already retried the transport;
-- a broken script does not heal).
local function evaluate(request, result)
  if result.error then return nil, result.error, "transport" end
  local reply = result.reply
  if reply.truncated or reply.finish == "length" then
    return nil, ("the reply was cut off at the output limit of %d tokens before its JSON was complete")
      :format(request.call.max_tokens or 0), "unusable", true
  end
  local parsed, perr = require("agent.jsonx").extract(reply.text or "")
  if parsed == nil then return nil, perr or "no JSON object in the reply", "unusable" end
  local value, verr, vkind = request.validate(parsed, reply)
  if value == nil then return nil, verr or "the reply was rejected", vkind == "script" and "script" or "unusable" end
  return value
end

-- The call as it may leave the machine: its system and user texts redacted, whatever built
-- them (the context renderer has redacted what it rendered; a persona's own prompt() may add
-- text from anywhere). Every byte is redacted: the request's pieces (the rendered context's)
-- only let the lines the prompts share be redacted once per ask, in memo (redact.text_parts
-- gives exactly what redact.text would). Returns the call and the counts of what this pass caught.
local function redacted_call(call, opts, pieces, memo)
  local redact = require("agent.redact")
  local c = {}
  for k, v in pairs(call) do c[k] = v end
  local sys_counts, user_counts
  c.system, sys_counts = redact.text(call.system or "", opts)
  c.user, user_counts = redact.text_parts(call.user or "", pieces or {}, opts, memo)
  return c, redact.merge_counts(sys_counts, user_counts)
end

-- Adds one request's attempts and time to its outcome: the HTTP layer's own counts when it
-- reports them; a failure it does not count was one attempt, taken since its batch began.
local function count_attempts(o, result, batch_t0)
  if result.cached then return end
  local measured = result.reply or result
  o.attempts = o.attempts + (measured.attempts or 1)
  o.elapsed_ms = o.elapsed_ms + (measured.elapsed_ms or (sys.clock() - batch_t0))
end

local function retry_call(call, reason, truncated)
  local c = {}
  for k, v in pairs(call) do c[k] = v end
  c.user = call.user .. "\n\n---\nYour previous reply could not be used: " .. reason
    .. ". Reply again with only the complete JSON object described in your instructions."
  if truncated then c.max_tokens = math.min((call.max_tokens or PERSONA_MAX_TOKENS) * 2, RETRY_MAX_TOKENS) end
  return c
end

-- The debug line of one call's result: answered by the cache, or the provider's timing.
local function log_call(label, call, result)
  if not log.enabled("debug") then return end
  local who = ("%s: %s/%s"):format(tostring(label), tostring(call.provider), tostring(call.model))
  if result.cached then
    log.debug(who .. ": cache hit")
  elseif result.reply then
    log.debug(("%s: cache miss; replied in %d ms (%d attempt%s)"):format(who, result.reply.elapsed_ms or 0,
      result.reply.attempts or 1, (result.reply.attempts or 1) == 1 and "" or "s"))
  else
    log.debug(("%s: cache miss; failed after %d ms: %s"):format(who, result.elapsed_ms or 0, tostring(result.error)))
  end
end

-- One batch of calls through the cache and the providers, each reply's attempts, time and
-- tokens added to its outcome (outcomes[indices[k]] for batch_calls[k]) as it arrives.
local function run_batch(env, outcomes, indices, batch_calls, emit, labels)
  local t0 = sys.clock()
  return cache.run(env.store, batch_calls, {
    timeout = env.timeout, deadline = remaining_s(env), retries = env.retries, parallel = env.jobs,
    config = env.config,
    on_done = function(k, result)
      local o = outcomes[indices[k]]
      count_attempts(o, result, t0)
      o.cached = o.cached and result.cached == true
      add_usage(o.tokens, result.reply, result.cached)
      log_call(labels[indices[k]], batch_calls[k], result)
      emit("reply", indices[k], result)
    end,
    on_progress = function(k, chars) emit("progress", indices[k], chars) end,
  })
end

-- Judges the first round: values and final failures go into outcomes; the unusable replies
-- come back as the retry round {indices, calls, reasons}, each call with the reason added.
local function judge_first(requests, calls, first, outcomes, redact, emit)
  local retry = { indices = {}, calls = {}, reasons = {} }
  for i, result in ipairs(first) do
    local value, reason, kind, truncated = evaluate(requests[i], result)
    local o = outcomes[i]
    if value ~= nil then
      o.value = value
    elseif kind == "unusable" then
      retry.reasons[i] = reason
      retry.indices[#retry.indices + 1] = i
      retry.calls[#retry.calls + 1] =
        (redacted_call(retry_call(calls[i], reason, truncated), redact.opts, requests[i].pieces, redact.memo))
      emit("retry", i, reason)
    else
      o.error, o.kind = reason, kind == "transport" and (result.kind or "transport") or kind
    end
  end
  return retry
end

-- Judges the retry round: a value, or the first reason with the second.
local function judge_retry(requests, retry, second, outcomes)
  for k, result in ipairs(second) do
    local i = retry.indices[k]
    local value, reason, kind = evaluate({ call = retry.calls[k], validate = requests[i].validate }, result)
    if value ~= nil then
      outcomes[i].value = value
    else
      outcomes[i].error = ("%s; retried once: %s"):format(retry.reasons[i], reason)
      outcomes[i].kind = kind == "script" and "script" or "unusable"
    end
  end
end

-- Runs model requests: cached replies first, the rest in one concurrent batch (each reply
-- cached as it arrives), then one concurrent batch of retries for the unusable ones, with
-- the reason in the prompt.
-- request = {label=, call={provider=, model=, system=, user=, max_tokens=, json=true},
--            validate=function(parsed, reply) -> value | nil, reason [, "script"],
--            pieces= (optional: strings the user text may carry in a row, as context.render's
--            report.pieces; redacted once per ask however many requests share them)}
-- env = {store=, timeout=, deadline_at= (sys.clock ms), retries=, jobs=, config=,
--        on_event=function(kind, i, data)} with kinds "reply", "progress", "retry".
-- outcome = {value=, error=, kind=, elapsed_ms=, tokens={input=, output=}, cached=, attempts=,
--            redactions={KIND=n} (what redacting the call's texts just before sending caught)}
-- attempts: the HTTP attempts made for this request, its retry included (0 when the cache
-- answered); elapsed_ms: the time those attempts took.
function M.ask(requests, env)
  env = env or {}
  local emit = env.on_event or function() end
  local redact = { opts = env.config and env.config.redact or {}, memo = {} }
  local outcomes, calls, idx, labels = {}, {}, {}, {}
  for i, r in ipairs(requests) do
    labels[i] = r.label or i
    local call, counts = redacted_call(r.call, redact.opts, r.pieces, redact.memo)
    outcomes[i] = { tokens = { input = 0, output = 0 }, attempts = 0, cached = true, elapsed_ms = 0, redactions = counts }
    calls[i], idx[i] = call, i
  end
  local first = run_batch(env, outcomes, idx, calls, emit, labels)
  local sig = host.interrupted()
  if sig then
    -- the replies that arrived are cached; judging them now would only be cut short too
    for _, o in ipairs(outcomes) do o.error, o.kind = "interrupted by " .. sig, "interrupted" end
    return outcomes
  end
  local retry = judge_first(requests, calls, first, outcomes, redact, emit)
  if #retry.indices > 0 then
    judge_retry(requests, retry, run_batch(env, outcomes, retry.indices, retry.calls, emit, labels), outcomes)
  end
  return outcomes
end

-- ---- Citations ---------------------------------------------------------------------------

local function doc_id(relpath)
  local base = relpath:match("([^/]+)$") or relpath
  local id = base:match("^(%a+%-%d+)")
  return id and id:upper()
end

-- The keys one document adds to a persona's citation set (sent_refs): its path, its file
-- name with and without the extension (lower case), the id its name starts with, its own id.
local function ref_keys(relpath, id)
  local base = (relpath:match("([^/]+)$") or relpath):lower()
  return { path = relpath:lower(), base = base, stem = (base:gsub("%.[^.]+$", "")), did = doc_id(relpath),
           id = type(id) == "string" and id:upper() or nil }
end

-- ref_keys by document, kept per gathered table: six personas cite from the same 500 or so
-- documents, and working their keys out afresh cost 7 ms a panel on the bench repository.
local keys_memo = setmetatable({}, { __mode = "k" })

-- What this persona's prompt actually carried: the render report's `included` list when it
-- has one, else the documents rendered for its role minus what the budget cut (both lists
-- of the names context.render gives items: a document's relpath).
local function sent_refs(gathered, role, report, story_relpath)
  local dropped, only = {}, nil
  for _, name in ipairs(report.cut or {}) do dropped[name] = true end
  if type(report.included) == "table" then
    only = {}
    for _, name in ipairs(report.included) do only[name] = true end
  end
  local refs = { paths = {}, names = {}, ids = {} }
  local keys = keys_memo[gathered]
  if not keys then
    keys = {}
    keys_memo[gathered] = keys
  end
  local function add(relpath, id)
    if type(relpath) ~= "string" or dropped[relpath] or (only and not only[relpath] and relpath ~= story_relpath) then
      return
    end
    local memo_key = type(id) == "string" and (relpath .. "\0" .. id) or relpath
    local k = keys[memo_key]
    if not k then
      k = ref_keys(relpath, id)
      keys[memo_key] = k
    end
    refs.paths[k.path] = true
    refs.names[k.base], refs.names[k.stem] = true, true
    if k.did then refs.ids[k.did] = true end
    if k.id then refs.ids[k.id] = true end
  end
  for _, r in ipairs(gathered.rules or {}) do add(r.relpath) end
  for _, a in ipairs(gathered.adrs or {}) do add(a.relpath, a.id) end
  for _, c in ipairs(gathered.compliance or {}) do add(c.relpath) end
  for _, d in ipairs((gathered.instructions or {})[role] or {}) do add(d.relpath) end
  for _, f in ipairs(gathered.files or {}) do add(f.relpath) end
  add(story_relpath)
  return refs
end

local function cited_known(refs, citation)
  local s = citation:gsub("^%s*`?", ""):gsub("`?%s*$", ""):gsub("^%./", ""):gsub(":%d+$", "")
  local low = s:lower()
  if low:find("/", 1, true) then
    if refs.paths[low] then return true end
    local dir = low:gsub("/+$", "") .. "/"
    for p in pairs(refs.paths) do
      -- a path cited from the repository root down, or a directory whose files were sent
      if p:sub(-#low - 1) == "/" .. low or p:sub(1, #dir) == dir then return true end
    end
  elseif refs.names[low] then
    return true
  end
  local id = s:match("^(%a+%-%d+)")
  return id ~= nil and refs.ids[id:upper()] == true
end

local NOT_IN_CONTEXT = " (not in context)"

-- Marks every citation the persona's context did not carry: the item's `rule` (each part of
-- a list), and ADR/EXC ids and .agent/ paths named in its text. Returns the number marked.
local function check_citations(findings, refs)
  local unknown = 0
  for _, item in ipairs(findings.items or {}) do
    if item.rule then
      local parts = {}
      for part in item.rule:gmatch("[^,;]+") do
        part = trim(part)
        if part ~= "" and not cited_known(refs, part) then
          part = part .. NOT_IN_CONTEXT
          unknown = unknown + 1
        end
        if part ~= "" then parts[#parts + 1] = part end
      end
      item.rule = table.concat(parts, ", ")
    end
    item.text = item.text:gsub("%f[%w]((%u%u%u)%-(%d+))%f[^%w]", function(id, prefix)
      if (prefix == "ADR" or prefix == "EXC") and not refs.ids[id] then
        unknown = unknown + 1
        return id .. NOT_IN_CONTEXT
      end
    end):gsub("(%.agent/[%w_%-%./]*[%w/])", function(path)
      if not cited_known(refs, path) then
        unknown = unknown + 1
        return path .. NOT_IN_CONTEXT
      end
    end)
  end
  return unknown
end
M.check_citations = check_citations

-- ---- Reviewing ---------------------------------------------------------------------------

-- Redacted copies of everything a persona script may read: scripts see what a model would.
local function safe_context(env)
  local context = require("agent.context")
  local opts = env.config and env.config.redact or {}
  local g, story = env.gathered or {}, env.story
  -- the rendered context redacted the same texts: context.redact does each once per run
  local function red(s) return type(s) == "string" and (context.redact(g, s, opts)) or s end
  local safe = {
    story = { id = story.id, title = story.title, scope = story.scope, state = story.state, relpath = story.relpath,
              text = red(story.text), sections = {}, named_files = story.named_files or {} },
    rules = {}, adrs = {}, compliance = {}, instructions = {}, files = {},
  }
  for name, text in pairs(story.sections or {}) do safe.story.sections[name] = red(text) end
  for i, r in ipairs(g.rules or {}) do
    safe.rules[i] = { relpath = r.relpath, description = r.description, why = r.why, globs = r.globs,
                      always_apply = r.always_apply, body = red(r.body) }
  end
  for i, a in ipairs(g.adrs or {}) do
    safe.adrs[i] = { relpath = a.relpath, id = a.id, title = a.title, status = a.status, text = red(a.text) }
  end
  for i, c in ipairs(g.compliance or {}) do safe.compliance[i] = { relpath = c.relpath, text = red(c.text) } end
  for role, list in pairs(g.instructions or {}) do
    safe.instructions[role] = {}
    for i, d in ipairs(list) do safe.instructions[role][i] = { relpath = d.relpath, text = red(d.text) } end
  end
  for i, f in ipairs(g.files or {}) do
    safe.files[i] = { relpath = f.relpath, exists = f.exists, truncated = f.truncated, text = red(f.text) }
  end
  return safe
end

-- The provider and model of one member: --provider on the command line wins outright; else
-- config panel.overrides.<id>, then the script's own fields, then the run's choice.
local function choose_for(member, env)
  local p = member.persona or {} -- a script that failed to load chose nothing itself
  if env.explicit_provider then return env.provider, env.model end
  local ov = env.config and env.config.panel and type(env.config.panel.overrides) == "table"
    and env.config.panel.overrides[member.id] or {}
  if type(ov) ~= "table" then ov = {} end
  local name = ov.provider or p.provider
  local model = ov.model or p.model
  if not name and not model then return env.provider, env.model end
  name = name or env.provider
  if not model and name == env.provider then return name, env.model end
  local providers = require("agent.providers")
  local chosen, m = providers.choose({ provider = name, model = model }, env.config or {})
  if not chosen then return nil, nil, m end
  return chosen, m
end

-- provider_for(member, env) -> name, model | nil, nil, msg: the provider and model member
-- would review with (env as for review: config=, provider=, model=, explicit_provider=).
M.provider_for = choose_for

local function is_offline(name) return require("agent.providers").is_offline(name) end

local function base_result(m)
  return { id = m.id, name = m.name or handle(m.id), title = m.title, file = m.file, role = m.persona and m.persona.role,
           status = m.status, error = m.error, items = {}, checklist = {}, sections = {},
           elapsed_ms = 0, tokens = { input = 0, output = 0 }, cached = false, attempts = 0 }
end

-- Takes a validated review, marking the citations its prompt did not carry (r.refs).
local function accept(r, findings)
  r.status = "ok"
  r.verdict, r.summary = findings.verdict, findings.summary
  r.items, r.checklist, r.sections = findings.items, findings.checklist, findings.sections
  if r.refs then r.unknown_citations = check_citations(r, r.refs) end
end

-- "file:line" of the script function fn, for what it returned: the file that defined it
-- (perhaps a base() persona or a team module), else the member's file.
local function defined_at(fn, m, root)
  local info = debug.getinfo(fn, "S")
  if info.what ~= "Lua" or info.source:sub(1, 1) ~= "@" then return m.file end
  return ("%s:%d"):format(relative(info.source:sub(2), root), info.linedefined)
end

local function run_offline(m, ctx, r, root)
  local t = sys.clock()
  local fn = m.persona.offline
  if not fn and m.persona.checklist then fn = judge.offline end
  if not fn then
    r.status, r.error = "no_review", "it has no checklist and no offline review, so it cannot review without a model"
    return
  end
  local ok, f, err = loader.call(fn, ctx)
  r.elapsed_ms = sys.clock() - t
  if not ok then
    r.status, r.error = "script_error", relative(f, root)
  elseif f == nil then
    r.status, r.error = "no_review", ("%s: offline review returned nothing%s")
      :format(defined_at(fn, m, root), type(err) == "string" and (": " .. err) or "")
  else
    local findings, nerr = findings_mod.normalize(f, m.persona)
    if findings then accept(r, findings)
    else
      r.status, r.error = "script_error", ("%s: offline review returned invalid findings: %s")
        :format(defined_at(fn, m, root), nerr)
    end
  end
end

local function build_prompt(m, ctx, root)
  local ok, pr = loader.call(m.persona.prompt or api.prompt, ctx)
  if not ok then return nil, relative(pr, root) end
  if type(pr) ~= "table" or type(pr.system) ~= "string" or type(pr.user) ~= "string" then
    return nil, ("%s: prompt must return { system = string, user = string }")
      :format(defined_at(m.persona.prompt or api.prompt, m, root))
  end
  return { system = pr.system, user = pr.user }
end

-- A model's review is usable only when it assesses every item of the persona's checklist by
-- name: the one rule whether the persona's own review() shaped the reply or not.
local function review_validator(m, ctx, root)
  return function(parsed)
    local findings = parsed
    if m.persona.review then
      local ok, f, err = loader.call(m.persona.review, ctx, parsed)
      if not ok then return nil, relative(f, root), "script" end
      findings = f
      if findings == nil then return nil, err and tostring(err) or "the persona's review rejected the reply" end
    end
    return findings_mod.normalize(findings, m.persona, { complete = true })
  end
end

-- The context budget of one prompt, in tokens: --budget, else config context.budget_tokens
-- (a number, or a map from model or provider name to a number, with an optional `default`),
-- else nil (the context module's default).
function M.budget_for(config, flag, provider, model)
  if flag then return flag end
  local b = config and config.context and config.context.budget_tokens
  if type(b) == "number" then return b end
  if type(b) == "table" then
    local v = b[model] or b[provider] or b.default
    if type(v) == "number" and v > 0 then return v end
  end
  return nil
end

-- Readies one member for review: its provider and model, its context rendered for its role,
-- its ctx. An offline member is reviewed on the spot; a model member's request is returned.
local function start_member(m, r, env, safe)
  local name, model, perr = choose_for(m, env)
  r.provider, r.model = name, model
  if not name then
    r.status, r.error = "no_review", perr
    return nil
  end
  local role = m.persona.role
  local budget = M.budget_for(env.config, env.budget_tokens, name, model)
  local text, report = require("agent.context").render(env.gathered, { role = role, budget_tokens = budget })
  r.redactions = require("agent.redact").merge_counts({}, report.redactions or {})
  r.cut = report.cut or {}
  log.debug(("context for %s: %d of %d tokens, %d item%s cut%s"):format(r.name, report.tokens or 0, report.budget_tokens or 0,
    #r.cut, #r.cut == 1 and "" or "s", #r.cut > 0 and (" (" .. table.concat(r.cut, ", ") .. ")") or ""))
  r.refs = sent_refs(env.gathered or {}, role, report, env.story.relpath)
  local offline = is_offline(name)
  local ctx = loader.readonly({
    persona = m.persona, story = safe.story, context = text, rules = safe.rules, adrs = safe.adrs,
    compliance = safe.compliance, instructions = safe.instructions[role] or {}, files = safe.files,
    provider = name, model = model, offline = offline, cut = r.cut,
  })
  if offline then
    run_offline(m, ctx, r, env.root)
    return nil
  end
  local prompt, err = build_prompt(m, ctx, env.root)
  if not prompt then
    r.status, r.error = "script_error", err
    return nil
  end
  local panel_cfg = env.config and env.config.panel or {}
  return {
    label = m.id, validate = review_validator(m, ctx, env.root), pieces = report.pieces,
    call = { provider = name, model = model, system = prompt.system, user = prompt.user,
             max_tokens = panel_cfg.max_tokens or PERSONA_MAX_TOKENS, json = true, stream = env.stream },
  }
end

local function settle(r, o)
  r.elapsed_ms, r.tokens, r.cached, r.attempts = o.elapsed_ms, o.tokens, o.cached, o.attempts
  require("agent.redact").merge_counts(r.redactions, o.redactions or {})
  if o.value then
    accept(r, o.value)
  else
    r.status = o.kind == "script" and "script_error" or "no_review"
    r.error, r.error_kind = o.error, o.kind
  end
end

-- Reviews the story with every member. env = {story=, gathered=, config=, root=, provider=,
-- model=, explicit_provider=, store=, timeout=, deadline_at=, retries=, jobs=,
-- budget_tokens=, stream=, on_event=function(kind, i, data)} with kinds "start" (result),
-- "progress" (chars, only when stream is set and the provider streams), "reply", "retry"
-- (reason) and "done" (result).
-- result = {id=, name=, title=, file=, role=, status="ok"|"no_review"|"script_error",
--           verdict=, summary=, error=, error_kind= (the failure's kind), items=, checklist=, sections=, elapsed_ms=, tokens=,
--           cached=, attempts=, provider=, model=, redactions=, cut=, unknown_citations=}
function M.review(members, env)
  local emit = env.on_event or function() end
  local safe = safe_context(env)
  local results, requests, owner = {}, {}, {}
  for i, m in ipairs(members) do
    local r = base_result(m)
    results[i] = r
    emit("start", i, r)
    local request = nil
    if m.status == "ok" then
      request = start_member(m, r, env, safe)
    else
      r.provider, r.model = choose_for(m, env) -- every result names them (docs/json.md)
    end
    if request then
      requests[#requests + 1] = request
      owner[#requests] = i
    else
      emit("done", i, r)
    end
  end
  if #requests > 0 then
    local outcomes = M.ask(requests, {
      store = env.store, timeout = env.timeout, deadline_at = env.deadline_at, retries = env.retries,
      jobs = env.jobs, config = env.config,
      on_event = function(kind, j, data) emit(kind, owner[j], data) end,
    })
    for j, o in ipairs(outcomes) do
      settle(results[owner[j]], o)
      emit("done", owner[j], results[owner[j]])
    end
  end
  for _, r in ipairs(results) do r.refs = nil end
  return results
end

return M
