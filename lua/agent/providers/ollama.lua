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

-- A bind address that names no host (0.0.0.0, ::, or none) means this machine to a client,
-- as a server bound there listens on it.
local function connectable(host)
  if not host:match("^[0:.]*$") then return host end
  return host:find(":", 1, true) and "::1" or "127.0.0.1"
end

-- Go's net.SplitHostPort: "[v6]:port", or "host:port" with the one colon; nil without a port.
local function split_host_port(hostport)
  local host, port = hostport:match("^%[([^%]]*)%]:([^:]*)$")
  if host then return host, port end
  return hostport:match("^([^:%[%]]*):([^:]*)$")
end

-- An IP literal, v4 or v6 (bare or bracketed), or nil.
local function ip_literal(text)
  local ip = text:match("^%[?([%x:.]+)%]?$")
  if ip and (ip:find(":", 1, true) or ip:match("^%d+%.%d+%.%d+%.%d+$")) then return ip end
  return nil
end

-- OLLAMA_HOST (or providers.ollama.base_url) read as Ollama's envconfig.Host reads it, so
-- agent reaches the server the ollama command does: spaces and quotes trimmed; an optional
-- scheme (none: http and port 11434; http:// alone implies 80, https:// 443); a host that
-- may be an IPv6 address, bracketed or bare; a bad port replaced by the default; the path
-- kept; a bind-all address meaning this machine.
local function parse_host(value)
  local s = value:match("^%s*(.-)%s*$"):gsub("^[\"']+", ""):gsub("[\"']+$", ""):match("^%s*(.-)%s*$")
  if s == "ollama.com" then s = "https://ollama.com:443" end
  local scheme, hostport = s:match("^(.-)://(.*)$")
  local default_port = ({ http = "80", https = "443" })[scheme] or tostring(M.default_port)
  if not scheme then scheme, hostport = "http", s end
  local path = hostport:match("/.*$") or ""
  hostport = hostport:sub(1, #hostport - #path)
  local host, port = split_host_port(hostport)
  if not host then
    host, port = ip_literal(hostport) or hostport, default_port
  end
  local n = port:match("^%d+$") and tonumber(port)
  if not n or n > 65535 then port = default_port end
  host = connectable(host)
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return ("%s://%s:%s%s"):format(scheme, host, port, (path:gsub("/+$", "")))
end

local function base_url(cfg)
  return parse_host(common.base_url(cfg, M.base_env, M.default_base))
end
M.base_url = base_url

-- The context window asked for. Ollama's default (2048 to 4096 tokens on most machines)
-- silently drops the start of a longer prompt, so each call asks for room for its prompt and
-- its reply. The prompt is estimated at 3 bytes a token, denser than the 4 the context
-- budget assumes, because a short estimate truncates without an error while paths, ids
-- and code tokenize densely. The window is rounded up to a power of two (at least 4096):
-- Ollama reloads a model whose num_ctx changes, and personas' prompts of similar sizes
-- then share one window. providers.ollama.num_ctx caps it (Ollama itself caps it at the
-- model's trained context).
M.PROMPT_BYTES_PER_TOKEN = 3
M.MIN_NUM_CTX = 4096

-- num_ctx(call, num_predict [, cap]) -> tokens
function M.num_ctx(call, num_predict, cap)
  local bytes = #(call.system or "") + #(call.user or "")
  local need = math.ceil(bytes / M.PROMPT_BYTES_PER_TOKEN) + num_predict
  local ctx = M.MIN_NUM_CTX
  while ctx < need do ctx = ctx * 2 end
  if cap and ctx > cap then ctx = cap end
  return ctx
end

-- request(call, cfg) -> http request
function M.request(call, cfg)
  local messages = json.array()
  if call.system and call.system ~= "" then messages[1] = { role = "system", content = call.system } end
  messages[#messages + 1] = { role = "user", content = call.user or "" }
  local num_predict = call.max_tokens or common.DEFAULT_MAX_TOKENS
  local body = {
    model = call.model,
    messages = messages,
    stream = false,
    options = {
      temperature = call.temperature or 0,
      num_predict = num_predict,
      num_ctx = M.num_ctx(call, num_predict, common.setting(cfg, "num_ctx", nil)),
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
      return nil, ("ollama: model '%s' not found (run 'ollama pull %s')"):format(model, model), "not_found"
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
