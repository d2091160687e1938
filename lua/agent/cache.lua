-- The reply cache: every model reply a run pays for is kept under
-- .agent/cache/panel/<STORY-ID>/<sha256(provider, model, system, user, max_tokens)>.json, written
-- atomically the moment it arrives, so a run cut short (Ctrl-C, a deadline, a crash) resumes
-- without paying twice. --fresh skips the lookups but still records the new replies.
-- Offline results are never cached: they cost nothing and must always reflect the files.
--
-- Entries are signed (HMAC-SHA256) with a key of the user's own, $XDG_STATE_HOME/agent/
-- cache.key (default ~/.local/state/agent/cache.key, mode 0600, made on first use). The
-- repository is untrusted input: without the signature, a clone could ship entries for its
-- own prompts (which anyone can compute) and have forged approvals read as reviews. An entry
-- another user or machine wrote is a miss, so a cache committed by mistake is harmless.
local json = require("agent.json")
local fs = require("agent.fs")
local log = require("agent.log")
local sys = require("agent.sys")

local M = {}

-- Bump when the entry layout changes: older entries are then misses, never misread.
local FORMAT = 2
-- A cached reply larger than this is ignored (a corrupt or foreign file, not a reply).
local ENTRY_MAX_BYTES = 64 * 1024 * 1024

local Store = {}
Store.__index = Store

local KEY_BYTES = 32
local HMAC_BLOCK = 64

-- The file holding the user's signing key, or nil when there is no home to keep it in.
function M.key_file(getenv)
  getenv = getenv or sys.getenv
  local state = getenv("XDG_STATE_HOME")
  if not state or state == "" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    state = home .. "/.local/state"
  end
  return state .. "/agent/cache.key"
end

-- The user's signing key (hex), made on first use; nil, message when it cannot be kept.
local function signing_key()
  local file = M.key_file()
  if not file then return nil, "no HOME or XDG_STATE_HOME to keep the cache key in" end
  local key = fs.read(file, 4096)
  key = key and key:match("^(%x+)%s*$")
  if key and #key >= 2 * KEY_BYTES then return key end
  local ok, err = fs.mkdir_p(file:match("^(.*)/[^/]*$"), 448) -- 0700
  if not ok then return nil, err end
  key = sys.random_id(KEY_BYTES)
  ok, err = fs.write(file, key .. "\n", { mode = 384 }) -- 0600
  if not ok then return nil, err end
  return key
end

local function from_hex(h) return (h:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)) end

-- HMAC-SHA256 (RFC 2104) of message under key, in hex.
function M.hmac(key, message)
  if #key > HMAC_BLOCK then key = from_hex(sys.sha256(key)) end
  key = key .. ("\0"):rep(HMAC_BLOCK - #key)
  local ipad = key:gsub(".", function(c) return string.char(c:byte() ~ 0x36) end)
  local opad = key:gsub(".", function(c) return string.char(c:byte() ~ 0x5c) end)
  return sys.sha256(opad .. from_hex(sys.sha256(ipad .. message)))
end

-- The signature of an entry for a call: the call's key and the entry's own bytes.
local function signature(self, call, body)
  return M.hmac(self.secret, M.key(call) .. "\n" .. body)
end

-- The cache key of a call: what determines the reply, encoded unambiguously. The output
-- limit counts: a reply cut off at a small one must not answer a call allowed a larger one.
-- Each field goes in as a netstring (<length>:<bytes>,), which needs no escaping: encoding a
-- 400 KB prompt as JSON first took 4.5 of the 6 ms its key cost. A store works a call's key
-- out for every lookup, write and message: it is kept per call table, with the fields it
-- came from, so a call changed since is keyed afresh.
local keys = setmetatable({}, { __mode = "k" })

local function netstrings(fields)
  local out = {}
  for i = 1, 5 do
    local s = tostring(fields[i])
    out[i] = #s .. ":" .. s .. ","
  end
  return table.concat(out)
end

function M.key(call)
  local fields = { call.provider or "", call.model or "", call.system or "", call.user or "", call.max_tokens or 0 }
  local hit = keys[call]
  if hit and hit[1] == fields[1] and hit[2] == fields[2] and hit[3] == fields[3] and hit[4] == fields[4]
      and hit[5] == fields[5] then
    return hit.key
  end
  fields.key = sys.sha256(netstrings(fields))
  keys[call] = fields
  return fields.key
end

-- A store for one story. opts.fresh: lookups always miss (replies are still written).
function M.open(root, story_id, opts)
  assert(type(root) == "string" and type(story_id) == "string", "cache.open(root, story_id [, opts])")
  local secret, why = signing_key()
  if not secret then
    log.warn(("cache: %s; replies are not cached"):format(why))
  end
  return setmetatable({
    root = root,
    dir = root .. "/.agent/cache/panel/" .. story_id,
    fresh = opts and opts.fresh or false,
    secret = secret,
    warned = secret == nil,
  }, Store)
end

function Store:path(call) return self.dir .. "/" .. M.key(call) .. ".json" end

-- Whether an entry's path stays inside the repository: a symlink planted at the folder or
-- at an entry must not make the cache read or write a file elsewhere (warned once).
function Store:inside(path)
  local paths = require("agent.paths")
  local ok, why = paths.check_inside(self.root, path)
  if not ok and not self.warned then
    self.warned = true
    log.warn(("cache: %s: %s; replies are not cached"):format(paths.relative(self.root, path), why))
  end
  return ok
end

-- The cached reply for a call, or nil. A corrupt entry is a miss (and is overwritten later).
function Store:get(call)
  if self.fresh or not self.secret or not self:inside(self:path(call)) then return nil end
  local text = fs.read(self:path(call), ENTRY_MAX_BYTES)
  if not text then return nil end
  local envelope = json.decode(text)
  if type(envelope) ~= "table" or type(envelope.entry) ~= "string"
      or envelope.mac ~= signature(self, call, envelope.entry) then
    log.debug(("cache: ignoring %s: not signed with this user's key"):format(self:path(call)))
    return nil
  end
  local entry = json.decode(envelope.entry)
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
  if not self.secret then return nil, "no cache key" end
  if not self:inside(self:path(call)) then return nil, "outside the repository" end
  local body = json.encode(entry)
  local ok, err = fs.mkdir_p(self.dir)
  -- Atomic but not durable: a reader never sees half an entry, and an entry a crash loses is
  -- only a miss. The fsyncs a durable write makes would queue up on the event loop when many
  -- replies arrive together, and hold up the synthesis (bench/README.md, panel latency).
  if ok then
    local envelope = json.encode({ entry = body, mac = signature(self, call, body) })
    ok, err = fs.write(self:path(call), envelope, { sync = false })
  end
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
