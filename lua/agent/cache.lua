-- The reply cache: every model reply a run pays for is kept under
-- .agent/cache/panel/<STORY-ID>/<sha256(provider, model, system, user, max_tokens)>.json, written
-- atomically the moment it arrives, so a run cut short (Ctrl-C, a deadline, a crash) resumes
-- without paying twice. --fresh skips the lookups but still records the new replies.
-- Offline results are never cached: they cost nothing and must always reflect the files.
local json = require("agent.json")
local fs = require("agent.fs")
local log = require("agent.log")
local sys = require("agent.sys")

local M = {}

-- Bump when the entry layout changes: older entries are then misses, never misread.
local FORMAT = 1
-- A cached reply larger than this is ignored (a corrupt or foreign file, not a reply).
local ENTRY_MAX_BYTES = 64 * 1024 * 1024

local Store = {}
Store.__index = Store

-- The cache key of a call: what determines the reply, encoded unambiguously. The output
-- limit counts: a reply cut off at a small one must not answer a call allowed a larger one.
function M.key(call)
  return sys.sha256(json.encode({ call.provider or "", call.model or "", call.system or "", call.user or "",
                                  call.max_tokens or 0 }))
end

-- A store for one story. opts.fresh: lookups always miss (replies are still written).
function M.open(root, story_id, opts)
  assert(type(root) == "string" and type(story_id) == "string", "cache.open(root, story_id [, opts])")
  return setmetatable({
    root = root,
    dir = root .. "/.agent/cache/panel/" .. story_id,
    fresh = opts and opts.fresh or false,
    warned = false,
  }, Store)
end

function Store:path(call) return self.dir .. "/" .. M.key(call) .. ".json" end

-- Whether an entry's path stays inside the repository: a symlink planted at the folder or
-- at an entry must not make the cache read or write a file elsewhere (warned once).
function Store:inside(path)
  local ok, why = require("agent.paths").check_inside(self.root, path)
  if not ok and not self.warned then
    self.warned = true
    log.warn(("cache: %s: %s; replies are not cached"):format(path:sub(#self.root + 2), why))
  end
  return ok
end

-- The cached reply for a call, or nil. A corrupt entry is a miss (and is overwritten later).
function Store:get(call)
  if self.fresh or not self:inside(self:path(call)) then return nil end
  local text = fs.read(self:path(call), ENTRY_MAX_BYTES)
  if not text then return nil end
  local entry = json.decode(text)
  if type(entry) ~= "table" or entry.format ~= FORMAT or type(entry.reply) ~= "table"
      or type(entry.reply.text) ~= "string" or entry.provider ~= call.provider or entry.model ~= call.model then
    log.debug(("cache: ignoring unreadable entry %s"):format(self:path(call)))
    return nil
  end
  return entry.reply
end

-- Records a reply. Returns true, or nil and a message (also warned once per store: a cache
-- that cannot be written costs money on the next run, but must not fail this one).
function Store:put(call, reply)
  local entry = {
    format = FORMAT, provider = call.provider, model = call.model,
    reply = { text = reply.text, finish = reply.finish, truncated = reply.truncated or false,
              usage = reply.usage, model = reply.model },
  }
  if not self:inside(self:path(call)) then return nil, "outside the repository" end
  local ok, err = fs.mkdir_p(self.dir)
  -- Atomic but not durable: a reader never sees half an entry, and an entry a crash loses is
  -- only a miss. The fsyncs a durable write makes would queue up on the event loop when many
  -- replies arrive together, and hold up the synthesis (bench/README.md, panel latency).
  if ok then ok, err = fs.write(self:path(call), json.encode(entry), { sync = false }) end
  if not ok and not self.warned then
    self.warned = true
    log.warn(("cache: cannot record replies (%s); an interrupted run will pay for them again"):format(err))
  end
  return ok, err
end

-- Runs calls through providers.run, answering from the store first. Each reply is recorded
-- the moment it arrives (inside on_done), before the rest of the batch ends.
-- opts: as providers.run (timeout, deadline, retries, parallel, on_done(i, result),
-- on_progress(i, chars)). Results as providers.run's, plus `cached = true` on hits.
function M.run(store, calls, opts)
  opts = opts or {}
  local results, pending = {}, {}
  for i, call in ipairs(calls) do
    local hit = store and store:get(call)
    if hit then
      results[i] = { reply = hit, cached = true }
      if opts.on_done then opts.on_done(i, results[i]) end
    else
      pending[#pending + 1] = i
    end
  end
  if #pending == 0 then return results end
  local batch = {}
  for j, i in ipairs(pending) do batch[j] = calls[i] end
  local sub = {}
  for k, v in pairs(opts) do sub[k] = v end
  sub.on_done = function(j, result)
    local i = pending[j]
    if result.reply and store then store:put(calls[i], result.reply) end
    results[i] = result
    if opts.on_done then opts.on_done(i, result) end
  end
  sub.on_progress = opts.on_progress and function(j, chars) opts.on_progress(pending[j], chars) end
  local out = require("agent.providers").run(batch, sub)
  for j, i in ipairs(pending) do
    if not results[i] then
      results[i] = out[j]
      if out[j].reply and store then store:put(calls[i], out[j].reply) end
    end
  end
  return results
end

return M
