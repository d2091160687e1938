-- agent.json: arrays that stay arrays, readable slashes, decode without raising.
require("agent")
local json = require("agent.json")
local cjson = require("cjson")

describe("agent.json", function()
  it("encodes marked empty arrays as [] and plain empty tables as {}", function()
    assert.are.equal('{"a":[]}', json.encode({ a = json.array() }))
    assert.are.equal('{"b":{}}', json.encode({ b = {} }))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal("[[],[1]]", json.encode({ json.array(), json.array({ 1 }) }))
  end)

  it("does not escape slashes, and keeps escaped backslashes intact", function()
    assert.are.equal('"a/b"', json.encode("a/b"))
    local tricky = "C:\\dir\\/x/y\\\\/z"
    assert.are.equal(tricky, cjson.decode(json.encode(tricky)))
    assert.are.equal(tricky, json.decode(json.encode(tricky)))
  end)

  it("round-trips any mix of slashes, backslashes and quotes, writing each slash bare", function()
    local chars = { "/", "\\", "a", '"' }
    local seed = 7
    for _ = 1, 3000 do
      local parts = {}
      for i = 1, seed % 13 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        parts[i] = chars[seed % 4 + 1]
      end
      seed = (seed * 1103515245 + 12345) % 2147483648
      local s = table.concat(parts)
      local out = json.encode(s)
      assert.are.equal(s, cjson.decode(out))
      local _, slashes = s:gsub("/", "")
      local _, written = out:gsub("/", "")
      local _, escaped = out:gsub("\\(\\*)/", function(run) return #run % 2 == 0 and "" or nil end)
      assert.are.equal(slashes, written)
      assert.are.equal(0, escaped, out) -- no slash keeps an escaping backslash
    end
  end)

  it("round-trips strings holding the sentinel's characters", function()
    local s = "\0agent:empty-array\0"
    assert.are.equal(s, json.decode(json.encode({ s }))[1])
  end)

  it("decodes without raising", function()
    assert.are.same({ x = 1 }, json.decode('{"x":1}'))
    local v, err = json.decode("{oops")
    assert.is_nil(v)
    assert.matches("^json: ", err)
    assert.is_nil((json.decode(nil)))
  end)

  it("writes object keys sorted, so equal values give equal bytes whatever their build order", function()
    local v = { b = 1, a = { z = true, y = json.array({}) }, list = { "x", { k = "v", c = json.null } }, path = ".agent/rules/x" }
    assert.are.equal('{"a":{"y":[],"z":true},"b":1,"list":["x",{"c":null,"k":"v"}],"path":".agent/rules/x"}', json.encode(v))
    local forward, backward = {}, {}
    for i = 1, 200 do forward["k" .. i] = i end
    for i = 200, 1, -1 do backward["k" .. i] = i end
    assert.are.equal(json.encode(forward), json.encode(backward))
    assert.are.same(forward, cjson.decode(json.encode(forward)))
    assert.are.equal('{"1":"a","x":"b"}', json.encode({ [1] = "a", x = "b" }))
  end)

  it("refuses cycles with a clear error", function()
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end)
  end)
end)
