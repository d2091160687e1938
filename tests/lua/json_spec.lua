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

  it("refuses cycles with a clear error", function()
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end)
  end)
end)
