-- What the provider files share: settings, base URLs and keys, error replies with any key
-- scrubbed out, reply and stream decoding. The registry and batch runner is agent.providers.
local json = require("agent.json")

local M = {}

M.DEFAULT_MAX_TOKENS = 4096 -- per reply, when a call names none

-- A provider setting: config.providers.<name>[key], else the default.
function M.setting(cfg, key, default)
  local v = cfg[key]
  if v == nil then return default end
  return v
end

-- The base URL: the environment variable, else config.providers.<name>.base_url, else the
-- provider's default; without a trailing slash.
function M.base_url(cfg, env_name, default)
  local url = cfg.getenv(env_name)
  if not url or url == "" then url = cfg.base_url end
  if not url or url == "" then url = default end
  return (url:gsub("/+$", ""))
end

-- The first non-empty environment variable of names, and its name.
function M.env_key(cfg, names)
  for _, n in ipairs(names) do
    local v = cfg.getenv(n)
    if v and v ~= "" then return v, n end
  end
  return nil
end

-- The one-line advice for a key that is missing or refused.
function M.key_advice(provider, status)
  local var = provider.key_env
  if provider.key_env_alt then var = var .. " (or " .. provider.key_env_alt .. ")" end
  if status then
    return ("%s: the API key was refused (HTTP %d): set %s to a valid key"):format(provider.name, status, var)
  end
  return ("%s: no API key: set %s"):format(provider.name, var)
end

-- Scrubs a key out of a server's text and keeps it to one short line.
local function one_line(text, key)
  text = tostring(text or "")
  if key and #key >= 4 then text = require("agent.text").replace_plain(text, key, "[key]") end
  text = text:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
  if #text > 300 then text = text:sub(1, 297) .. "..." end
  return text
end
M.one_line = one_line

