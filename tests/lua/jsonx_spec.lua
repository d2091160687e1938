-- agent.jsonx: the JSON object inside a model reply, whatever the model wrapped it in.
require("agent")
local jsonx = require("agent.jsonx")
local json = require("agent.json")

-- extract() must fail with a message matching `pattern`.
local function fails(text, pattern)
  local v, err = jsonx.extract(text)
  assert.is_nil(v)
  assert.is_string(err)
  assert.matches(pattern, err)
  return err
end

describe("jsonx.extract", function()
  it("decodes a bare object", function()
    local v = assert(jsonx.extract('{"verdict": "APPROVE", "items": [1, 2]}'))
    assert.are.same({ verdict = "APPROVE", items = { 1, 2 } }, v)
  end)

  it("finds the object in prose before and after", function()
    local v = assert(jsonx.extract('Here is my review:\n{"verdict": "BLOCK"}\nLet me know if you need more.'))
    assert.are.equal("BLOCK", v.verdict)
  end)

  it("takes a ```json fence over an example object in the prose", function()
    local text = 'An example looks like {"verdict": "EXAMPLE"}.\n\n```json\n{"verdict": "CHANGES"}\n```\nDone.'
    assert.are.equal("CHANGES", assert(jsonx.extract(text)).verdict)
  end)

  it("reads a fence without a language whose body is an object", function()
    assert.are.equal(3, assert(jsonx.extract("Result:\n```\n{\"n\": 3}\n```")).n)
  end)

  it("is not fooled by a fence inside a JSON string", function()
    local text = '{"section": "Run:\\n```sh\\nmake\\n```\\n", "ok": true}'
    local v = assert(jsonx.extract(text))
    assert.is_true(v.ok)
    assert.are.equal("Run:\n```sh\nmake\n```\n", v.section)
  end)

  it("respects braces and escaped quotes inside strings", function()
    local v = assert(jsonx.extract('x {"a": "} { \\" }", "b": {"c": "{{"}} y'))
    assert.are.equal('} { " }', v.a)
    assert.are.equal("{{", v.b.c)
  end)

  it("skips braces in prose that are not JSON", function()
    local v = assert(jsonx.extract('Use {name} placeholders. Answer: {"name": "x"}'))
    assert.are.equal("x", v.name)
  end)

  it("strips <think> blocks, braces and all", function()
    local v = assert(jsonx.extract('<think>maybe {"verdict": "BLOCK"}? no.</think>\n{"verdict": "APPROVE"}'))
    assert.are.equal("APPROVE", v.verdict)
    v = assert(jsonx.extract('<THINKING>{"x": 1}</THINKING>{"x": 2}'))
    assert.are.equal(2, v.x)
  end)

  it("strips reasoning whose opening tag was in the prompt template", function()
    local v = assert(jsonx.extract('the user wants {"a": 0}...</think>\n\n{"a": 1}'))
    assert.are.equal(1, v.a)
  end)

  it("leaves think tags inside JSON strings alone", function()
    local v = assert(jsonx.extract('{"note": "models emit <think> blocks", "n": 1}'))
    assert.are.equal("models emit <think> blocks", v.note)
    v = assert(jsonx.extract('{"note": "strip up to </think> first", "n": 2}'))
    assert.are.equal(2, v.n)
  end)

  it("says so when the reply is only an unterminated <think> block", function()
    fails('<think>\nLet me consider {"a": 1} and then', "only a <think> block")
  end)

  it("tolerates trailing commas", function()
    local v = assert(jsonx.extract('{"items": [1, 2, ], "x": {"y": 1,},}'))
    assert.are.same({ 1, 2 }, v.items)
    assert.are.equal(1, v.x.y)
  end)

  it("keeps JSON null distinguishable", function()
    local v = assert(jsonx.extract('{"rule": null}'))
    assert.are.equal(json.null, v.rule)
  end)

  it("decodes unicode escapes", function()
    assert.are.equal("é✓", assert(jsonx.extract('{"s": "\\u00e9\\u2713"}')).s)
  end)

  it("reports a syntax error with its character position in the reply", function()
    local text = 'Here: {"a": 1 "b": 2}'
    local err = fails(text, "^JSON error at character %d+: ")
    local at = tonumber(err:match("character (%d+)"))
    assert.are.equal(text:find('"b"', 1, true), at)
    assert.matches("expected comma or object end but found a string", err)
  end)

  it("says a cut-off object is not closed", function()
    fails('```json\n{"verdict": "CHANGES", "items": [{"text": "unfinis', "not closed.*truncated")
  end)

  it("says when there is no object at all", function()
    fails("I cannot review this story.", "^no JSON object in the reply$")
    fails("   \n", "empty")
    fails('["an", "array"]', "^no JSON object in the reply$")
  end)

  it("raises on a non-string (a caller's bug)", function()
    assert.has_error(function() jsonx.extract(nil) end)
    assert.has_error(function() jsonx.extract({}) end)
  end)

  it("stays fast on a reply full of braces", function()
    local t0 = os.clock()
    fails(string.rep("{", 200000), "not closed")
    fails(string.rep("{x}", 100000), "JSON error")
    assert.is_true(os.clock() - t0 < 1, "took " .. (os.clock() - t0) .. " s")
  end)
end)

