-- Ollama's native chat: POST {OLLAMA_HOST}/api/chat with stream=false. Its stream is
-- newline-delimited JSON, not server-sent events, so replies arrive whole (and progress is
-- reported only when they finish). No key: Ollama has no authentication of its own.
local common = require("agent.providers.common")
local json = require("agent.json")

local M = {
  name = "ollama",
  default_model = "llama3.2",
  base_env = "OLLAMA_HOST",
  default_base = "http://localhost:11434",
  default_port = 11434,
}

local FINISH = { stop = "stop", length = "length" }

-- OLLAMA_HOST is often written the way the server binds it: "0.0.0.0", "host:port",
-- without a scheme. Without one, http:// and Ollama's port are implied.
local function base_url(cfg)
  local url = common.base_url(cfg, M.base_env, M.default_base)
  if url:match("^%a[%w+.-]*://") then return url end
  local host, port, rest = url:match("^([^/:]*):?(%d*)(.*)$")
  if host == "" or host == "0.0.0.0" then host = "127.0.0.1" end
  if port == "" then port = tostring(M.default_port) end
  return ("http://%s:%s%s"):format(host, port, rest)
end
M.base_url = base_url

-- request(call, cfg) -> http request
function M.request(call, cfg)
  local messages = json.array()
  if call.system and call.system ~= "" then messages[1] = { role = "system", content = call.system } end
  messages[#messages + 1] = { role = "user", content = call.user or "" }
  local body = {
    model = call.model,
    messages = messages,
    stream = false,
    options = {
      temperature = call.temperature or 0,
      num_predict = call.max_tokens or common.DEFAULT_MAX_TOKENS,
    },
  }
  if call.json then body.format = "json" end
  return {
    method = "POST",
    url = base_url(cfg) .. "/api/chat",
    headers = { ["content-type"] = "application/json" },
    body = json.encode(body),
  }
end

-- parse(res, state, req) -> reply | nil, msg, kind
function M.parse(res, _, req)
  if res.status == 404 then
    local doc = json.decode(res.body or "")
    local said = type(doc) == "table" and type(doc.error) == "string" and doc.error or ""
    local model = said:match("model '([^']+)' not found")
    if model then
      return nil, ("ollama: model '%s' not found (run 'ollama pull %s')"):format(model, model), "http"
    end
  end
  if res.status >= 400 then return common.http_error(M, res, req) end
  local doc, err, kind = common.decode_reply(M, res.body)
  if not doc then return nil, err, kind end
  local msg = type(doc.message) == "table" and doc.message or nil
  if not msg or type(msg.content) ~= "string" then
    return nil, "ollama: the reply has no message.content", "format"
  end
  return {
    text = msg.content,
    finish = FINISH[doc.done_reason] or (doc.done and "stop" or "other"),
    usage = { input = doc.prompt_eval_count, output = doc.eval_count },
    model = doc.model,
  }
end

return M
