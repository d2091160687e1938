-- Model providers: which one to use, and running a batch of calls through them at once.
--
-- Each file beside this one is one wire format (openai, anthropic, gemini, ollama) or the
-- offline panel. A provider builds an agent.http request from a call, folds server-sent
-- events into a stream state, and turns the response into a reply; run() sends every call
-- of a batch in one http.request_all, so personas on different providers still run
-- concurrently. docs/providers.md is the user guide; docs/internals.md has the contract.
-- What the provider files share (keys, base URLs, error replies, streams) is
-- agent.providers.common.
local sys = require("agent.sys")

local M = {}

M.DEFAULT_TIMEOUT = 120 -- seconds per call (each attempt)
M.DEFAULT_RETRIES = 3

local NAMES = { "offline", "openai", "anthropic", "gemini", "ollama" }
local KNOWN = {}
for _, n in ipairs(NAMES) do KNOWN[n] = true end

-- names() -> array of provider names, the default first.
function M.names()
  return { table.unpack(NAMES) }
end

-- get(name) -> provider | nil, msg
function M.get(name)
  if type(name) ~= "string" or not KNOWN[name] then
    return nil, ("unknown provider '%s' (known: %s)"):format(tostring(name), table.concat(NAMES, ", "))
  end
  return require("agent.providers." .. name)
end

-- Whether name is a known provider that sends no requests (the offline panel).
function M.is_offline(name)
  local provider = M.get(name)
  return provider ~= nil and provider.offline == true
end

-- choose(flags, config) -> name, model | nil, msg. flags are the CLI options
-- (--provider, --model); config the loaded .agent/etc/agent.yaml. Precedence: the flag,
-- then agent.provider / agent.models.<name>, then "offline" / the provider's default.
function M.choose(flags, config)
  flags = flags or {}
  local agent = (config or {}).agent or {}
  local name = flags.provider or agent.provider or "offline"
  local provider, err = M.get(name)
  if not provider then return nil, err end
  local models = type(agent.models) == "table" and agent.models or {}
  local model = flags.model or models[name] or provider.default_model
  return name, model
end

-- ---- Running a batch -----------------------------------------------------------------------

-- The http failure codes that mean a streamed reply was cut after it started.
local NOT_A_DROP = { timeout = true, interrupted = true, toobig = true, aborted = true }

-- Settings a provider reads: its section of config.providers, and the environment.
local function settings(name, opts)
  local section = ((opts.config or {}).providers or {})[name]
  local cfg = {}
  if type(section) == "table" then
    for k, v in pairs(section) do cfg[k] = v end
  end
  cfg.getenv = opts.getenv or sys.getenv
  return cfg
end

-- check_key(name, config [, getenv]) -> true | nil, msg: whether a call to provider name can
-- be sent as far as its key goes. The provider's own request() is the one judge (openai needs
-- no key for a local server), asked with an empty call: a missing key is its "auth" refusal.
function M.check_key(name, config, getenv)
  local provider, err = M.get(name)
  if not provider then return nil, err end
  if provider.offline then return true end
  local req, msg, kind = provider.request({ model = provider.default_model, user = "" },
    settings(name, { config = config, getenv = getenv }))
  if not req and kind == "auth" then return nil, msg end
  return true
end

local function failure(call, msg, kind)
  return { error = msg, kind = kind, provider = call.provider }
end

-- Turns one request_all outcome into a result. req is the request sent, state the stream
-- state (or nil).
local function to_result(provider, call, req, state, res, err, code)
  if not res then
    local kind = code or "http"
    if state and state.started and not NOT_A_DROP[kind] then
      return failure(call, ("%s: the reply stream was cut off: %s"):format(provider.name, err), "dropped")
    end
    return failure(call, ("%s: %s"):format(provider.name, err), kind)
  end
  local reply, msg, kind = provider.parse(res, state, req)
  if not reply then return failure(call, msg, kind or "format") end
  reply.truncated = reply.finish == "length"
  reply.model = reply.model or call.model
  reply.elapsed_ms = res.elapsed_ms
  reply.attempts = res.attempts
  return { reply = reply, provider = provider.name }
