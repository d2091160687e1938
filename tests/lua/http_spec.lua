-- agent.http against a real loopback server (tests/servers/http_fixture.py): round trips,
-- concurrency on one multi handle, ordering, server-sent events, retries, failure codes,
-- proxies from the environment, interrupts, cleanup when a callback raises, libcurl loaded
-- at run time (AGENT_LIBCURL), and deadlines.
local agent = require("agent")
local t = require("testutil")
local http, sys, json = agent.http, agent.sys, agent.json

-- Runs a Lua snippet in a child lua5.4 (agent.so via the inherited LUA_CPATH) with extra
-- environment; returns its stdout and exit status.
local function child_lua(code, env, wrapper)
  local dir = t.tmpdir()
  local script = t.write(dir .. "/child.lua", code)
  local parts = { "env" }
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. t.q(v) end
  if wrapper then parts[#parts + 1] = wrapper end
  parts[#parts + 1] = "lua5.4 " .. t.q(script) .. " 2>" .. t.q(dir .. "/stderr")
  local p = io.popen(table.concat(parts, " "))
  local out = p:read("a")
  local _, _, status = p:close()
  return out, status, t.read(dir .. "/stderr")
end

local open_fds = t.open_fds

local function elapsed(fn)
  local t0 = sys.clock()
  local a, b, c = fn()
  return sys.clock() - t0, a, b, c
end

describe("agent.http", function()
  local server, base

  setup(function()
    server = t.start_server("http_fixture.py")
    base = server.url
  end)

  teardown(function()
    server.stop()
    t.cleanup()
  end)

  describe("round trips", function()
    it("POSTs headers and a body and reads them back", function()
      local res = assert(http.request{
        url = base .. "/echo?a=1&b=two", method = "POST", body = '{"q":1}',
        headers = { ["Content-Type"] = "application/json", ["X-Api-Key"] = "k-123", ["X-Num"] = 42 },
      })
      assert.are.equal(200, res.status)
      assert.are.equal(1, res.attempts)
      assert.is_true(res.elapsed_ms >= 0 and res.elapsed_ms < 5000)
      assert.are.equal("application/json", res.headers["content-type"])
      local echo = json.decode(res.body)
      assert.are.equal("POST", echo.method)
      assert.are.equal("/echo", echo.path)
      assert.are.equal("a=1&b=two", echo.query)
      assert.are.equal('{"q":1}', echo.body)
      assert.are.equal("application/json", echo.headers["content-type"])
      assert.are.equal("k-123", echo.headers["x-api-key"])
      assert.are.equal("42", echo.headers["x-num"])
      assert.matches("^agent/", echo.headers["user-agent"])
    end)

    it("defaults to GET without a body and POST with one; other methods as asked", function()
      assert.are.equal("GET", json.decode(assert(http.request{ url = base .. "/echo" }).body).method)
      assert.are.equal("POST", json.decode(assert(http.request{ url = base .. "/echo", body = "x" }).body).method)
      local put = json.decode(assert(http.request{ url = base .. "/echo", method = "PUT", body = "new" }).body)
      assert.are.same({ "PUT", "new" }, { put.method, put.body })
      assert.are.equal("DELETE", json.decode(assert(http.request{ url = base .. "/echo", method = "DELETE" }).body).method)
      local head = assert(http.request{ url = base .. "/echo", method = "HEAD" })
      assert.are.equal(200, head.status)
      assert.are.equal("", head.body)
    end)

    it("keeps binary bodies intact and sends empty header values", function()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local body = table.concat(bytes):rep(3)
      assert.are.equal(body, assert(http.request{ url = base .. "/echo?raw=1", body = body }).body)
      local echo = json.decode(assert(http.request{ url = base .. "/echo", headers = { ["X-Empty"] = "" } }).body)
      assert.are.equal("", echo.headers["x-empty"])
    end)

    it("sends a 2 MB body at once, without Expect: 100-continue", function()
      local body = ("0123456789abcdef"):rep(128 * 1024)
      local secs, res = elapsed(function() return http.request{ url = base .. "/echo", body = body } end)
      local echo = json.decode(assert(res).body)
      assert.are.equal(#body, #echo.body)
      assert.is_nil(echo.headers.expect)
      assert.is_true(secs < 900, "took " .. secs .. " ms")
    end)

    it("lower-cases response header names and joins repeats with ', '", function()
      local res = assert(http.request{ url = base .. "/headers" })
      assert.are.equal("a=1, b=2", res.headers["set-cookie"])
      assert.are.equal("padded value", res.headers["x-mixed-case"])
      assert.is_nil(res.headers["X-Mixed-CASE"])
      assert.are.equal("2", res.headers["content-length"])
    end)

    it("decodes a compressed body", function()
      local res = assert(http.request{ url = base .. "/gzip" })
      assert.are.equal("gzip", res.headers["content-encoding"])
      assert.are.equal(("compressible line\n"):rep(1000), res.body)
    end)

    it("returns an HTTP error status as a response, not a failure", function()
      local res = assert(http.request{ url = base .. "/status?code=404" })
      assert.are.equal(404, res.status)
      assert.are.equal("status 404", res.body)
    end)
  end)

  describe("many requests at once", function()
    it("runs them concurrently: 8 x 300 ms finish in about one delay", function()
      local reqs = {}
      for i = 1, 8 do reqs[i] = { url = base .. "/slow?ms=300&id=" .. i } end
      local ms, results = elapsed(function() return http.request_all(reqs) end)
      assert.are.equal(8, #results)
      for i = 1, 8 do assert.are.equal(tostring(i), results[i].body) end
      assert.is_true(ms >= 290 and ms < 1500, "8 requests took " .. ms .. " ms")
    end)

    it("caps transfers at `parallel`", function()
      local reqs = {}
      for i = 1, 4 do reqs[i] = { url = base .. "/slow?ms=300&id=" .. i } end
      local ms = elapsed(function() return http.request_all(reqs, { parallel = 2 }) end)
      assert.is_true(ms >= 580 and ms < 1800, "4 requests, 2 at a time, took " .. ms .. " ms")
    end)

    it("returns results in request order while on_done follows completion", function()
      local delays = { 600, 100, 350, 0 }
      local reqs = {}
      for i, d in ipairs(delays) do reqs[i] = { url = base .. "/slow?ms=" .. d .. "&id=r" .. i } end
      local order, seen_at = {}, {}
      local t0 = sys.clock()
      local results = http.request_all(reqs, { on_done = function(i, res, err, code)
        order[#order + 1] = i
        seen_at[i] = sys.clock() - t0
        assert.is_nil(err)
        assert.is_nil(code)
        assert.are.equal("r" .. i, res.body)
      end })
      assert.are.same({ 4, 2, 3, 1 }, order)
      for i = 1, 4 do assert.are.equal("r" .. i, results[i].body) end
      -- each reply is handed over when it lands, not when the batch ends
      assert.is_true(seen_at[2] < 450, "second reply seen at " .. seen_at[2] .. " ms")
    end)

    it("puts failures in place as {error=, code=} and passes them to on_done", function()
      local calls = {}
      local results = http.request_all({
        { url = base .. "/slow?ms=0&id=ok" },
        { url = "http://127.0.0.1:1/nobody" },
      }, { on_done = function(i, res, err, code) calls[i] = { res, err, code } end })
      assert.are.equal("ok", results[1].body)
      assert.are.equal("connect", results[2].code)
      assert.matches("^GET 'http://127.0.0.1:1/nobody': cannot connect", results[2].error)
      assert.are.equal(1, results[2].attempts)
      assert.is_nil(calls[2][1])
      assert.are.equal(results[2].error, calls[2][2])
      assert.are.equal("connect", calls[2][3])
    end)

    it("returns an empty array for no requests", function()
      assert.are.same({}, http.request_all({}, { on_done = function() error("not called") end }))
    end)
  end)

  describe("server-sent events", function()
    it("delivers events as they arrive, from chunks cut mid-line", function()
      local events, times = {}, {}
      local t0 = sys.clock()
      local res = assert(http.request{ url = base .. "/sse", on_event = function(ev)
        events[#events + 1] = ev
        times[#times + 1] = sys.clock() - t0
      end })
      assert.are.same({
        { event = "greeting", data = "hello\n two", id = "1" },
        { event = "message", data = "no-space", id = "1" },
        { event = "message", data = "third", id = "1", retry = 1500 },
        { event = "last", data = '{"done":true}', id = "1", retry = 1500 },
      }, events)
      -- the server pauses 400 ms before the last event: earlier ones came before it
      assert.is_true(times[4] - times[3] >= 300, "events at " .. table.concat(times, ", ") .. " ms")
      assert.are.equal(200, res.status)
      assert.matches("^\xef\xbb\xbf: a comment\nevent: greeting", res.body)
    end)

    it("passes non-2xx bodies through untouched instead of parsing them", function()
      local called = false
      local res = assert(http.request{ url = base .. "/status?code=500", on_event = function() called = true end })
      assert.are.equal(500, res.status)
      assert.is_false(called)
    end)
  end)

  describe("retries", function()
    local function key() return sys.random_id() end

    local function hits(k)
      return json.decode(assert(http.request{ url = base .. "/hits?key=" .. k }).body)
    end

    it("retries a 429 honouring Retry-After in seconds", function()
      local k = key()
      local res = assert(http.request{
        url = base .. "/flaky?status=429&fail=2&retry_after=1&key=" .. k, retries = 3, backoff = 0.01 })
      assert.are.equal(200, res.status)
      assert.are.equal(3, res.attempts)
      assert.is_true(res.elapsed_ms >= 1900 and res.elapsed_ms < 3500, "took " .. res.elapsed_ms .. " ms")
      local h = hits(k)
      assert.are.equal(3, #h)
      assert.is_true(h[2] - h[1] >= 0.95 and h[3] - h[2] >= 0.95)
    end)

    it("honours a Retry-After HTTP-date", function()
      local res = assert(http.request{
        url = base .. "/flaky?status=503&fail=1&date_in=2&key=" .. key(), retries = 1, backoff = 0.01 })
      assert.are.equal(200, res.status)
      assert.are.equal(2, res.attempts)
      -- an HTTP-date has whole seconds: 2 s ahead means a wait of a little over 1 to 2 s
      assert.is_true(res.elapsed_ms >= 900 and res.elapsed_ms < 3500, "took " .. res.elapsed_ms .. " ms")
    end)

    it("retries a 500 with backoff, then succeeds", function()
      local k = key()
      local res = assert(http.request{ url = base .. "/flaky?status=500&fail=1&key=" .. k, retries = 2, backoff = 0.2 })
      assert.are.equal(200, res.status)
      assert.are.equal("ok after 1", res.body)
      assert.are.equal(2, res.attempts)
      local h = hits(k)
      -- equal jitter: the first wait is between half and all of `backoff`
      assert.is_true(h[2] - h[1] >= 0.09 and h[2] - h[1] < 1, "waited " .. (h[2] - h[1]) .. " s")
    end)

    it("returns the last response when retries run out, and never retries by default", function()
      local res = assert(http.request{ url = base .. "/flaky?status=503&fail=9&key=" .. key(), retries = 2, backoff = 0.01 })
      assert.are.same({ 503, 3, "failure 3" }, { res.status, res.attempts, res.body })
      res = assert(http.request{ url = base .. "/flaky?status=503&fail=9&key=" .. key() })
      assert.are.same({ 503, 1 }, { res.status, res.attempts })
      res = assert(http.request{ url = base .. "/flaky?status=500&fail=9&key=" .. key(), retries = 3, retry_statuses = {} })
      assert.are.same({ 500, 1 }, { res.status, res.attempts })
      res = assert(http.request{ url = base .. "/flaky?status=418&fail=1&key=" .. key(), retries = 1,
        backoff = 0.01, retry_statuses = { 418 } })
      assert.are.same({ 200, 2 }, { res.status, res.attempts })
    end)

    it("does not wait for a Retry-After longer than backoff_max: the caller gets the reply", function()
      local ms, res = elapsed(function()
        return http.request{ url = base .. "/flaky?status=429&fail=1&retry_after=120&key=" .. key(), retries = 3 }
      end)
      assert.are.same({ 429, 1, "120" }, { res.status, res.attempts, res.headers["retry-after"] })
      assert.is_true(ms < 1000)
    end)

    it("waits for a Retry-After longer than backoff_max when the retry still starts before the deadline", function()
      local ms, res = elapsed(function()
        return http.request{ url = base .. "/flaky?status=429&fail=1&retry_after=2&key=" .. key(), retries = 1,
          backoff_max = 0.5, deadline = sys.clock() + 10000 }
      end)
      assert.are.same({ 200, 2 }, { res.status, res.attempts })
      assert.is_nil(res.retry_after)
      assert.is_true(ms >= 1900, "took " .. ms .. " ms")
    end)

    it("returns at once, with the wait asked for, when a Retry-After passes the deadline or the timeout", function()
      local ms, res = elapsed(function()
        return http.request{ url = base .. "/flaky?status=503&fail=1&retry_after=120&key=" .. key(), retries = 3,
          deadline = sys.clock() + 5000 }
      end)
      assert.are.same({ 503, 1, 120 }, { res.status, res.attempts, res.retry_after })
      assert.is_true(ms < 1000, "took " .. ms .. " ms")
      -- without a deadline, one attempt's timeout bounds the wait
      res = assert(http.request{ url = base .. "/flaky?status=429&fail=1&retry_after=3&key=" .. key(), retries = 1, timeout = 2 })
      assert.are.same({ 429, 1, 3 }, { res.status, res.attempts, res.retry_after })
    end)

    it("does not retry a response whose body holds a final_if_body string", function()
      local res = assert(http.request{ url = base .. "/flaky?status=429&fail=1&key=" .. key(), retries = 3,
        backoff = 0.01, final_if_body = { "nothing like it", "failure 1" } })
      assert.are.same({ 429, 1 }, { res.status, res.attempts })
      res = assert(http.request{ url = base .. "/flaky?status=429&fail=1&key=" .. key(), retries = 3,
        backoff = 0.01, final_if_body = { "insufficient_quota" } })
      assert.are.same({ 200, 2 }, { res.status, res.attempts })
      assert.has_error(function() http.request{ url = base .. "/echo", final_if_body = "failure" } end)
      assert.has_error(function() http.request{ url = base .. "/echo", final_if_body = { "" } } end)
      assert.has_error(function() http.request{ url = base .. "/echo", final_if_body = { 1 } } end)
      local many = {}
      for i = 1, 9 do many[i] = "word" .. i end
      assert.has_error(function() http.request{ url = base .. "/echo", final_if_body = many } end,
        "bad argument #1 to 'request' ('final_if_body' holds more than 8 strings)")
    end)

    it("says how many attempts a retried connection failure took, without curl repeating the host", function()
      local _, err, code = http.request{ url = "http://127.0.0.1:1/x", retries = 2, backoff = 0.01 }
      assert.are.equal("connect", code)
      assert.are.equal("GET 'http://127.0.0.1:1/x': cannot connect: Connection refused (after 3 attempts)", err)
    end)

    it("retries refused connections with growing delays", function()
      local ms, results = elapsed(function()
        return http.request_all({ { url = "http://127.0.0.1:1/", retries = 3, backoff = 0.1 } })
      end)
      assert.are.equal("connect", results[1].code)
      assert.are.equal(4, results[1].attempts)
      -- waits of [50,100] + [100,200] + [200,400] ms
      assert.is_true(ms >= 340 and ms < 2000, "took " .. ms .. " ms")
    end)

    it("waits inside the poll loop: one request's backoff never holds up the others", function()
      local reqs = { { url = base .. "/flaky?status=429&fail=1&retry_after=1&key=" .. key(), retries = 1 } }
      for i = 2, 4 do reqs[i] = { url = base .. "/slow?ms=100&id=" .. i } end
      local t0, done_at = sys.clock(), {}
      local results = http.request_all(reqs, { on_done = function(i) done_at[i] = sys.clock() - t0 end })
      assert.are.same({ 200, 2 }, { results[1].status, results[1].attempts })
      for i = 2, 4 do assert.is_true(done_at[i] < 700, "request " .. i .. " done at " .. done_at[i] .. " ms") end
      assert.is_true(done_at[1] >= 950)
    end)
  end)

  describe("failures", function()
    it("refused connection: connect", function()
      local res, err, code = http.request{ url = "http://127.0.0.1:1/x" }
      assert.is_nil(res)
      assert.are.equal("connect", code)
      assert.matches("^GET 'http://127.0.0.1:1/x': cannot connect: Connection refused", err)
    end)

    it("a server that never answers: timeout, within the timeout", function()
      local ms, res, err, code = elapsed(function() return http.request{ url = base .. "/hang", timeout = 0.5 } end)
      assert.is_nil(res)
      assert.are.equal("timeout", code)
      assert.matches("/hang': timed out", err)
      assert.is_true(ms >= 450 and ms < 2000, "took " .. ms .. " ms")
    end)

    for _, chunked in ipairs({ "0", "1" }) do
      it("50 MB over a 1 MB cap: toobig, quickly, without reading it all (chunked=" .. chunked .. ")", function()
        local k = sys.random_id()
        local ms, res, err, code = elapsed(function()
          return http.request{ url = base .. "/big?mb=50&chunked=" .. chunked .. "&key=" .. k, max_bytes = 1024 * 1024 }
        end)
        assert.is_nil(res)
        assert.are.equal("toobig", code)
        assert.matches("response body larger than max_bytes %(1048576 bytes%)", err)
        assert.is_true(ms < 1500, "took " .. ms .. " ms")
        sys.sleep(200)
        local sent = tonumber(assert(http.request{ url = base .. "/sent?key=" .. k }).body)
        assert.is_true(sent < 20 * 1024 * 1024, "server got to send " .. sent .. " bytes")
      end)
    end

    it("headers over max_header_bytes: toobig", function()
      local res, err, code = http.request{ url = base .. "/bighead?kb=64", max_header_bytes = 16 * 1024 }
      assert.is_nil(res)
      assert.are.equal("toobig", code)
      assert.matches("response headers larger than max_header_bytes %(16384 bytes%)", err)
      assert.are.equal(200, assert(http.request{ url = base .. "/bighead?kb=8" }).status)
    end)

    it("a connection dropped mid-body: a clear protocol error", function()
      local res, err, code = http.request{ url = base .. "/drop" }
      assert.is_nil(res)
      assert.are.equal("http", code)
      assert.matches("/drop': connection closed before the end of the body", err)
      assert.is_nil(err:find("\n"))
    end)

    it("TLS spoken to a plain HTTP port: tls", function()
      local _, err, code = http.request{ url = "https://127.0.0.1:" .. server.port .. "/echo" }
      assert.are.equal("tls", code)
      assert.matches("^GET 'https://127.0.0.1:%d+/echo': TLS", err)
    end)

    it("an unknown host: dns", function()
      local _, err, code = http.request{ url = "http://nonexistent.invalid/", timeout = 20 }
      assert.are.equal("dns", code)
      assert.matches("cannot resolve host", err)
    end)

    it("a URL curl will not take: http", function()
      local _, err, code = http.request{ url = "ftp://127.0.0.1/" }
      assert.are.equal("http", code)
      assert.matches("unsupported URL scheme", err)
    end)

    it("messages name the URL without query or user info, and never the headers", function()
      local _, err = http.request{
        url = "http://user:pa55word@127.0.0.1:1/v1/chat?api_key=SECRET1#frag",
        headers = { Authorization = "Bearer SECRET2", ["X-Api-Key"] = "SECRET3" },
      }
      assert.matches("'http://127.0.0.1:1/v1/chat'", err)
      for _, secret in ipairs({ "SECRET1", "SECRET2", "SECRET3", "pa55word", "user", "frag" }) do
        assert.is_nil(err:find(secret, 1, true), secret .. " leaked into: " .. err)
      end
    end)
  end)

  describe("environment and signals", function()
    local probe = [[
      local http = require("agent").http
      local res, err = http.request{ url = %q }
      io.write(res and (res.headers.via or "direct") or err)
    ]]

    it("uses http_proxy from the environment, and no_proxy", function()
      local code = probe:format(base .. "/echo")
      local proxy = "http://127.0.0.1:" .. server.port
      assert.are.equal("1.1 agent-fixture-proxy", (child_lua(code, { http_proxy = proxy })))
      assert.are.equal("direct", (child_lua(code, { http_proxy = proxy, no_proxy = "127.0.0.1" })))
      assert.are.equal("direct", (child_lua(code, {})))
      assert.matches("cannot connect", (child_lua(code, { http_proxy = "http://127.0.0.1:1" })))
    end)

    it("stops every transfer on SIGTERM and reports interrupted", function()
      local dir = t.tmpdir()
      local script = t.write(dir .. "/hang.lua", ([[
        local http, sys = require("agent.http"), require("agent.sys")
        local t0 = sys.clock()
        local results = http.request_all({ { url = %q }, { url = %q } })
        local ms = math.floor(sys.clock() - t0)
        local _, _, later = http.request{ url = %q } -- the signal is still pending
        io.write(results[1].code, " ", results[2].code, " ", later, " ", results[1].error, " ", ms)
      ]]):format(base .. "/hang", base .. "/hang?ms=30000", base .. "/echo"))
      local out = dir .. "/out"
      local cmd = ("%s lua %s >%s 2>&1 & pid=$!; sleep 0.5; kill -TERM $pid; wait $pid; echo $?")
        :format(t.q(t.bin), t.q(script), t.q(out))
      local status = tonumber(t.output(cmd))
      local text = t.read(out)
      assert.are.equal(143, status, text)
      local a, b, c, msg, ms = text:match("^(%S+) (%S+) (%S+) (.-) (%d+)$")
      assert.are.same({ "interrupted", "interrupted", "interrupted" }, { a, b, c }, text)
      assert.matches("/hang': interrupted", msg)
      assert.is_true(tonumber(ms) < 1500, "stopped after " .. ms .. " ms")
    end)
  end)

  describe("callbacks that raise", function()
    local function failing_batch(callback_field)
      local reqs = { { url = base .. "/slow?ms=0&id=fast" } }
      for i = 2, 5 do reqs[i] = { url = base .. "/slow?ms=2000&id=slow" .. i } end
      local boom = { reason = "boom" }
      local opts = {}
      if callback_field == "on_done" then
        opts.on_done = function() error(boom) end
      else
        reqs[1] = { url = base .. "/sse", on_event = function() error(boom) end }
      end
      local before = open_fds()
      local ms, ok, err = elapsed(function() return pcall(http.request_all, reqs, opts) end)
      return ok, err, boom, before, open_fds(), ms
    end

    for _, field in ipairs({ "on_done", "on_event" }) do
      it(field .. ": the error propagates unchanged and every transfer is released at once", function()
        local ok, err, boom, before, after, ms = failing_batch(field)
        assert.is_false(ok)
        assert.are.equal(boom, err) -- the very value raised, not a copy or a string
        assert.is_true(ms < 1500, "returned after " .. ms .. " ms")
        -- the four slow transfers' sockets closed without waiting for a collection
        assert.are.equal(before, after)
        assert.are.equal(200, assert(http.request{ url = base .. "/slow?ms=0" }).status)
      end)
    end

    it("leaks nothing under valgrind when callbacks raise", function()
      if not t.sh("command -v valgrind >/dev/null 2>&1") then
        pending("valgrind is not installed")
        return
      end
      if (os.getenv("LD_PRELOAD") or ""):find("asan") then
        pending("valgrind cannot run a child that inherits the ASan runtime")
        return
      end
      local code = ([[
        local http = require("agent").http
        local base = %q
        local ok, err = pcall(http.request_all,
          { { url = base .. "/slow?ms=0" }, { url = base .. "/slow?ms=1500" }, { url = base .. "/echo", body = ("b"):rep(100000) } },
          { on_done = function(i) if i == 1 then error("from on_done") end end })
        assert(not ok and err:find("from on_done"), err)
        ok, err = pcall(http.request, { url = base .. "/sse", on_event = function() error("from on_event") end })
        assert(not ok and err:find("from on_event"), err)
        assert(not pcall(http.request, { url = base .. "/echo", headers = { ["Bad Name"] = "x" } }))
        local res = assert(http.request{ url = base .. "/echo", body = "fine" })
        assert(res.status == 200)
        io.write("ran")
      ]]):format(base)
      local out, status, stderr = child_lua(code, {},
        "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite")
      assert.are.equal("ran", out, stderr)
      assert.are.equal(0, status, stderr)
    end)
  end)

  describe("libcurl, loaded at run time", function()
    -- Prints what request and request_all return, one value a line, then "done".
    local probe = ([[
      local http = require("agent").http
      local res, msg, code = http.request{ url = %q }
      local all, all_msg, all_code = http.request_all({ { url = %q } })
      io.write(tostring(res), "\n", tostring(msg), "\n", tostring(code), "\n", tostring(all), "\n",
               tostring(all_msg), "\n", tostring(all_code), "\n", #http.request_all({}), "\ndone")
    ]]):format(base .. "/echo", base .. "/echo")

    local function lines(out)
      local list = {}
      for line in (out .. "\n"):gmatch("(.-)\n") do list[#list + 1] = line end
      return list
    end

    it("without a loadable libcurl, requiring works and calls return unavailable", function()
      local out, status, stderr = child_lua(probe, { AGENT_LIBCURL = "/nonexistent/libcurl.so.4" })
      assert.are.equal(0, status, stderr)
      local msg = "http: cannot load libcurl (/nonexistent/libcurl.so.4: cannot open shared object "
        .. "file: No such file or directory): install the libcurl4 package"
      -- both calls give the same one line; an empty batch needs no libcurl
      assert.are.same({ "nil", msg, "unavailable", "nil", msg, "unavailable", "0", "done" }, lines(out))
    end)

    it("names the missing function when AGENT_LIBCURL is not libcurl", function()
      local out, status, stderr = child_lua(probe, { AGENT_LIBCURL = "libm.so.6" })
      assert.are.equal(0, status, stderr)
      local got = lines(out)
      assert.matches("^http: cannot load libcurl %(.*libm%.so%.6: undefined symbol: curl_global_init%)", got[2])
      assert.are.same({ "unavailable", "unavailable" }, { got[3], got[6] })
    end)

    it("the agent binary says the same and exits cleanly", function()
      local dir = t.tmpdir()
      local script = t.write(dir .. "/probe.lua", probe)
      local run = t.run({ "lua", script }, { env = { AGENT_LIBCURL = "/nonexistent/libcurl.so.4" } })
      assert.are.equal(0, run.code, run.stderr)
      assert.are.same("unavailable", lines(run.stdout)[3])
    end)

    it("AGENT_LIBCURL may name another build: the GnuTLS flavour serves requests", function()
      if not t.sh("ldconfig -p | grep -q 'libcurl-gnutls.so.4 '") then
        pending("libcurl3-gnutls is not installed")
        return
      end
      local out, status, stderr = child_lua(probe, { AGENT_LIBCURL = "libcurl-gnutls.so.4" })
      assert.are.equal(0, status, stderr)
      assert.matches("^table: ", lines(out)[1])
      assert.matches("^table: ", lines(out)[4])
    end)

    it("a second instance loads it again, and closing one leaves the other working", function()
      local path = assert(package.searchpath("agent", package.cpath))
      local open = assert(package.loadlib(path, "luaopen_agent_http"))
      local second = open()
      assert.are_not.equal(http, second)
      assert.are.equal(200, assert(second.request{ url = base .. "/echo" }).status)
      -- the second's curl_global_cleanup and dlclose run now; the first keeps its own
      second, open = nil, nil -- luacheck: ignore 311 (dropped for the collector)
      collectgarbage()
      collectgarbage()
      assert.are.equal(200, assert(http.request{ url = base .. "/echo" }).status)
      local again = assert(package.loadlib(path, "luaopen_agent_http"))()
      assert.are.equal("connect", select(3, again.request{ url = "http://127.0.0.1:1/" }))
    end)
  end)

  describe("deadline", function()
    local function key() return sys.random_id() end

    it("caps an attempt's timeout to the time left, and says the deadline passed", function()
      local t0 = sys.clock()
      local res, err, code = http.request{ url = base .. "/hang", timeout = 30, deadline = t0 + 400 }
      local ms = sys.clock() - t0
      assert.is_nil(res)
      assert.are.equal("timeout", code)
      assert.matches("^GET '[^']*/hang': the deadline passed %(", err)
      assert.is_true(ms >= 390 and ms < 1500, "took " .. ms .. " ms")
    end)

    it("an attempt's own timeout still counts when it ends first", function()
      local _, err, code = http.request{ url = base .. "/hang", timeout = 0.3, deadline = sys.clock() + 60000 }
      assert.are.equal("timeout", code)
      assert.matches("/hang': timed out %(", err)
    end)

    it("a Retry-After wait that would end past it returns the last response", function()
      local k = key()
      local ms, res = elapsed(function()
        return http.request{ url = base .. "/flaky?status=429&fail=3&retry_after=1&key=" .. k,
          retries = 3, deadline = sys.clock() + 800 }
      end)
      assert.are.same({ 429, 1, "1" }, { res.status, res.attempts, res.headers["retry-after"] })
      assert.is_true(ms < 500, "took " .. ms .. " ms")
      -- and a wait that ends in time is still taken
      res = assert(http.request{ url = base .. "/flaky?status=503&fail=1&key=" .. key(), retries = 1,
        backoff = 0.05, deadline = sys.clock() + 2000 })
      assert.are.same({ 200, 2 }, { res.status, res.attempts })
    end)

    it("a backoff wait that would end past it returns the last failure", function()
      local ms, res, err, code = elapsed(function()
        return http.request{ url = "http://127.0.0.1:1/", retries = 5, backoff = 1, deadline = sys.clock() + 300 }
      end)
      assert.is_nil(res)
      assert.are.equal("connect", code)
      assert.matches("cannot connect", err)
      assert.is_true(ms < 250, "took " .. ms .. " ms") -- the first wait is 500 to 1000 ms
    end)

    it("a request still queued when it passes fails with timeout, at the deadline", function()
      local k = key()
      local t0 = sys.clock()
      local done_at = {}
      local results = http.request_all({
        { url = base .. "/slow?ms=800&id=first" },
        { url = base .. "/flaky?status=500&fail=0&key=" .. k, deadline = t0 + 200 },
      }, { parallel = 1, on_done = function(i) done_at[i] = sys.clock() - t0 end })
      assert.are.equal("first", results[1].body)
      assert.are.equal("timeout", results[2].code)
      assert.matches("^GET '[^']*/flaky': the deadline passed before the request started$", results[2].error)
      assert.are.equal(0, results[2].attempts)
      -- reported when the deadline came, not when the slot freed
      assert.is_true(done_at[2] >= 190 and done_at[2] < 600, "queued request done at " .. done_at[2] .. " ms")
      assert.is_true(done_at[2] < done_at[1])
      local hits = json.decode(assert(http.request{ url = base .. "/hits?key=" .. k }).body)
      assert.are.equal(0, #hits)
    end)

    it("one already past sends nothing", function()
      local k = key()
      local res, err, code = http.request{ url = base .. "/flaky?status=500&fail=0&key=" .. k, deadline = sys.clock() - 1 }
      assert.is_nil(res)
      assert.are.equal("timeout", code)
      assert.matches("the deadline passed before the request started", err)
      assert.are.equal(0, #json.decode(assert(http.request{ url = base .. "/hits?key=" .. k }).body))
    end)

    it("providers.run gives every request the batch deadline", function()
      local providers = require("agent.providers")
      local dir = t.tmpdir()
      local scenario = t.write(dir .. "/scenario.json", '[{"match": "*", "status": 429, "retry_after": 2}]')
      local llm = t.start_server("llm_server.py", { "--scenario", scenario })
      local calls = {}
      for i = 1, 2 do calls[i] = { provider = "ollama", model = "m", system = "s", user = "u" .. i } end
      local env = { OLLAMA_HOST = llm.url }
      local ms, results = elapsed(function()
        return providers.run(calls, { deadline = 1, retries = 3, getenv = function(n) return env[n] end })
      end)
      llm.stop()
      -- without the deadline each call would wait out three 2 s Retry-Afters
      for i = 1, 2 do
        assert.are.equal("http", results[i].kind)
        assert.matches("HTTP 429", results[i].error)
        assert.is_nil(results[i].error:find("attempts", 1, true), results[i].error)
      end
      assert.is_true(ms < 900, "took " .. ms .. " ms")
    end)
  end)

  describe("request bodies", function()
    it("stay anchored while transfers run, whatever the caller does to its tables", function()
      local unique = sys.random_id(16)
      local reqs = {
        { url = base .. "/slow?ms=0&id=first" },
        { url = base .. "/echo", body = ("payload-" .. unique):rep(20000) },
      }
      local results = http.request_all(reqs, { parallel = 1, on_done = function(i)
        if i == 1 then -- request 2 has not started yet: drop every reference we hold
          reqs[2].body = nil
          reqs[2] = nil
          collectgarbage()
          collectgarbage()
        end
      end })
      assert.are.equal(("payload-" .. unique):rep(20000), json.decode(results[2].body).body)
    end)
  end)

  describe("misuse raises", function()
    local bad = {
      { {}, "'url' must be a string" },
      { { url = 1 }, "'url' must be a string" },
      { { url = "http://x/", method = "get" }, "'method' must be an upper%-case HTTP method" },
      { { url = "http://x/", body = {} }, "'body' must be a string" },
      { { url = "http://x/", headers = "x" }, "'headers' must be a table" },
      { { url = "http://x/", headers = { ["Bad Name"] = "v" } }, "'headers' must map header names" },
      { { url = "http://x/", headers = { A = "v\r\nInjected: 1" } }, "header 'A' holds a line break" },
      { { url = "http://x/", headers = { A = true } }, "header 'A' must be a string" },
      { { url = "http://x/", timeout = 0 }, "'timeout' must be seconds %(> 0%)" },
      { { url = "http://x/", backoff = -1 }, "'backoff' must be seconds %(>= 0%)" },
      { { url = "http://x/", retries = -1 }, "'retries' must be an integer" },
      { { url = "http://x/", max_bytes = 1.5 }, "'max_bytes' must be an integer" },
      { { url = "http://x/", retry_statuses = { 99 } }, "'retry_statuses' must be an array of status codes" },
      { { url = "http://x/", on_event = "f" }, "'on_event' must be a function" },
      { { url = "http://x/", deadline = "soon" }, "'deadline' must be a time in ms" },
      { { url = "http://x/", deadline = 0 / 0 }, "'deadline' must be a time in ms" },
    }
    for _, case in ipairs(bad) do
      it("rejects " .. case[2]:gsub("%%", ""), function()
        assert.has_error(function() http.request(case[1]) end)
        local ok, err = pcall(http.request, case[1])
        assert.is_false(ok)
        assert.matches(case[2], err)
        ok, err = pcall(http.request_all, { { url = base .. "/echo" }, case[1] })
        assert.is_false(ok)
        assert.matches("request 2: " .. case[2], err)
      end)
    end

    it("checks the batch arguments", function()
      assert.has_error(function() http.request("http://x/") end)
      assert.has_error(function() http.request_all({ "http://x/" }) end)
      assert.has_error(function() http.request_all({}, { parallel = 0 }) end)
      assert.has_error(function() http.request_all({}, { on_done = 1 }) end)
      assert.has_error(function() http.request_all({}, 5) end)
    end)
  end)
end)