-- The message inside an error body, whatever the format's shape:
-- {"error": {"message": ...}}, {"error": "..."}, {"message": ...}; and the error's own
-- labels (error.type, .code, .status: "insufficient_quota", "permission_error",
-- "PERMISSION_DENIED"), lower-cased and joined by spaces ("" when none).
local function server_error(body)
  local doc = json.decode(body or "")
  if type(doc) ~= "table" then return nil, "" end
  local e, labels = doc.error, {}
  if type(e) == "table" then
    for _, k in ipairs({ "type", "code", "status" }) do
      if type(e[k]) == "string" then labels[#labels + 1] = e[k]:lower() end
    end
    if type(e.message) == "string" then return e.message, table.concat(labels, " ") end
  end
  if type(e) == "string" then return e, "" end
  if type(doc.message) == "string" then return doc.message, table.concat(labels, " ") end
  return nil, table.concat(labels, " ")
end

-- The credential a request carries (to scrub from server messages), or nil.
local function sent_key(req)
  local h = req and req.headers or {}
  local key = h["x-api-key"] or h["x-goog-api-key"] or h.authorization
  return key and key:gsub("^Bearer ", "") or nil
end

-- What an error body holds when the account has no credit left: OpenAI's 429
-- insufficient_quota, Anthropic's billing_error and its 400 "Your credit balance is too low".
-- Waiting cannot clear it, unlike a rate limit's 429: every request passes these as
-- final_if_body, so agent.http does not retry them.
M.OUT_OF_CREDIT = { "insufficient_quota", "billing_error", "credit balance" }

local function out_of_credit(said, labels)
  local text = labels .. " " .. (said or ""):lower()
  for _, word in ipairs(M.OUT_OF_CREDIT) do
    if text:find(word, 1, true) then return true end
  end
  return false
end

-- Whether a 403 is about the key: no message at all, or labels or a message that speak of
-- the key, authentication or permission (Anthropic's permission_error, Google's
-- PERMISSION_DENIED). Other 403s (OpenAI's unsupported_country_region_territory) are not.
local function key_refusal(said, labels)
  if not said then return true end
  local text = labels .. " " .. said:lower()
  return text:find("permission", 1, true) ~= nil or text:find("key", 1, true) ~= nil
    or text:find("auth", 1, true) ~= nil
end

-- The kind of an error status that is not about the key or credit: "not_found" (a model or
-- path that does not exist), "forbidden" (any other 403) or "http".
local function status_kind(status)
  if status == 404 then return "not_found" end
  if status == 403 then return "forbidden" end
  return "http"
end

-- For an HTTP error status: nil, msg, kind (a parse() failure). 401, and a 403 about the key,
-- become the key advice ("auth"); an exhausted account says so ("quota"); everything else
-- names the status and the server's own message with any key scrubbed out ("not_found" for
-- 404, "forbidden" for other 403s, else "http").
function M.http_error(provider, res, req)
  local status = res.status
  local said, labels = server_error(res.body)
  local key = sent_key(req)
  if out_of_credit(said, labels) then
    return nil, ("%s: the account is out of credit (HTTP %d%s): add credit or use another key")
      :format(provider.name, status, said and (": " .. one_line(said, key)) or ""), "quota"
  end
  if provider.key_env and (status == 401 or (status == 403 and key_refusal(said, labels))) then
    return nil, M.key_advice(provider, status), "auth"
  end
  local msg = ("%s: HTTP %d"):format(provider.name, status)
  if said then msg = msg .. ": " .. one_line(said, key) end
  if res.retry_after then
    msg = msg .. (" (the server asked to retry after %d s, beyond the deadline)"):format(math.ceil(res.retry_after))
  end
  if res.attempts and res.attempts > 1 then msg = msg .. (" (after %d attempts)"):format(res.attempts) end
  return nil, msg, status_kind(status)
end

-- Decodes a reply body that must be a JSON object: doc | nil, msg, "format".
function M.decode_reply(provider, body)
  if not body or body == "" then
    return nil, ("%s: the reply body is empty"):format(provider.name), "format"
  end
  local doc, err = json.decode(body)
  if type(doc) ~= "table" then
    return nil, ("%s: the reply is not valid JSON (%s)"):format(provider.name, one_line(err or "not an object")), "format"
  end
  return doc
end

-- Decodes one streamed chunk into state; records a format error (never raises: it runs
-- inside the http module's event delivery).
function M.decode_chunk(provider, state, data)
  local doc = json.decode(data or "")
  if type(doc) ~= "table" then
    state.error = state.error or ("%s: a streamed chunk is not valid JSON: %s"):format(provider.name, one_line(data):sub(1, 80))
    state.error_kind = state.error_kind or "format"
    return nil
  end
  return doc
end

-- Forgets what a stream assembled so far (a new attempt's reply starts): its text, its end,
-- and what the cut-off attempt said besides (a refusal, a broken chunk, its usage), which
-- must not be charged to the reply that replaces it.
function M.restart(state)
  state.parts, state.chars, state.finish, state.done = {}, 0, nil, nil
  state.refusal, state.error, state.error_kind, state.input, state.output = nil, nil, nil, nil, nil
end

-- Appends streamed text to state.
function M.append(state, text)
  if type(text) == "string" and text ~= "" then
    state.parts[#state.parts + 1] = text
    state.chars = state.chars + #text
  end
end

-- The reply assembled from a stream, or nil, msg, kind: an error the stream carried, or
-- a stream that ended before its end marker (cut off: never a silently short reply).
function M.stream_reply(provider, state, complete)
  if state.error then return nil, state.error, state.error_kind or "http" end
  if not complete then
    return nil, ("%s: the reply stream ended before the reply was complete (%d characters received)"):format(provider.name, state.chars), "dropped"
  end
  return {
    text = table.concat(state.parts),
    finish = state.finish or "other",
    usage = { input = state.input, output = state.output },
    model = state.model,
  }
end

return M
