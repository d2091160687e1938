-- Anthropic messages: POST {base}/v1/messages with x-api-key and anthropic-version. The
-- system prompt is a top-level field and max_tokens is required. Streams are named events:
-- message_start, content_block_delta (text_delta), message_delta (stop_reason, usage),
-- message_stop, and error (e.g. overloaded mid-stream).
local common = require("agent.providers.common")
local json = require("agent.json")

local M = {
  name = "anthropic",
  default_model = "claude-sonnet-4-5",
  key_env = "ANTHROPIC_API_KEY",
  base_env = "ANTHROPIC_BASE_URL",
  default_base = "https://api.anthropic.com",
  version = "2023-06-01",
}

-- stop_reason -> finish. "max_tokens" is the truncation the panel must notice, and so is
-- "model_context_window_exceeded" (the reply ran into the model's context window).
local FINISH = {
  end_turn = "stop", stop_sequence = "stop", max_tokens = "length", model_context_window_exceeded = "length",
}

-- stop_reason "refusal": the model declined, so there is no review to read, and the same
-- prompt would be declined again: a failure of its own kind, never retried.
local function refused()
  return 'anthropic: the model refused to answer (stop_reason "refusal")', "refused"
end

-- 529 is Anthropic's "overloaded": worth a retry like a 503.
local RETRY_STATUSES = { 408, 429, 500, 502, 503, 504, 529 }

-- request(call, cfg) -> http request | nil, msg, "auth"
function M.request(call, cfg)
  local key = common.env_key(cfg, { M.key_env })
  if not key then return nil, common.key_advice(M), "auth" end
  local body = {
    model = call.model,
    max_tokens = call.max_tokens or common.DEFAULT_MAX_TOKENS,
    temperature = call.temperature or 0,
    messages = json.array({ { role = "user", content = call.user or "" } }),
  }
  if call.system and call.system ~= "" then body.system = call.system end
  if call.stream then body.stream = true end
  return {
    method = "POST",
    url = common.base_url(cfg, M.base_env, M.default_base) .. "/v1/messages",
    headers = {
      ["content-type"] = "application/json",
      ["x-api-key"] = key,
      ["anthropic-version"] = M.version,
    },
    body = json.encode(body),
    retry_statuses = RETRY_STATUSES,
  }
end

local function usage_into(state, usage)
  if type(usage) ~= "table" then return end
  if math.type(usage.input_tokens) then state.input = usage.input_tokens end
  if math.type(usage.output_tokens) then state.output = usage.output_tokens end
end

-- event(state, ev): folds one streamed event into state.
function M.event(state, ev)
  local doc = common.decode_chunk(M, state, ev.data)
  if not doc then return end
  local kind = doc.type or ev.event
  if kind == "message_start" then
    -- a fresh message: anything before it belonged to an attempt that was retried
    common.restart(state)
    local msg = type(doc.message) == "table" and doc.message or {}
    state.model = msg.model
    usage_into(state, msg.usage)
  elseif kind == "content_block_delta" then
    local delta = type(doc.delta) == "table" and doc.delta or {}
    if delta.type == "text_delta" then common.append(state, delta.text) end
  elseif kind == "message_delta" then
    local delta = type(doc.delta) == "table" and doc.delta or {}
    if delta.stop_reason == "refusal" then
      state.error, state.error_kind = refused()
    elseif type(delta.stop_reason) == "string" then
      state.finish = FINISH[delta.stop_reason] or "other"
    end
    usage_into(state, doc.usage)
  elseif kind == "message_stop" then
    state.done = true
  elseif kind == "error" then
    local err = type(doc.error) == "table" and doc.error or {}
    state.error = state.error or ("anthropic: the stream reported an error: %s (%s)"):format(
      common.one_line(err.message or "unknown"), tostring(err.type or "error"))
  end
end

local function whole(doc)
  if doc.stop_reason == "refusal" then return nil, refused() end
  if type(doc.content) ~= "table" then return nil, "anthropic: the reply has no content", "format" end
  local parts = {}
  for _, block in ipairs(doc.content) do
    if type(block) == "table" and block.type == "text" and type(block.text) == "string" then
      parts[#parts + 1] = block.text
    end
  end
  local usage = type(doc.usage) == "table" and doc.usage or {}
  return {
    text = table.concat(parts),
    finish = FINISH[doc.stop_reason] or "other",
    usage = { input = usage.input_tokens, output = usage.output_tokens },
    model = doc.model,
  }
end

-- parse(res, state, req) -> reply | nil, msg, kind
function M.parse(res, state, req)
  if res.status >= 400 then return common.http_error(M, res, req) end
  if state and state.started then return common.stream_reply(M, state, state.done) end
  local doc, err, kind = common.decode_reply(M, res.body)
  if not doc then return nil, err, kind end
  return whole(doc)
end

return M
