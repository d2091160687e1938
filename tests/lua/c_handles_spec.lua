-- The C side's handles and failure shapes (src/http.c, src/yaml.c, src/markdown.c): C
-- resources are released the moment an error leaves the call (to-be-closed boxes, not the
-- next collection), request tables are read raw (no __index runs), per-call caps can be
-- lowered, and the size caps fail as nil, msg, "toobig".
local agent = require("agent")
local t = require("testutil")
local http, yaml, markdown = agent.http, agent.yaml, agent.markdown

local open_fds = t.open_fds

describe("C handles", function()
  local server

  setup(function() server = t.start_server("http_fixture.py") end)
  teardown(function()
    server.stop()
    t.cleanup()
  end)

  it("http: a request list that raises half-way releases the multi handle at once", function()
    collectgarbage("stop") -- only a to-be-closed box can release it now
    assert(http.request{ url = server.url .. "/slow?ms=0" }) -- libcurl loaded beforehand
    local before = open_fds()
    for _ = 1, 3 do
      local ok, err = pcall(http.request_all, { { url = server.url .. "/slow?ms=0" }, { url = 42 } })
      assert.is_false(ok)
      assert.matches("request 2: 'url' must be a string", err)
    end
    local after = open_fds()
    collectgarbage("restart")
    assert.are.equal(before, after)
  end)

  it("http: request fields come from the table itself, not from __index", function()
    local req = setmetatable({}, { __index = { url = server.url .. "/slow?ms=0" } })
    local ok, err = pcall(http.request, req)
    assert.is_false(ok)
    assert.matches("'url' must be a string", err)
    local res = assert(http.request(setmetatable({ url = server.url .. "/slow?ms=0" },
      { __index = function() error("__index ran") end })))
    assert.are.equal(200, res.status)
  end)

  it("http: max_event_bytes caps one server-sent event", function()
    local events = 0
    local res, msg, code = http.request{ url = server.url .. "/sse", max_event_bytes = 4,
                                          on_event = function() events = events + 1 end }
    assert.is_nil(res)
    assert.are.equal("toobig", code)
    assert.matches("server%-sent event larger than its cap %(4 bytes%)", msg)
    assert.are.equal(0, events)
    assert(http.request{ url = server.url .. "/sse", on_event = function() events = events + 1 end })
    assert.is_true(events > 0)
    assert.has_error(function() http.request{ url = server.url, max_event_bytes = 0 } end)
    assert.has_error(function() http.request{ url = server.url, retries = 1001 } end)
  end)

  it("yaml and markdown: the size cap fails with the code toobig", function()
    local v, msg, code = yaml.decode("a: 1234", { max_bytes = 3 })
    assert.is_nil(v)
    assert.are.equal("yaml: input of 7 bytes is over the limit of 3 bytes (max_bytes)", msg)
    assert.are.equal("toobig", code)
    v, msg, code = yaml.decode_all("a: 1", { max_bytes = 0 })
    assert.is_nil(v)
    assert.are.equal("yaml: input of 4 bytes is over the limit of 0 bytes (max_bytes)", msg)
    assert.are.equal("toobig", code)
    for _, fn in ipairs({ markdown.parse, markdown.to_html }) do
      v, msg, code = fn("# title", { max_bytes = 2 })
      assert.is_nil(v)
      assert.are.equal("markdown: input of 7 bytes is over the limit of 2 bytes (max_bytes)", msg)
      assert.are.equal("toobig", code)
    end
  end)

  it("markdown: max_bytes stays under 4 GiB, the reach of its 32-bit line offsets", function()
    assert.has_error(function() markdown.parse("x", { max_bytes = 1 << 32 }) end,
      "bad argument #2 to 'parse' (max_bytes must be 0..4294967295)")
    local doc = assert(markdown.parse(("\n"):rep(100000) .. "# end\n", { max_bytes = (1 << 32) - 1 }))
    assert.are.equal(100001, doc.headings[1].line)
  end)

  it("yaml: a long key in a message is cut at a character boundary", function()
    local key = ("é"):rep(30) -- 60 bytes, two per character
    local v, msg = yaml.decode(key .. ": 1\n" .. key .. ": 2\n")
    assert.is_nil(v)
    local quoted = msg:match("duplicate key '?([^']-)%.%.%.")
    assert.is_truthy(quoted, msg)
    assert.is_true(#quoted <= 40 and #quoted % 2 == 0, msg)
    assert.is_truthy(utf8.len(quoted), msg)
  end)

  it("fs.walk: max_ignore_bytes lowers the .gitignore size cap for one call", function()
    local dir = t.tmpdir()
    t.write(dir .. "/.gitignore", "*.o\n")
    t.write(dir .. "/a.o", "")
    local files, errors = assert(agent.fs.walk(dir, { gitignore = true, max_ignore_bytes = 3 }))
    assert.are.same({ "a.o" }, files)
    assert.matches("%.gitignore': larger than the %.gitignore size limit", errors[1])
    files = assert(agent.fs.walk(dir, { gitignore = true, max_ignore_bytes = 4 }))
    assert.are.same({}, files)
    assert.has_error(function() agent.fs.walk(dir, { max_ignore_bytes = 0 }) end)
  end)

  it("rules: the glob caps can be set per call", function()
    local rules = agent.rules
    local m, err = rules.glob("{a,b,c}", { max_alternatives = 2 })
    assert.is_nil(m)
    assert.are.equal("glob '{a,b,c}': braces expand to more than 2 alternatives", err)
    assert.is_truthy(rules.glob("{a,b,c}"))
    local none, why = rules.glob("src/**", { max_bytes = 5 })
    assert.is_nil(none)
    assert.are.equal("glob 'src/**': pattern longer than 5 bytes", why)
    assert.has_error(function() rules.glob("x", { max_bytes = 0 }) end)
    local rule = { globs = { "{a,b,c}.md" }, alwaysApply = false }
    local selected, _, problems = rules.select({ rule }, { "b.md" }, { max_glob_alternatives = 2 })
    assert.are.same({}, selected)
    assert.matches("more than 2 alternatives", problems[1].error)
    selected = rules.select({ rule }, { "b.md" })
    assert.are.equal(rule, selected[1])
  end)

  it("each C box type has __close as well as __gc", function()
    local reg = debug.getregistry()
    for _, name in ipairs({ "agent.HttpBatch", "agent.YamlRun", "agent.MarkdownDoc" }) do
      assert.is_function(reg[name] and reg[name].__close, name)
      assert.is_function(reg[name].__gc, name)
      assert.is_nil(reg[name].__index, name) -- no methods: nothing to call on a box
    end
  end)
end)
