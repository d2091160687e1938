-- Gemini generateContent: POST {base}/v1beta/models/{model}:generateContent, streamed as
-- :streamGenerateContent?alt=sse (each event a whole GenerateContentResponse; no end
-- marker, the last one carries finishReason). The key goes in x-goog-api-key, never in
-- the URL, so it cannot reach a log line or an error message.
local common = require("agent.providers.common")
local json = require("agent.json")

local M = {
  name = "gemini",
  default_model = "gemini-2.5-flash",
  key_env = "GEMINI_API_KEY",
  key_env_alt = "GOOGLE_API_KEY",
  base_env = "GEMINI_BASE_URL",
  default_base = "https://generativelanguage.googleapis.com",
}

local FINISH = { STOP = "stop", MAX_TOKENS = "length" }

-- finishReasons that mean a filter (safety, recitation, blocklist, personal data) stopped
-- the reply: there is no review to read, and the same prompt would be stopped again, so the
-- call fails (kind "blocked") and is not retried.
local BLOCKED = {
  SAFETY = true, RECITATION = true, PROHIBITED_CONTENT = true, BLOCKLIST = true, SPII = true, IMAGE_SAFETY = true,
}

-- The failure of a candidate a filter stopped, naming the reason and any category that
-- blocked it; nil for any other candidate.
local function stopped(cand)
  if not BLOCKED[cand.finishReason] then return nil end
  local why = cand.finishReason
  for _, rating in ipairs(type(cand.safetyRatings) == "table" and cand.safetyRatings or {}) do
    if type(rating) == "table" and rating.blocked == true and type(rating.category) == "string" then
      why = why .. ", " .. rating.category
      break
    end
  end
  return ("gemini: the reply was blocked (finishReason %s)"):format(why), "blocked"
end

local function text_part(text)
  return json.array({ { text = text } })
end

-- request(call, cfg) -> http request | nil, msg, "auth"
function M.request(call, cfg)
  local key = common.env_key(cfg, { M.key_env, M.key_env_alt })
  if not key then return nil, common.key_advice(M), "auth" end
  local config = {
    temperature = call.temperature or 0,
    maxOutputTokens = call.max_tokens or common.DEFAULT_MAX_TOKENS,
  }
  if call.json then config.responseMimeType = "application/json" end
  local body = {
    contents = json.array({ { role = "user", parts = text_part(call.user or "") } }),
    generationConfig = config,
  }
  if call.system and call.system ~= "" then body.systemInstruction = { parts = text_part(call.system) } end
  local model = tostring(call.model):gsub("^models/", "")
  local method = call.stream and ":streamGenerateContent?alt=sse" or ":generateContent"
  return {
    method = "POST",
    url = common.base_url(cfg, M.base_env, M.default_base) .. "/v1beta/models/" .. model .. method,
    headers = { ["content-type"] = "application/json", ["x-goog-api-key"] = key },
    body = json.encode(body),
  }
end

-- Text of a candidate, without thought summaries.
local function candidate_text(cand)
  local content = type(cand.content) == "table" and cand.content or {}
  local parts = {}
  for _, part in ipairs(type(content.parts) == "table" and content.parts or {}) do
    if type(part) == "table" and type(part.text) == "string" and part.thought ~= true then
      parts[#parts + 1] = part.text
    end
  end
  return table.concat(parts)
end

-- Output tokens include the thinking Gemini 2.5 bills as output.
local function usage_of(meta)
  if type(meta) ~= "table" then return nil, nil end
  local out = meta.candidatesTokenCount
  if math.type(meta.thoughtsTokenCount) then out = (out or 0) + meta.thoughtsTokenCount end
  return meta.promptTokenCount, out
end

-- A response without candidates: the prompt was blocked.
local function blocked(doc)
  local feedback = type(doc.promptFeedback) == "table" and doc.promptFeedback or {}
  return nil, ("gemini: the prompt was blocked (%s)"):format(tostring(feedback.blockReason or "no candidates")), "blocked"
end

-- event(state, ev): folds one streamed GenerateContentResponse into state.
function M.event(state, ev)
  local doc = common.decode_chunk(M, state, ev.data)
  if not doc then return end
  if type(doc.error) == "table" then
    state.error = state.error or ("gemini: the stream reported an error: %s"):format(common.one_line(doc.error.message))
    return
  end
  -- a new responseId means a retried attempt: start over rather than append to the old one
  if type(doc.responseId) == "string" then
    if state.response_id and state.response_id ~= doc.responseId then common.restart(state) end
    state.response_id = doc.responseId
  end
  state.model = doc.modelVersion or state.model
  local input, output = usage_of(doc.usageMetadata)
  state.input, state.output = input or state.input, output or state.output
  local cand = type(doc.candidates) == "table" and doc.candidates[1]
  if type(cand) ~= "table" then
    if type(doc.promptFeedback) == "table" and doc.promptFeedback.blockReason then
      local _, msg, kind = blocked(doc)
      state.error, state.error_kind = msg, kind
    end
    return
  end
  common.append(state, candidate_text(cand))
  local msg, kind = stopped(cand)
  if msg then state.error, state.error_kind = msg, kind end
  if type(cand.finishReason) == "string" then state.finish = FINISH[cand.finishReason] or "other" end
end

local function whole(doc)
  local cand = type(doc.candidates) == "table" and doc.candidates[1]
  local feedback = type(doc.promptFeedback) == "table" and doc.promptFeedback or {}
  if type(cand) ~= "table" or feedback.blockReason then return blocked(doc) end
  local msg, kind = stopped(cand)
  if msg then return nil, msg, kind end
  local input, output = usage_of(doc.usageMetadata)
  return {
    text = candidate_text(cand),
    finish = FINISH[cand.finishReason] or "other",
    usage = { input = input, output = output },
    model = doc.modelVersion,
  }
end

-- Google answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
local function key_invalid(body)
  local doc = json.decode(body or "")
  local err = type(doc) == "table" and type(doc.error) == "table" and doc.error or {}
  for _, d in ipairs(type(err.details) == "table" and err.details or {}) do
    if type(d) == "table" and d.reason == "API_KEY_INVALID" then return true end
  end
  return false
end

-- parse(res, state, req) -> reply | nil, msg, kind
function M.parse(res, state, req)
  if res.status == 400 and key_invalid(res.body) then return nil, common.key_advice(M, 400), "auth" end
  if res.status >= 400 then return common.http_error(M, res, req) end
  if state and state.started then return common.stream_reply(M, state, state.finish ~= nil) end
  local doc, err, kind = common.decode_reply(M, res.body)
  if not doc then return nil, err, kind end
  return whole(doc)
end

return M
