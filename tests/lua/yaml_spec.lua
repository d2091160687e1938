-- agent.yaml: YAML 1.2 core schema, collections, documents, anchors and merge keys, and the
-- failures a hostile or broken file must produce (positions, caps, bad bytes).
local agent = require("agent")
local yaml, json, sys = agent.yaml, require("cjson"), agent.sys

-- The value of a one-key document `v: <text>`.
local function scalar(text)
  local doc, err = yaml.decode("v: " .. text .. "\n")
  assert(doc, err)
  return doc.v
end

-- Asserts decode fails with exactly this message.
local function fails(text, message, opts)
  local v, err = yaml.decode(text, opts)
  assert.is_nil(v)
  assert.are.equal(message, err)
end

describe("yaml.decode scalars (YAML 1.2 core schema)", function()
  -- { source text, expected Lua type ("integer"/"float" are math.type), expected value }
  local cases = {
    { "~", "null" }, { "null", "null" }, { "Null", "null" }, { "NULL", "null" }, { "", "null" },
    { "true", "boolean", true }, { "True", "boolean", true }, { "TRUE", "boolean", true },
    { "false", "boolean", false }, { "False", "boolean", false }, { "FALSE", "boolean", false },
    -- YAML 1.1 booleans and near misses stay strings under 1.2
    { "yes", "string", "yes" }, { "No", "string", "No" }, { "on", "string", "on" },
    { "tRUE", "string", "tRUE" }, { "nULL", "string", "nULL" },
    { "0", "integer", 0 }, { "42", "integer", 42 }, { "-17", "integer", -17 },
    { "+17", "integer", 17 }, { "007", "integer", 7 }, { "-0", "integer", 0 },
    { "0o17", "integer", 15 }, { "0o0", "integer", 0 }, { "0x1F", "integer", 31 },
    { "0xff", "integer", 255 }, { "0x7FFFFFFFFFFFFFFF", "integer", math.maxinteger },
    { "9223372036854775807", "integer", math.maxinteger },
    { "-9223372036854775808", "integer", math.mininteger },
    -- past lua_Integer: the nearest float
    { "9223372036854775808", "float", 2.0 ^ 63 }, { "-9223372036854775809", "float", -2.0 ^ 63 },
    { "0xFFFFFFFFFFFFFFFF", "float", 2.0 ^ 64 }, { "0o1777777777777777777777", "float", 2.0 ^ 64 },
    { "100000000000000000000000", "float", 1e23 },
    { "0X1F", "string", "0X1F" }, { "0o8", "string", "0o8" }, { "0x", "string", "0x" },
    { "-0x1", "string", "-0x1" }, { "1_000", "string", "1_000" }, { "+", "string", "+" },
    { "1.5", "float", 1.5 }, { "-1.5", "float", -1.5 }, { ".5", "float", 0.5 },
    { "1.", "float", 1.0 }, { "1e3", "float", 1000.0 }, { "1E-2", "float", 0.01 },
    { "+2.5e+2", "float", 250.0 }, { "1e999", "float", math.huge },
    { ".inf", "float", math.huge }, { ".Inf", "float", math.huge }, { "+.INF", "float", math.huge },
    { "-.inf", "float", -math.huge }, { "-.Inf", "float", -math.huge },
    { ".", "string", "." }, { "1e", "string", "1e" }, { ".e5", "string", ".e5" },
    { "-.nan", "string", "-.nan" }, { ".inF", "string", ".inF" }, { "1.2.3", "string", "1.2.3" },
    { "hello world", "string", "hello world" }, { "12:30", "string", "12:30" },
    -- quoted and block scalars are strings whatever they look like
    { "'1'", "string", "1" }, { '"true"', "string", "true" }, { "'~'", "string", "~" },
    { "''", "string", "" }, { "|\n  42", "string", "42\n" }, { ">-\n  null", "string", "null" },
    -- explicit tags
    { "!!str 2", "string", "2" }, { "!!str null", "string", "null" }, { "!!int '3'", "integer", 3 },
    { "!!int 0x10", "integer", 16 }, { "!!float 1", "float", 1.0 }, { "!!float '.inf'", "float", math.huge },
    { "!!bool 'true'", "boolean", true }, { "!!null ''", "null" }, { "! 12", "string", "12" },
    { "!local 12", "integer", 12 }, { "!!timestamp 2001-12-14", "string", "2001-12-14" },
  }
  for _, c in ipairs(cases) do
    local text, kind, want = c[1], c[2], c[3]
    it(("reads %q as %s"):format(text, kind), function()
      local v = scalar(text)
      if kind == "null" then
        assert.are.equal(yaml.null, v)
      elseif kind == "integer" or kind == "float" then
        assert.are.equal(kind, math.type(v))
        assert.are.equal(want, v)
      else
        assert.are.equal(kind, type(v))
        assert.are.equal(want, v)
      end
    end)
  end

  it("reads .nan in its three spellings as NaN", function()
    for _, text in ipairs({ ".nan", ".NaN", ".NAN" }) do
      local v = scalar(text)
      assert.are.equal("float", math.type(v))
      assert.is_true(v ~= v, text)
    end
  end)

  it("makes null the lightuserdata cjson uses", function()
    assert.are.equal(json.null, yaml.null)
    assert.are.equal("userdata", type(yaml.null))
    assert.are.equal('{"a":null}', json.encode(yaml.decode("a:")))
  end)

  it("refuses a tagged value that is not of its tag's type", function()
    fails("v: !!int abc", "yaml: line 1, column 4: invalid !!int value 'abc'")
    fails("v: !!int 1.5", "yaml: line 1, column 4: invalid !!int value '1.5'")
    fails("v: !!bool yes", "yaml: line 1, column 4: invalid !!bool value 'yes'")
    fails("v: !!float 0x10", "yaml: line 1, column 4: invalid !!float value '0x10'")
    fails("v: !!null 0", "yaml: line 1, column 4: invalid !!null value '0'")
  end)
end)

