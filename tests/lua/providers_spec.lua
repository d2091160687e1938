-- agent.providers: every wire format against tests/servers/llm_server.py over loopback. The
-- server records each request, so these assert what was sent as well as what came back.
require("agent")
local util = require("testutil")
local json = require("agent.json")
local sys = require("agent.sys")
local providers = require("agent.providers")

local KEY = "sk-test-7f3a9c1e5b2d"

-- Starts a server with these rules; returns it with .log (the request log path).
local function serve(rules, extra)
  local dir = util.tmpdir()
  local args = { "--log", dir .. "/requests.log", "--key", KEY }
  if rules then
    util.write(dir .. "/scenario.json", json.encode(json.array(rules)))
    args[#args + 1] = "--scenario"
    args[#args + 1] = dir .. "/scenario.json"
  end
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local server = util.start_server("llm_server.py", args)
  server.log = dir .. "/requests.log"
  return server
end

-- Stops a server and waits until its process is gone, so its port refuses connections.
local function stop_and_wait(server)
  server.stop()
  for _ = 1, 200 do
    if not util.sh("kill -0 " .. server.pid .. " 2>/dev/null") then return end
    sys.sleep(10)
  end
  error("server " .. server.pid .. " did not exit")
end

-- The requests the server recorded, in arrival order.
local function recorded(server)
  local out = {}
  for line in (util.read(server.log) or ""):gmatch("[^\n]+") do out[#out + 1] = assert(json.decode(line)) end
  return out
end

-- How each format's request is laid out, and where the test server is for it.
local FORMATS = {
  openai = {
    env = function(url, key) return { OPENAI_BASE_URL = url .. "/v1", OPENAI_API_KEY = key } end,
    path = function() return "/v1/chat/completions" end,
    auth = function(h) return h.authorization end,
    auth_want = "Bearer " .. KEY,
    model = function(r) return r.body.model end,
    system = function(b) return b.messages[1].role == "system" and b.messages[1].content end,
    user = function(b) return b.messages[#b.messages].role == "user" and b.messages[#b.messages].content end,
    json_mode = function(b) return b.response_format and b.response_format.type == "json_object" end,
    key_var = "OPENAI_API_KEY",
    streams = true,
  },
  anthropic = {
    env = function(url, key) return { ANTHROPIC_BASE_URL = url, ANTHROPIC_API_KEY = key } end,
    path = function() return "/v1/messages" end,
    auth = function(h) return h["x-api-key"] end,
    auth_want = KEY,
    model = function(r) return r.body.model end,
    system = function(b) return b.system end,
    user = function(b) return #b.messages == 1 and b.messages[1].role == "user" and b.messages[1].content end,
    json_mode = function(b) return b.response_format == nil and b.max_tokens == 512 end, -- no JSON switch; max_tokens required
    key_var = "ANTHROPIC_API_KEY",
    streams = true,
  },
  gemini = {
    env = function(url, key) return { GEMINI_BASE_URL = url, GEMINI_API_KEY = key } end,
    path = function(model) return "/v1beta/models/" .. model .. ":generateContent" end,
    auth = function(h) return h["x-goog-api-key"] end,
    auth_want = KEY,
    model = function(r) return r.path:match("^/v1beta/models/([^:]+):") end,
    system = function(b) return b.systemInstruction.parts[1].text end,
    user = function(b) return b.contents[1].role == "user" and b.contents[1].parts[1].text end,
    json_mode = function(b) return b.generationConfig.responseMimeType == "application/json" end,
    key_var = "GEMINI_API_KEY",
    refused_status = 400, -- Google answers a wrong key with 400 API_KEY_INVALID
    streams = true,
  },
  ollama = {
    env = function(url) return { OLLAMA_HOST = url } end,
    path = function() return "/api/chat" end,
    auth = function(h) return h.authorization or h["x-api-key"] end,
    auth_want = nil, -- Ollama has no authentication
    model = function(r) return r.body.model end,
    system = function(b) return b.messages[1].role == "system" and b.messages[1].content end,
    user = function(b) return b.messages[2].role == "user" and b.messages[2].content end,
    json_mode = function(b) return b.format == "json" and b.stream == false and b.options.num_predict == 512 end,
  },
}
local ORDER = { "openai", "anthropic", "gemini", "ollama" }

local SYSTEM = "You are @Security, a CISO reviewing a user story."
local USER = "Review story INFRA-012 and answer in JSON."
local REPLY = '{"verdict": "APPROVE", "summary": "looks fine"}'

local function getenv_of(tbl)
  return function(name) return tbl[name] end
end

local function call_for(name, over)
  local c = { provider = name, model = name .. "-test-model", system = SYSTEM, user = USER, max_tokens = 512, json = true }
  for k, v in pairs(over or {}) do
    if v == false then c[k] = nil else c[k] = v end -- false: leave the field out
  end
  return c
end

-- Runs one call against server; returns its result and the run's elapsed ms.
local function run_one(server, name, over, opts, key)
  opts = opts or {}
  opts.getenv = opts.getenv or getenv_of(FORMATS[name].env(server.url, key or KEY))
  local t0 = sys.clock()
  local results = providers.run({ call_for(name, over) }, opts)
  return results[1], sys.clock() - t0
end

describe("providers", function()
  after_each(function() util.cleanup() end)

  describe("choosing", function()
    it("lists the providers, offline first", function()
      assert.are.same({ "offline", "openai", "anthropic", "gemini", "ollama" }, providers.names())
    end)

    it("names the known providers when asked for an unknown one", function()
      local p, err = providers.get("openia")
      assert.is_nil(p)
      assert.are.equal("unknown provider 'openia' (known: offline, openai, anthropic, gemini, ollama)", err)
    end)

    it("takes --provider over the config over offline", function()
      local config = { agent = { provider = "anthropic", models = { anthropic = "claude-x", gemini = "gem-y" } } }
      assert.are.same({ "gemini", "gem-y" }, { providers.choose({ provider = "gemini" }, config) })
      assert.are.same({ "anthropic", "claude-x" }, { providers.choose({}, config) })
      assert.are.same({ "offline", providers.get("offline").default_model }, { providers.choose({}, { agent = {} }) })
      assert.are.same({ "offline", providers.get("offline").default_model }, { providers.choose(nil, nil) })
    end)

    it("takes --model over agent.models over the default model", function()
      local config = { agent = { provider = "openai", models = { openai = "gpt-cfg" } } }
      assert.are.same({ "openai", "gpt-flag" }, { providers.choose({ model = "gpt-flag" }, config) })
      assert.are.same({ "openai", "gpt-cfg" }, { providers.choose({}, config) })
      assert.are.same({ "ollama", providers.get("ollama").default_model }, { providers.choose({ provider = "ollama" }, config) })
    end)

    it("refuses an unknown provider from the config", function()
      local name, err = providers.choose({}, { agent = { provider = "bard" } })
      assert.is_nil(name)
      assert.matches("unknown provider 'bard'", err)
    end)

    it("gives every network provider a default model and key variable", function()
      for _, name in ipairs(ORDER) do
        local p = providers.get(name)
        assert.is_string(p.default_model)
        assert.is_true(#p.default_model > 3)
        assert.are.equal(FORMATS[name].key_var, p.key_env)
      end
      assert.is_true(providers.get("offline").offline)
    end)
  end)

  for _, name in ipairs(ORDER) do
    local f = FORMATS[name]
    describe(name, function()
      it("sends the documented request shape and parses the reply and usage", function()
        local server = serve({ { match = "INFRA-012", reply = REPLY, usage = { input = 123, output = 45 } } })
        local result = run_one(server, name)
        server.stop()
        assert.is_nil(result.error)
        local reply = result.reply
        assert.are.equal(REPLY, reply.text)
        assert.are.equal("stop", reply.finish)
        assert.is_false(reply.truncated)
        assert.are.same({ input = 123, output = 45 }, reply.usage)
        assert.are.equal(name .. "-test-model", reply.model)
        assert.are.equal(1, reply.attempts)
        assert.is_number(reply.elapsed_ms)
        local reqs = recorded(server)
        assert.are.equal(1, #reqs)
        local r = reqs[1]
        assert.are.equal("POST", r.method)
        assert.are.equal(f.path(name .. "-test-model"), r.path)
        assert.are.equal(f.auth_want, f.auth(r.headers))
        assert.are.equal(name .. "-test-model", f.model(r))
        assert.are.equal(SYSTEM, f.system(r.body))
        assert.are.equal(USER, f.user(r.body))
        assert.is_true(f.json_mode(r.body))
        assert.matches("application/json", r.headers["content-type"])
        assert.are.equal(0, r.rule)
      end)

      it("marks a reply cut by the token limit as truncated", function()
        local server = serve({ { reply = '{"verdict": "APP', finish = "length" } })
        local result = run_one(server, name)
        server.stop()
        assert.are.equal("length", result.reply.finish)
        assert.is_true(result.reply.truncated)
        assert.are.equal('{"verdict": "APP', result.reply.text)
      end)

      it("retries a 429 after its Retry-After, then succeeds", function()
        local server = serve({ { status = 429, retry_after = 1, times = 1 }, { reply = REPLY } })
        local result, ms = run_one(server, name)
        server.stop()
        assert.is_nil(result.error)
        assert.are.equal(REPLY, result.reply.text)
        assert.are.equal(2, result.reply.attempts)
        local reqs = recorded(server)
        assert.are.equal(2, #reqs)
        assert.is_true(reqs[2].time - reqs[1].time >= 0.9, "retried after " .. (reqs[2].time - reqs[1].time) .. " s")
        assert.is_true(ms < 5000)
      end)

      it("retries a 500, then succeeds", function()
        local server = serve({ { status = 500, times = 1 }, { reply = REPLY } })
        local result = run_one(server, name)
        server.stop()
        assert.are.equal(REPLY, result.reply.text)
        assert.are.equal(2, result.reply.attempts)
        assert.are.equal(2, #recorded(server))
      end)

      it("gives up after the retries with the status and the server's message", function()
        local server = serve({ { status = 503 } })
        local result = run_one(server, name, nil, { retries = 1 })
        server.stop()
        assert.are.equal("http", result.kind)
        assert.matches("^" .. name .. ": HTTP 503", result.error)
        assert.matches("scripted status 503", result.error, 1, true)
        assert.are.equal(2, #recorded(server))
      end)

      it("times out a server that never answers", function()
        local server = serve({ { behavior = "hang" } })
        local result, ms = run_one(server, name, nil, { timeout = 1, retries = 0 })
        server.stop()
        assert.are.equal("timeout", result.kind)
        assert.is_nil(result.reply)
        assert.is_true(ms >= 900 and ms < 4000, "took " .. ms .. " ms")
      end)

      it("calls an invalid JSON body a format error", function()
        local server = serve({ { behavior = "malformed" } })
        local result = run_one(server, name)
        server.stop()
        assert.are.equal("format", result.kind)
        assert.matches("^" .. name .. ": the reply is not valid JSON", result.error)
      end)

      it("calls an empty body a format error", function()
        local server = serve({ { behavior = "empty" } })
        local result = run_one(server, name)
        server.stop()
        assert.are.equal("format", result.kind)
        assert.matches("empty", result.error)
      end)

      if f.key_var then
        it("turns a refused key into one line naming the variable, without the key", function()
          local server = serve({ { reply = REPLY } })
          local wrong = "sk-wrong-0123456789abcdef"
          local result = run_one(server, name, nil, nil, wrong)
          server.stop()
          assert.are.equal("auth", result.kind)
          local p = providers.get(name)
          local var = p.key_env .. (p.key_env_alt and (" (or " .. p.key_env_alt .. ")") or "")
          assert.are.equal(("%s: the API key was refused (HTTP %d): set %s to a valid key"):format(
            name, f.refused_status or 401, var), result.error)
          assert.is_nil(result.error:find(wrong, 1, true))
          assert.is_nil(result.error:find("\n"))
          assert.are.equal(1, #recorded(server)) -- a refused key is not retried
        end)

        it("fails before any request when the key is missing", function()
          if name == "openai" then return end -- a local server needs none: see openai specifics
          local server = serve({ { reply = REPLY } })
          local env = f.env(server.url, nil)
          local result = run_one(server, name, nil, { getenv = getenv_of(env) })
          server.stop()
          assert.are.equal("auth", result.kind)
          assert.matches("^" .. name .. ": no API key: set " .. f.key_var, result.error)
          assert.are.equal(0, #recorded(server))
        end)
      end

      if f.streams then
        it("assembles a streamed reply, with usage and progress", function()
          local text = '{"verdict": "CHANGES", "items": [' .. string.rep('{"text": "add a test"}, ', 6) .. '{}]}'
          local server = serve({ { reply = text, chunk_chars = 7, usage = { input = 50, output = 20 } } })
          local progress = {}
          local result = run_one(server, name, { stream = true }, {
            on_progress = function(i, chars) progress[#progress + 1] = { i, chars } end,
          })
          server.stop()
          assert.is_nil(result.error)
          assert.are.equal(text, result.reply.text)
          assert.are.equal("stop", result.reply.finish)
          assert.are.same({ input = 50, output = 20 }, result.reply.usage)
          assert.is_true(#progress >= 3, #progress .. " progress calls")
          for k, p in ipairs(progress) do
            assert.are.equal(1, p[1])
            if k > 1 then assert.is_true(p[2] > progress[k - 1][2]) end
          end
          assert.are.equal(#text, progress[#progress][2])
          local r = recorded(server)[1]
          if name == "gemini" then
            assert.are.equal("/v1beta/models/gemini-test-model:streamGenerateContent", r.path)
            assert.are.equal("sse", r.query.alt)
          else
            assert.is_true(r.body.stream)
          end
          if name == "openai" then assert.is_true(r.body.stream_options.include_usage) end
        end)

        it("reports a truncated stream", function()
          local server = serve({ { reply = '{"a": "b', finish = "length", chunk_chars = 3 } })
          local result = run_one(server, name, { stream = true })
          server.stop()
          assert.is_true(result.reply.truncated)
          assert.are.equal('{"a": "b', result.reply.text)
        end)

        it("calls a stream cut mid-way 'dropped', never a short reply", function()
          local server = serve({ { reply = string.rep("x", 200), chunk_chars = 10, behavior = "drop" } })
          local result = run_one(server, name, { stream = true }, { retries = 0 })
          server.stop()
          assert.is_nil(result.reply)
          assert.are.equal("dropped", result.kind)
          assert.matches("^" .. name .. ": ", result.error)
        end)

        it("calls an invalid streamed chunk a format error", function()
          local server = serve({ { reply = string.rep("y", 100), chunk_chars = 10, behavior = "malformed" } })
          local result = run_one(server, name, { stream = true })
          server.stop()
          assert.are.equal("format", result.kind)
          assert.matches("not valid JSON", result.error)
        end)
      end
    end)
  end

  -- A refusal or a filter's stop holds no review, and the same prompt meets the same answer:
  -- each is a failure of its own kind naming the reason (the panel does not retry failures),
  -- whole or streamed. A context-window stop is a truncation.
  describe("refusals and safety stops", function()
    local DANGER = { { category = "HARM_CATEGORY_DANGEROUS_CONTENT", probability = "HIGH", blocked = true } }
    local CASES = {
      { "anthropic", { finish = "refusal", reply = "" }, "refused", 'anthropic: the model refused to answer (stop_reason "refusal")' },
      { "openai", { refusal = "I can't help with that request." }, "refused", "openai: the model refused: I can't help with that request." },
      { "openai", { finish = "content_filter", reply = "" }, "blocked", 'openai: the reply was blocked by the content filter (finish_reason "content_filter")' },
      { "gemini", { finish = "SAFETY", reply = "", safety_ratings = DANGER }, "blocked", "gemini: the reply was blocked (finishReason SAFETY, HARM_CATEGORY_DANGEROUS_CONTENT)" },
      { "gemini", { finish = "RECITATION", reply = "{" }, "blocked", "gemini: the reply was blocked (finishReason RECITATION)" },
      { "gemini", { finish = "PROHIBITED_CONTENT", reply = "" }, "blocked", "gemini: the reply was blocked (finishReason PROHIBITED_CONTENT)" },
      { "gemini", { finish = "BLOCKLIST", reply = "" }, "blocked", "gemini: the reply was blocked (finishReason BLOCKLIST)" },
      { "gemini", { finish = "SPII", reply = "" }, "blocked", "gemini: the reply was blocked (finishReason SPII)" },
      { "gemini", { block_reason = "PROHIBITED_CONTENT" }, "blocked", "gemini: the prompt was blocked (PROHIBITED_CONTENT)" },
    }
    for _, case in ipairs(CASES) do
      local name, rule, kind, message = case[1], case[2], case[3], case[4]
      for _, stream in ipairs({ false, true }) do
        it(("%s: %s%s"):format(name, message:match("%((.*)%)$") or message, stream and ", streamed" or ""), function()
          local server = serve({ rule })
          local result = run_one(server, name, { stream = stream })
          server.stop()
          assert.is_nil(result.reply)
          assert.are.equal(kind, result.kind)
          assert.are.equal(message, result.error)
          assert.are.equal(1, #recorded(server)) -- not retried
        end)
      end
    end

    for _, stream in ipairs({ false, true }) do
      it("anthropic: model_context_window_exceeded is a truncation" .. (stream and ", streamed" or ""), function()
        local server = serve({ { finish = "model_context_window_exceeded", reply = '{"verdict": "APP' } })
        local result = run_one(server, "anthropic", { stream = stream })
        server.stop()
        assert.are.equal("length", result.reply.finish)
        assert.is_true(result.reply.truncated)
      end)
    end
  end)

  describe("stream assembly", function()
    -- Feeds events to a provider's event() as agent.http would, and parses the result.
    local function assemble(name, events)
      local p = providers.get(name)
      local state = { parts = {}, chars = 0, started = true }
      for _, ev in ipairs(events) do p.event(state, ev) end
      return p.parse({ status = 200, body = "", attempts = 1, elapsed_ms = 1 }, state, {})
    end
    local function data(t) return { event = "message", data = json.encode(t) } end
    local function named(kind, t) t.type = kind return { event = kind, data = json.encode(t) } end

    local function oa_chunk(id, delta, finish)
      return data({ id = id, choices = { { index = 0, delta = delta, finish_reason = finish } } })
    end

    it("starts over when an openai stream begins another completion (a new id)", function()
      local reply = assert(assemble("openai", {
        oa_chunk("a", { role = "assistant", content = "" }), oa_chunk("a", { content = "half of the fir" }),
        oa_chunk("b", { role = "assistant", content = "" }), oa_chunk("b", { content = "whole" }),
        oa_chunk("b", { content = " reply" }), oa_chunk("b", {}, "stop"), { event = "message", data = "[DONE]" },
      }))
      assert.are.equal("whole reply", reply.text)
    end)

    it("forgets what a cut-off completion said when another begins: a refusal, a broken chunk, usage", function()
      local reply = assert(assemble("openai", {
        oa_chunk("a", { role = "assistant", refusal = "I can't" }),
        { event = "message", data = "{not json" },
        data({ id = "a", choices = {}, usage = { prompt_tokens = 99, completion_tokens = 9 } }),
        oa_chunk("b", { role = "assistant", content = "whole" }), oa_chunk("b", {}, "stop"),
        { event = "message", data = "[DONE]" },
      }))
      assert.are.equal("whole", reply.text)
      assert.are.same({}, reply.usage)
    end)

    -- Ollama's /v1 repeats delta.role in every chunk (ollama/ollama#7626).
    it("keeps an openai stream's text when every chunk repeats the role", function()
      local reply = assert(assemble("openai", {
        oa_chunk("a", { role = "assistant", content = "{\"ok\"" }), oa_chunk("a", { role = "assistant", content = ": true}" }),
        oa_chunk("a", { role = "assistant", content = "" }, "stop"), { event = "message", data = "[DONE]" },
      }))
      assert.are.equal('{"ok": true}', reply.text)
    end)

    it("starts over on a second anthropic message_start", function()
      local function delta(text) return named("content_block_delta", { index = 0, delta = { type = "text_delta", text = text } }) end
      local reply = assert(assemble("anthropic", {
        named("message_start", { message = { model = "m", usage = { input_tokens = 5 } } }), delta("stale"),
        named("message_start", { message = { model = "m", usage = { input_tokens = 5 } } }), delta("fresh"),
        named("message_delta", { delta = { stop_reason = "end_turn" }, usage = { output_tokens = 2 } }),
        named("message_stop", {}),
      }))
      assert.are.equal("fresh", reply.text)
      assert.are.same({ input = 5, output = 2 }, reply.usage)
    end)

    it("starts over when gemini's responseId changes", function()
      local function chunk(id, text, finish)
        return data({ responseId = id, candidates = { { content = { parts = { { text = text } } }, finishReason = finish } } })
      end
      local reply = assert(assemble("gemini", { chunk("a", "old"), chunk("b", "new"), chunk("b", " text", "STOP") }))
      assert.are.equal("new text", reply.text)
    end)

    it("surfaces an error event from the stream", function()
      local reply, err, kind = assemble("anthropic", {
        named("message_start", { message = {} }),
        named("error", { error = { type = "overloaded_error", message = "Overloaded" } }),
      })
      assert.is_nil(reply)
      assert.are.equal("http", kind)
      assert.are.equal("anthropic: the stream reported an error: Overloaded (overloaded_error)", err)
    end)

    it("skips gemini thought parts and counts thinking tokens as output", function()
      local reply = assert(assemble("gemini", { data({
        candidates = { { content = { parts = { { text = "hmm", thought = true }, { text = "{}" } } }, finishReason = "STOP" } },
        usageMetadata = { promptTokenCount = 10, candidatesTokenCount = 3, thoughtsTokenCount = 40 },
      }) }))
      assert.are.equal("{}", reply.text)
      assert.are.same({ input = 10, output = 43 }, reply.usage)
    end)
  end)

  describe("openai specifics", function()
    it("sends no Authorization header to a local server when no key is set", function()
      local server = serve({ { reply = REPLY } }, { "--key", "" })
      local result = run_one(server, "openai", nil, { getenv = getenv_of({ OPENAI_BASE_URL = server.url .. "/v1" }) })
      server.stop()
      assert.are.equal(REPLY, result.reply.text)
      assert.is_nil(recorded(server)[1].headers.authorization)
    end)

    it("leaves response_format out when json_mode is off", function()
      local server = serve({ { reply = REPLY } })
      local config = { providers = { openai = { json_mode = false } } }
      local result = run_one(server, "openai", nil, { config = config })
      server.stop()
      assert.are.equal(REPLY, result.reply.text)
      local body = recorded(server)[1].body
      assert.is_nil(body.response_format)
      assert.are.equal(SYSTEM, body.messages[1].content)
    end)

    it("mentions JSON when the prompt does not, as json_object mode requires", function()
      local server = serve({ { reply = REPLY } })
      local result = run_one(server, "openai", { system = "Be brief.", user = "Review this." })
      server.stop()
      assert.is_nil(result.error) -- the server answers 400 like OpenAI otherwise
      assert.matches("JSON", recorded(server)[1].body.messages[1].content)
    end)

    it("sends max_completion_tokens and no temperature to reasoning models", function()
      local server = serve({ { reply = REPLY } })
      run_one(server, "openai", { model = "gpt-5-mini" })
      run_one(server, "openai", { model = "o4-mini" })
      server.stop()
      for _, r in ipairs(recorded(server)) do
        assert.are.equal(512, r.body.max_completion_tokens)
        assert.is_nil(r.body.max_tokens)
        assert.is_nil(r.body.temperature)
      end
    end)

    it("needs a key for api.openai.com and says which variable", function()
      local results = providers.run({ call_for("openai") }, { getenv = getenv_of({}) })
      assert.are.equal("auth", results[1].kind)
      assert.are.equal("openai: no API key: set OPENAI_API_KEY", results[1].error)
    end)
  end)

  describe("anthropic specifics", function()
    it("sends anthropic-version and retries 529 overloaded", function()
      local server = serve({ { status = 529, times = 1 }, { reply = REPLY } })
      local result = run_one(server, "anthropic")
      server.stop()
      assert.are.equal(2, result.reply.attempts)
      assert.are.equal("2023-06-01", recorded(server)[1].headers["anthropic-version"])
    end)
  end)

  describe("gemini specifics", function()
    it("falls back to GOOGLE_API_KEY and keeps the key out of the URL", function()
      local server = serve({ { reply = REPLY } })
      local env = { GEMINI_BASE_URL = server.url, GOOGLE_API_KEY = KEY }
      local result = run_one(server, "gemini", { model = "models/gemini-test" }, { getenv = getenv_of(env) })
      server.stop()
      assert.are.equal(REPLY, result.reply.text)
      local r = recorded(server)[1]
      assert.are.equal("/v1beta/models/gemini-test:generateContent", r.path)
      assert.is_nil(r.query.key)
      assert.are.equal(KEY, r.headers["x-goog-api-key"])
    end)
  end)

  describe("ollama specifics", function()
    -- What Ollama's envconfig.Host makes of each OLLAMA_HOST, so agent reaches the server
    -- the ollama command does.
    local HOSTS = {
      { nil, "http://localhost:11434" },
      { "0.0.0.0", "http://127.0.0.1:11434" },
      { "gpu-box:8080", "http://gpu-box:8080" },
      { "  gpu-box  ", "http://gpu-box:11434" },
      { "'gpu-box'", "http://gpu-box:11434" },
      { '"http://gpu-box:9000/proxy/"', "http://gpu-box:9000/proxy" },
      { "[::1]:11434", "http://[::1]:11434" },
      { "[::1]:8080", "http://[::1]:8080" },
      { "::1", "http://[::1]:11434" },
      { "[fe80::1]", "http://[fe80::1]:11434" },
      { "[::]", "http://[::1]:11434" },
      { "::", "http://[::1]:11434" },
      { ":9000", "http://127.0.0.1:9000" },
      { "gpu-box:99999", "http://gpu-box:11434" },
      { "http://gpu-box", "http://gpu-box:80" },
      { "https://ollama.example.com/", "https://ollama.example.com:443" },
      { "ollama.com", "https://ollama.com:443" },
    }
    for _, case in ipairs(HOSTS) do
      it(("reads OLLAMA_HOST=%s as Ollama does"):format(case[1] or "(unset)"), function()
        local base = providers.get("ollama").base_url
        assert.are.equal(case[2], base({ getenv = getenv_of({ OLLAMA_HOST = case[1] }) }))
      end)
    end

    -- Ollama's default context (2k-4k tokens) silently drops the start of a longer prompt.
    it("asks for a context window that holds the prompt and the reply", function()
      local server = serve({ { reply = REPLY } })
      local big = ("The service stores orders in db/orders.sql and answers in JSON. "):rep(800)
      local small = run_one(server, "ollama")
      local long = run_one(server, "ollama", { user = big })
      run_one(server, "ollama", { user = big }, { config = { providers = { ollama = { num_ctx = 8192 } } } })
      server.stop()
      assert.are.equal(REPLY, small.reply.text)
      assert.are.equal(REPLY, long.reply.text)
      local r = recorded(server)
      local function ctx(i) return r[i].body.options.num_ctx end
      assert.are.equal(4096, ctx(1)) -- never below Ollama's usual default
      local need = math.ceil((#SYSTEM + #big) / 4) + 512
      assert.is_true(ctx(2) >= need, ("num_ctx %d < %d tokens of prompt and reply"):format(ctx(2), need))
      assert.are.equal(0, ctx(2) & (ctx(2) - 1)) -- a power of two: similar prompts share one window
      assert.are.equal(512, r[2].body.options.num_predict)
      assert.are.equal(8192, ctx(3))
    end)

    it("reads providers.ollama.base_url the same way", function()
      local base = providers.get("ollama").base_url
      assert.are.equal("http://[::1]:11434", base({ getenv = getenv_of({}), base_url = "::1" }))
    end)
  end)

  describe("run", function()
    it("runs a batch concurrently across providers, on_done once per call", function()
      local server = serve(nil, { "--latency-ms", "300" })
      local env = {}
      for _, name in ipairs(ORDER) do
        for k, v in pairs(FORMATS[name].env(server.url, KEY)) do env[k] = v end
      end
      local calls, names = {}, { "openai", "anthropic", "gemini", "ollama", "openai", "anthropic" }
      for i, name in ipairs(names) do calls[i] = call_for(name, { user = "call " .. i .. " json" }) end
      local done = {}
      local t0 = sys.clock()
      local results = providers.run(calls, {
        getenv = getenv_of(env),
        on_done = function(i, result)
          done[#done + 1] = i
          assert.is_table(result.reply or result.error)
        end,
      })
      local ms = sys.clock() - t0
      server.stop()
      assert.is_true(ms < 1200, "6 calls of 300 ms took " .. ms .. " ms")
      assert.are.equal(6, #results)
      for i, result in ipairs(results) do
        assert.is_nil(result.error)
        assert.are.equal(names[i], result.provider)
        assert.are.equal('{"ok": true}', result.reply.text)
      end
      table.sort(done)
      assert.are.same({ 1, 2, 3, 4, 5, 6 }, done)
      -- results are in call order although the server saw them in any order
      local prompts = {}
      for _, r in ipairs(recorded(server)) do prompts[#prompts + 1] = r.prompt:match("call (%d)") end
      table.sort(prompts)
      assert.are.same({ "1", "2", "3", "4", "5", "6" }, prompts)
    end)

    it("answers offline, unknown and keyless calls without a request, through on_done too", function()
      local server = serve({ { reply = REPLY } })
      local env = FORMATS.anthropic.env(server.url, KEY)
      local calls = {
        { provider = "offline", model = "deterministic", user = "x" },
        call_for("anthropic"),
        { provider = "bard", model = "b", user = "x" },
        call_for("gemini"), -- no GEMINI_API_KEY in env
      }
      local done = {}
      local results = providers.run(calls, { getenv = getenv_of(env), on_done = function(i) done[#done + 1] = i end })
      server.stop()
      assert.are.equal("offline", results[1].kind)
      assert.are.equal(REPLY, results[2].reply.text)
      assert.are.equal("config", results[3].kind)
      assert.matches("unknown provider 'bard'", results[3].error)
      assert.are.equal("auth", results[4].kind)
      assert.are.equal(1, #recorded(server))
      table.sort(done)
      assert.are.same({ 1, 2, 3, 4 }, done)
    end)

    it("keeps a batch inside its deadline", function()
      local server = serve({ { behavior = "hang" } })
      local result, ms = run_one(server, "openai", nil, { timeout = 30, deadline = 1, retries = 3 })
      server.stop()
      assert.are.equal("timeout", result.kind)
      assert.is_true(ms < 3000, "took " .. ms .. " ms")
    end)

    it("sends nothing once the deadline has passed", function()
      local server = serve({ { reply = REPLY } })
      local result = run_one(server, "anthropic", nil, { deadline = 0 })
      server.stop()
      assert.are.equal("timeout", result.kind)
      assert.are.equal("anthropic: the deadline passed before the call was sent", result.error)
      assert.are.equal(0, #recorded(server))
    end)

    it("reports a refused connection", function()
      local server = serve({})
      stop_and_wait(server)
      local result = run_one(server, "ollama", nil, { retries = 0 })
      assert.are.equal("connect", result.kind)
      assert.matches("^ollama: ", result.error)
    end)

    it("uses the provider's default model when a call names none", function()
      local server = serve({ { reply = REPLY } })
      local result = run_one(server, "anthropic", { model = false })
      server.stop()
      assert.are.equal(REPLY, result.reply.text)
      assert.are.equal(providers.get("anthropic").default_model, recorded(server)[1].body.model)
    end)

    it("returns an empty result list for no calls", function()
      assert.are.same({}, providers.run({}, {}))
    end)
  end)

  describe("the test server", function()
    it("takes a new scenario and lists its requests over HTTP", function()
      local http = require("agent.http")
      local server = serve({ { reply = "before" } })
      local res = assert(http.request({ method = "POST", url = server.url .. "/_scenario",
        body = json.encode({ rules = json.array({ { reply = "after" } }) }) }))
      assert.are.equal(200, res.status)
      local bad = assert(http.request({ method = "POST", url = server.url .. "/_scenario", body = '{"rules": 3}' }))
      assert.are.equal(400, bad.status)
      local result = run_one(server, "ollama")
      local list = assert(http.request({ url = server.url .. "/_requests" }))
      server.stop()
      assert.are.equal("after", result.reply.text)
      local seen = assert(json.decode(list.body))
      assert.are.equal(1, #seen)
      assert.are.equal("/api/chat", seen[1].path)
      assert.are.equal("ollama", seen[1].format)
    end)

    it("serves rules in order, counting times, and huge replies", function()
      local server = serve({
        { match = "first", reply = "one", times = 1 },
        { match = "first", reply = "two" },
        { match = "big", behavior = "huge", huge_mb = 1 },
      })
      local a = run_one(server, "ollama", { user = "first json" })
      local b = run_one(server, "ollama", { user = "first json" })
      local c = run_one(server, "ollama", { user = "other json" })
      local d = run_one(server, "ollama", { user = "big json" })
      server.stop()
      assert.are.equal("one", a.reply.text)
      assert.are.equal("two", b.reply.text)
      assert.are.equal('{"ok": true}', c.reply.text)
      assert.are.equal(1024 * 1024, #d.reply.text)
      local rules = {}
      for _, r in ipairs(recorded(server)) do rules[#rules + 1] = r.rule == json.null and "none" or r.rule end
      assert.are.same({ 0, 1, "none", 2 }, rules)
    end)
  end)
end)