describe("jsonx.extract on generated replies", function()
  -- A fixed seed: the same cases every run, so a failure reproduces.
  local seed = 20261124
  local function rand(n)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n + 1
  end
  local ALPHABET = { "a", "Z", " ", "\n", "{", "}", "[", "]", '"', "\\", ",", ":", "`", "<", ">", "é", "0" }
  local function junk(n)
    local t = {}
    for i = 1, n do t[i] = ALPHABET[rand(#ALPHABET)] end
    return table.concat(t)
  end
  local function value(depth)
    local k = rand(depth > 2 and 4 or 6)
    if k == 1 then return junk(rand(12)) end
    if k == 2 then return rand(1000) - 500 end
    if k == 3 then return rand(2) == 1 end
    if k == 4 then return json.null end
    if k == 5 then
      local a = json.array()
      for i = 1, rand(4) - 1 do a[i] = value(depth + 1) end
      return a
    end
    local o = {}
    for _ = 1, rand(4) do o["k" .. junk(rand(5))] = value(depth + 1) end
    return o
  end
  -- Prose that holds no complete JSON object of its own.
  local PROSE = { "", "Here you go:\n", "Sure! ", "<think>{\"draft\": 1}</think>\n", "Use {name}. ",
    "{\"draft\": 2}</think>" }
  local AFTER = { "", "\nHope this helps.", " }", "\n```" }

  it("finds the object whatever prose and fences surround it", function()
    for _ = 1, 300 do
      local obj = { verdict = "CHANGES", payload = value(0) }
      local body = json.encode(obj)
      local text
      if rand(2) == 1 then
        text = PROSE[rand(#PROSE)] .. "```json\n" .. body .. "\n```" .. AFTER[rand(#AFTER)]
      else
        text = PROSE[rand(#PROSE)] .. body .. AFTER[rand(#AFTER)]
      end
      local got, err = jsonx.extract(text)
      assert(got, ("%s\nin: %q"):format(tostring(err), text))
      assert.are.same(json.decode(body), got)
    end
  end)

  it("never raises on junk and always explains a failure", function()
    for _ = 1, 2000 do
      local text = junk(rand(80))
      local ok, v, err = pcall(jsonx.extract, text)
      assert(ok, v)
      assert(v ~= nil or (type(err) == "string" and #err > 0), text)
      assert.is_boolean(jsonx.truncated_hint(text))
    end
  end)
end)

describe("jsonx.truncated_hint", function()
  it("flags an object that never closes", function()
    assert.is_true(jsonx.truncated_hint('{"a": [1, 2'))
    assert.is_true(jsonx.truncated_hint('```json\n{"a": "open string'))
    assert.is_true(jsonx.truncated_hint('Sure: {"done": true} and then {"next": '))
  end)

  it("does not flag complete or JSON-free replies", function()
    assert.is_false(jsonx.truncated_hint('{"a": "}"}'))
    assert.is_false(jsonx.truncated_hint("no braces here"))
    assert.is_false(jsonx.truncated_hint('<think>{"half": </think>{"ok": 1}'))
    assert.is_false(jsonx.truncated_hint(nil))
  end)
end)
