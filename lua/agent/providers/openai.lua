-- OpenAI-compatible chat completions: POST {base}/chat/completions. The same wire format
-- serves OpenAI, vLLM, llama.cpp's server, LM Studio and Ollama's /v1, so a base URL other
-- than api.openai.com is taken for a local server, which may need no key.
-- Streams are server-sent `data:` chunks ending with `data: [DONE]`.
local common = require("agent.providers.common")
local json = require("agent.json")

local M = {
  name = "openai",
  default_model = "gpt-4.1-mini",
  key_env = "OPENAI_API_KEY",
  base_env = "OPENAI_BASE_URL",
  default_base = "https://api.openai.com/v1",
}

local FINISH = { stop = "stop", length = "length" }

-- A refusal (message.refusal) or a content filter's stop has no review in it, and the same
-- prompt would meet the same answer: failures of their own kinds, never retried.
local function refused(text)
  return "openai: the model refused: " .. common.one_line(text), "refused"
end

local function filtered()
  return 'openai: the reply was blocked by the content filter (finish_reason "content_filter")', "blocked"
end

-- OpenAI's reasoning models take max_completion_tokens and refuse a temperature.
local function reasoning_model(model)
  return model:match("^o%d") ~= nil or model:match("^gpt%-5") ~= nil
end

-- OpenAI itself, as opposed to a compatible server (which may want no key).
local function is_openai(url)
  return url:match("^https?://([^/:]+)") == "api.openai.com"
end

-- json_object mode is refused unless the messages mention JSON; say it once if they don't.
local function json_system(system, user)
  if (system .. user):lower():find("json", 1, true) then return system end
  local sep = system ~= "" and "\n\n" or ""
  return system .. sep .. "Reply with a JSON object."
end

local function messages(call, json_mode)
  local system, user = call.system or "", call.user or ""
  if json_mode then system = json_system(system, user) end
  local list = json.array()
  if system ~= "" then list[#list + 1] = { role = "system", content = system } end
  list[#list + 1] = { role = "user", content = user }
  return list
end

-- request(call, cfg) -> http request | nil, msg, "auth"
function M.request(call, cfg)
  local base = common.base_url(cfg, M.base_env, M.default_base)
  local key = common.env_key(cfg, { M.key_env })
  if not key and is_openai(base) then return nil, common.key_advice(M), "auth" end
  local json_mode = call.json and common.setting(cfg, "json_mode", true)
  local body = {
    model = call.model,
    messages = messages(call, json_mode),
  }
  local max_tokens = call.max_tokens or common.DEFAULT_MAX_TOKENS
  if reasoning_model(call.model) then
    body.max_completion_tokens = max_tokens
  else
    body.max_tokens = max_tokens
    body.temperature = call.temperature or 0
  end
  if json_mode then body.response_format = { type = "json_object" } end
  if call.stream then
    body.stream = true
    body.stream_options = { include_usage = true }
  end
  local headers = { ["content-type"] = "application/json" }
  if key then headers.authorization = "Bearer " .. key end
  return {
    method = "POST",
    url = base .. "/chat/completions",
    headers = headers,
    body = json.encode(body),
  }
end

-- event(state, ev): folds one streamed chunk into state.
function M.event(state, ev)
  local data = ev.data or ""
  if data == "[DONE]" then
    state.done = true
    return
  end
  local chunk = common.decode_chunk(M, state, data)
  if not chunk then return end
  if type(chunk.error) == "table" then
    state.error = state.error or ("openai: the stream reported an error: %s"):format(common.one_line(chunk.error.message))
    return
  end
  state.model = chunk.model or state.model
  -- every chunk of one completion carries its id: a different one starts another reply.
  -- (Not delta.role: Ollama's /v1 repeats the role in every chunk, ollama/ollama#7626.)
  if type(chunk.id) == "string" then
    if state.reply_id and state.reply_id ~= chunk.id then common.restart(state) end
    state.reply_id = chunk.id
  end
  local choice = type(chunk.choices) == "table" and chunk.choices[1] or nil
  if type(choice) == "table" then
    local delta = type(choice.delta) == "table" and choice.delta or {}
    common.append(state, delta.content)
    if type(delta.refusal) == "string" then state.refusal = (state.refusal or "") .. delta.refusal end
    if choice.finish_reason == "content_filter" then state.error, state.error_kind = filtered() end
    if type(choice.finish_reason) == "string" then
      state.finish = FINISH[choice.finish_reason] or "other"
    end
  end
  if type(chunk.usage) == "table" then
    state.input = chunk.usage.prompt_tokens
    state.output = chunk.usage.completion_tokens
  end
end

local function whole(doc)
  local choice = type(doc.choices) == "table" and doc.choices[1]
  if type(choice) ~= "table" or type(choice.message) ~= "table" then
    return nil, "openai: the reply has no choices[1].message", "format"
  end
  local msg = choice.message
  if type(msg.refusal) == "string" and msg.refusal ~= "" then return nil, refused(msg.refusal) end
  if choice.finish_reason == "content_filter" then return nil, filtered() end
  local usage = type(doc.usage) == "table" and doc.usage or {}
  return {
    text = type(msg.content) == "string" and msg.content or "",
    finish = FINISH[choice.finish_reason] or "other",
    usage = { input = usage.prompt_tokens, output = usage.completion_tokens },
    model = doc.model,
  }
end

-- parse(res, state, req) -> reply | nil, msg, kind. state: the stream state (or nil); req:
-- the request sent.
function M.parse(res, state, req)
  if res.status >= 400 then return common.http_error(M, res, req) end
  if state and state.started then
    if state.refusal and state.refusal ~= "" and not state.error then return nil, refused(state.refusal) end
    return common.stream_reply(M, state, state.done or state.finish ~= nil)
  end
  local doc, err, kind = common.decode_reply(M, res.body)
  if not doc then return nil, err, kind end
  return whole(doc)
end

return M