describe("yaml.decode collections", function()
  it("builds nested mappings and sequences", function()
    local doc = assert(yaml.decode([[
name: agent
limits:
  depth: 256
  ratio: 0.5
tags: [c, lua]
steps:
  - run: build
    args: [-j2]
  - run: test
    env: {CI: true, EMPTY: ~}
empty_list: []
empty_map: {}
]]))
    assert.are.equal("agent", doc.name)
    assert.are.equal(256, doc.limits.depth)
    assert.are.equal(0.5, doc.limits.ratio)
    assert.are.same({ "c", "lua" }, doc.tags)
    assert.are.equal(2, #doc.steps)
    assert.are.same({ "-j2" }, doc.steps[1].args)
    assert.is_true(doc.steps[2].env.CI)
    assert.are.equal(yaml.null, doc.steps[2].env.EMPTY)
    assert.are.same({}, doc.empty_list)
    assert.are.same({}, doc.empty_map)
  end)

  it("keys by the resolved scalar: integers, booleans, null", function()
    local doc = assert(yaml.decode("1: one\n'1': string one\ntrue: yes\n~: nothing\n"))
    assert.are.equal("one", doc[1])
    assert.are.equal("string one", doc["1"])
    assert.are.equal("yes", doc[true])
    assert.are.equal("nothing", doc[yaml.null])
  end)

  it("reads a real roster file", function()
    local doc = assert(yaml.decode([[
# a team's panel
team:
  - role: architect
    name: "System Architect"
    responsibilities:
      - "Review and approve ADRs"
      - "Enforce architectural boundaries (e.g. Mobile CSS, Backend imports)"
    instruction: "Consult the .agent/instructions/architect/ directory."
  - role: qa
    name: Quality Assurance
    governance_checks:
      - Are there new tests for new features?
]]))
    assert.are.equal(2, #doc.team)
    assert.are.equal("architect", doc.team[1].role)
    assert.are.equal("Enforce architectural boundaries (e.g. Mobile CSS, Backend imports)",
      doc.team[1].responsibilities[2])
    assert.are.equal("Are there new tests for new features?", doc.team[2].governance_checks[1])
  end)
end)

describe("yaml documents", function()
  it("decode returns the first document and decode_all every one", function()
    local text = "a: 1\n---\nb: 2\n--- 3\n...\n--- [x]\n"
    assert.are.same({ a = 1 }, yaml.decode(text))
    assert.are.same({ { a = 1 }, { b = 2 }, 3, { "x" } }, yaml.decode_all(text))
  end)

  it("gives null for an empty stream or document, and no documents to decode_all", function()
    assert.are.equal(yaml.null, yaml.decode(""))
    assert.are.equal(yaml.null, yaml.decode("# only a comment\n"))
    assert.are.equal(yaml.null, yaml.decode("---\n"))
    assert.are.same({}, yaml.decode_all(""))
    assert.are.same({ yaml.null, 1 }, yaml.decode_all("---\n--- 1\n"))
  end)

  it("reports a broken later document from decode_all but not from decode", function()
    assert.are.same({ a = 1 }, yaml.decode("a: 1\n---\nb: [\n"))
    local v, err = yaml.decode_all("a: 1\n---\nb: [\n")
    assert.is_nil(v)
    assert.matches("^yaml: line 4, column 1: ", err)
  end)
end)

describe("yaml anchors and aliases", function()
  it("makes an alias the same Lua value as its anchor", function()
    local doc = assert(yaml.decode("base: &b {x: 1}\nuse: *b\nlist: [&s hello, *s, *b]\n"))
    assert.is_true(rawequal(doc.base, doc.use))
    assert.is_true(rawequal(doc.base, doc.list[3]))
    assert.are.equal("hello", doc.list[2])
  end)

  it("takes the latest definition of a redefined anchor", function()
    assert.are.same({ 1, 1, 2, 2 }, yaml.decode("[&a 1, *a, &a 2, *a]"))
  end)

  it("refuses undefined, recursive and cross-document aliases", function()
    fails("k: *nope", "yaml: line 1, column 4: undefined alias '*nope'")
    fails("&a [ *a ]", "yaml: line 1, column 6: alias '*a' refers to a node that contains it")
    fails("a: &m\n  b: *m\n", "yaml: line 2, column 6: alias '*m' refers to a node that contains it")
    local v, err = yaml.decode_all("--- &a 1\n--- *a\n")
    assert.is_nil(v)
    assert.are.equal("yaml: line 2, column 5: undefined alias '*a'", err)
  end)

  it("counts each alias at the size of what it refers to", function()
    local text = "a: &a [1, 2, 3]\nb: [*a, *a]\n" -- two uses of a 4-node sequence
    assert.is_table(yaml.decode(text, { max_alias_nodes = 8 }))
    local v, err = yaml.decode(text, { max_alias_nodes = 7 })
    assert.is_nil(v)
    assert.are.equal("yaml: line 2, column 9: aliases expand to more than 7 nodes (max_alias_nodes)", err)
  end)

  it("stops a billion-laughs document fast, without building it", function()
    local lines = { 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]' }
    local names = { "a", "b", "c", "d", "e", "f", "g", "h", "i" }
    for i = 2, #names do -- each level is nine aliases to the one before: 10^9 nodes in all
      lines[i] = names[i] .. ": &" .. names[i] .. " [" .. string.rep("*" .. names[i - 1], 9, ", ") .. "]"
    end
    local before = collectgarbage("count")
    local t0 = sys.clock()
    local v, err = yaml.decode(table.concat(lines, "\n"))
    local ms = sys.clock() - t0
    assert.is_nil(v)
    assert.matches("^yaml: line %d+, column %d+: aliases expand to more than 100000 nodes", err)
    assert.is_true(ms < 2000, ("took %.1f ms"):format(ms))
    assert.is_true(collectgarbage("count") - before < 10 * 1024, "allocated more than 10 MB")
  end)
end)

describe("yaml merge keys", function()
  it("merges a mapping; the mapping's own keys win wherever they are", function()
    local doc = assert(yaml.decode([[
defaults: &d {adapter: postgres, host: localhost, port: 5432}
dev:
  port: 6543
  <<: *d
  host: db.local
]]))
    assert.are.same({ adapter = "postgres", host = "db.local", port = 6543 }, doc.dev)
    assert.are.same({ adapter = "postgres", host = "localhost", port = 5432 }, doc.defaults)
  end)

  it("merges a sequence of mappings, earlier ones first", function()
    local doc = assert(yaml.decode([[
- &x {x: 1, r: 10}
- &y {y: 2, r: 20}
- <<: [*x, *y, {z: 3, r: 30}]
  own: true
]]))
    assert.are.same({ x = 1, y = 2, z = 3, r = 10, own = true }, doc[3])
  end)

  it("treats a quoted '<<' as an ordinary key", function()
    assert.are.same({ ["<<"] = 5 }, yaml.decode("'<<': 5"))
  end)

  it("refuses a merge of anything but mappings", function()
    fails("<<: 5\n", "yaml: line 1, column 5: a merge key '<<' needs a mapping or a sequence of mappings")
    fails("s: &s [1]\nm:\n  <<: *s\n",
      "yaml: line 3, column 7: a merge key '<<' needs a mapping or a sequence of mappings")
    fails("m:\n  <<: [{a: 1}, 2]\n",
      "yaml: line 2, column 7: a merge key '<<' needs a mapping or a sequence of mappings")
  end)
end)

describe("yaml errors", function()
  it("names the line and column of malformed mappings", function()
    fails("name: x\n  bad: y\n", "yaml: line 2, column 6: mapping values are not allowed in this context")
    fails("a:\n  b: 1\n c: 2\n",
      "yaml: line 3, column 2: did not find expected key (while parsing a block mapping at line 1, column 1)")
    fails("a: [1, 2\n",
      "yaml: line 2, column 1: did not find expected ',' or ']' (while parsing a flow sequence at line 1, column 4)")
    fails("a: 'open\n",
      "yaml: line 2, column 1: found unexpected end of stream (while scanning a quoted scalar at line 1, column 4)")
  end)

  it("refuses duplicate keys where the second one is", function()
    fails("a: 1\nb: 2\na: 3\n", "yaml: line 3, column 1: duplicate key 'a'")
    fails("x: {k: 1, k: 2}", "yaml: line 1, column 11: duplicate key 'k'")
    fails("1: a\n1.0: b\n", "yaml: line 2, column 1: duplicate key '1'")
  end)

  it("refuses keys that are not scalars", function()
    fails("? [a, b]\n: c\n", "yaml: line 1, column 3: a mapping key must be a scalar, not a sequence")
    fails("{{a: 1}: b}", "yaml: line 1, column 2: a mapping key must be a scalar, not a mapping")
    fails("a: &m [1]\n*m : 2\n", "yaml: line 2, column 1: a mapping key must be a scalar, not an alias to a sequence")
    fails(".nan: x", "yaml: line 1, column 1: a mapping key cannot be .nan")
  end)

  it("fails cleanly on a 10,000-deep document, and reads it under a raised cap", function()
    for text, column in pairs({
      [string.rep("[", 10000) .. string.rep("]", 10000)] = 257,
      [string.rep("- ", 10000) .. "x"] = 513,
    }) do
      local v, err = yaml.decode(text)
      assert.is_nil(v)
      assert.are.equal(("yaml: line 1, column %d: nesting deeper than 256 levels (max_depth)"):format(column), err)
      local deep = assert(yaml.decode(text, { max_depth = 10000 }))
      local depth = 0
      while type(deep) == "table" do
        depth, deep = depth + 1, deep[1]
      end
      assert.are.equal(10000, depth)
    end
    local lines = {}
    for i = 1, 10000 do lines[i] = string.rep(" ", i - 1) .. "k:" end
    local v, err = yaml.decode(table.concat(lines, "\n"))
    assert.is_nil(v)
    assert.are.equal("yaml: line 257, column 257: nesting deeper than 256 levels (max_depth)", err)
  end)

  it("reports invalid UTF-8 where it is", function()
    fails("a: \xff\n", "yaml: line 1, column 4: invalid leading UTF-8 octet (#xFF)")
    fails("a: b\nc: \xe9t\xe9\n", "yaml: line 2, column 5: invalid trailing UTF-8 octet (#x74)")
    fails("a: \xe2\x82", "yaml: line 1, column 4: incomplete UTF-8 octet sequence")
  end)

  it("refuses NUL bytes", function()
    fails("a: 1\0", "yaml: line 1, column 5: control characters are not allowed (#x00)")
    fails("- a\n- b\n\0- c\n", "yaml: line 3, column 1: control characters are not allowed (#x00)")
    fails('a: "x\0y"', "yaml: line 1, column 6: control characters are not allowed (#x00)")
  end)

  it("refuses input over the cap and raises on misuse", function()
    fails("a: 1\n", "yaml: input of 5 bytes is over the limit of 4 bytes (max_bytes)", { max_bytes = 4 })
    assert.are.same({ a = 1 }, yaml.decode("a: 1\n", { max_bytes = 5 }))
    assert.has_error(function() yaml.decode({}) end)
    assert.has_error(function() yaml.decode("a", "opts") end)
    assert.has_error(function() yaml.decode("a", { max_depth = 0 }) end)
    assert.has_error(function() yaml.decode("a", { max_alias_nodes = -1 }) end)
    assert.has_error(function() yaml.decode("a", { max_depth = "deep" }) end)
  end)
end)

describe("yaml line endings and byte order marks", function()
  it("reads CRLF, CR and a UTF-8 BOM", function()
    local want = { a = 1, b = { "x", "y" }, c = "two\nlines\n" }
    assert.are.same(want, yaml.decode("\xEF\xBB\xBFa: 1\r\nb:\r\n  - x\r\n  - y\r\nc: |\r\n  two\r\n  lines\r\n"))
    assert.are.same(want, yaml.decode("a: 1\rb:\r  - x\r  - y\rc: |\r  two\r  lines\r"))
  end)

  it("counts lines the same way in errors", function()
    fails("a: 1\r\nb: 2\r\na: 3\r\n", "yaml: line 3, column 1: duplicate key 'a'")
    fails("\xEF\xBB\xBFa: 1\r\nb: \xff", "yaml: line 2, column 4: invalid leading UTF-8 octet (#xFF)")
  end)
end)