end

-- A result for a call that failed before any request was sent: no attempt, no time.
local function unsent(call, msg, kind)
  local f = failure(call, msg, kind)
  f.attempts, f.elapsed_ms = 0, 0
  return f
end

-- Builds the http request of call i, or returns its result when it fails before any
-- request (unknown provider, offline, missing key).
local function prepare(i, call, opts, deadline_at)
  local provider, err = M.get(call.provider)
  if not provider then return nil, unsent(call, err, "config") end
  if not call.model then
    local copy = {}
    for k, v in pairs(call) do copy[k] = v end
    copy.model = provider.default_model
    call = copy
  end
  if provider.offline then
    return nil, unsent(call, "offline: the offline provider sends no requests", "offline")
  end
  local req, msg, kind = provider.request(call, settings(provider.name, opts))
  if not req then return nil, unsent(call, msg, kind or "auth") end
  if deadline_at and sys.clock() >= deadline_at then
    return nil, unsent(call, ("%s: the deadline passed before the call was sent"):format(provider.name), "timeout")
  end
  req.timeout = call.timeout or opts.timeout or M.DEFAULT_TIMEOUT
  -- agent.http keeps every attempt, retry wait and queued request inside it
  req.deadline = deadline_at
  req.retries = opts.retries or M.DEFAULT_RETRIES
  req.final_if_body = require("agent.providers.common").OUT_OF_CREDIT -- waiting cannot clear those
  local state
  if call.stream and provider.event then
    state = { parts = {}, chars = 0 }
    local on_progress = opts.on_progress
    req.on_event = function(ev)
      state.started = true
      local before = state.chars
      provider.event(state, ev)
      if on_progress and state.chars ~= before then on_progress(i, state.chars) end
    end
  end
  return { provider = provider, call = call, req = req, state = state }
end

-- run(calls, opts) -> results: every call in one http.request_all. See docs/internals.md.
-- calls[i] = {provider=, model=, system=, user=, max_tokens=, temperature=, json=, stream=}
-- opts = {timeout=, deadline=, retries=, parallel=, on_done=fn(i, result),
--         on_progress=fn(i, chars), config=, getenv=}
-- results[i] = {reply={text=, finish=, truncated=, usage={input=, output=}, model=,
--               elapsed_ms=, attempts=}, provider=} or {error=msg, kind=, provider=}
--               (plus attempts = 0, elapsed_ms = 0 when no request was sent)
function M.run(calls, opts)
  assert(type(calls) == "table", "providers.run: calls must be an array")
  opts = opts or {}
  -- the batch's deadline (seconds) as one absolute sys.clock() time shared by every request
  local deadline_at = opts.deadline and sys.clock() + opts.deadline * 1000
  local results, prepared, reqs = {}, {}, {}
  for i, call in ipairs(calls) do
    local p, early = prepare(i, call, opts, deadline_at)
    if p then
      p.index = i
      prepared[#prepared + 1] = p
      reqs[#reqs + 1] = p.req
    else
      results[i] = early
      if opts.on_done then opts.on_done(i, early) end
    end
  end
  if #reqs == 0 then return results end
  local function settle(j, res, err, code)
    local p = prepared[j]
    local result = to_result(p.provider, p.call, p.req, p.state, res, err, code)
    results[p.index] = result
    if opts.on_done then opts.on_done(p.index, result) end
  end
  local http = require("agent.http")
  local outcomes = http.request_all(reqs, { parallel = opts.parallel, on_done = settle })
  -- settle() has run for every request by now; this fills in any the module did not report.
  for j, out in ipairs(outcomes) do
    if not results[prepared[j].index] then
      if out.error then settle(j, nil, out.error, out.code) else settle(j, out) end
    end
  end
  return results
end

return M
