-- agent.rules through agent.so: frontmatter in every form rule files come in (the reference
-- .mdc shapes, lenient globs, alwaysApply strings, CRLF, BOM, broken YAML with file lines),
-- glob matchers, and rule selection (always/glob, why, order, malformed globs, the index
-- against the naive scan).
require("agent")
local rules = require("agent.rules")
local fs = require("agent.fs")
local t = require("testutil")

local function fm(text)
  return rules.frontmatter(text)
end

describe("rules.frontmatter", function()
  it("reads the reference shape: globs list, alwaysApply, description", function()
    local meta, body, line = fm("---\ndescription: Language-agnostic \u{2014} no assumptions\n"
      .. "globs: [\"**/*\"]\nalwaysApply: true\n---\n\n# Rule 000\n")
    assert.are.same({ "**/*" }, meta.globs)
    assert.is_true(meta.alwaysApply)
    assert.are.equal("Language-agnostic \u{2014} no assumptions", meta.description)
    assert.are.equal("\n# Rule 000\n", body)
    assert.are.equal(6, line)
  end)

  it("treats a second frontmatter-like block as body text", function()
    local text = "---\ndescription: The team\nalwaysApply: true\n---\n\n# 101\n\n---\nalwaysApply: true\n---\n\nYou are...\n"
    local meta, body, line = fm(text)
    assert.are.same({ description = "The team", alwaysApply = true }, meta)
    assert.are.equal("\n# 101\n\n---\nalwaysApply: true\n---\n\nYou are...\n", body)
    assert.are.equal(5, line)
  end)

  it("returns {} and the whole text when there is no frontmatter", function()
    local meta, body, line = fm("# Title\n\n---\nnot: frontmatter\n---\n")
    assert.are.same({}, meta)
    assert.are.equal("# Title\n\n---\nnot: frontmatter\n---\n", body)
    assert.are.equal(1, line)
    meta, body, line = fm("")
    assert.are.same({}, meta)
    assert.are.equal("", body)
    assert.are.equal(1, line)
  end)

  it("returns {} for an empty block or one holding only comments", function()
    local meta, body, line = fm("---\n---\nbody")
    assert.are.same({}, meta)
    assert.are.equal("body", body)
    assert.are.equal(3, line)
    meta, body, line = fm("---\n# nothing yet\n...\nbody")
    assert.are.same({}, meta)
    assert.are.equal("body", body)
    assert.are.equal(4, line)
  end)

  it("accepts CRLF everywhere and a UTF-8 BOM before the fence", function()
    local meta, body, line = fm("\u{FEFF}---\r\nglobs: **/*.ts, src/**\r\nalwaysApply: false\r\n---\r\nline one\r\n")
    assert.are.same({ "**/*.ts", "src/**" }, meta.globs)
    assert.is_false(meta.alwaysApply)
    assert.are.equal("line one\r\n", body)
    assert.are.equal(5, line)
  end)

  local glob_forms = {
    { "globs: **/*.py, **/*.sql", { "**/*.py", "**/*.sql" } },        -- unquoted, comma-space
    { "globs: **/*.py,**/*.sql", { "**/*.py", "**/*.sql" } },         -- no space
    { "globs: *.ts", { "*.ts" } },                                    -- an alias to strict YAML
    { "globs: \"**/*.ts\", \"src/**\"", { "**/*.ts", "src/**" } },    -- quoted items in one string
    { "globs: \"**/*.ts, src/**\"", { "**/*.ts", "src/**" } },        -- one quoted string
    { "globs: [\"**/*.py\", \"**/*.tsx\", \"**/*.ts\"]", { "**/*.py", "**/*.tsx", "**/*.ts" } },
    { "globs: [**/*.ts, src/**]", { "**/*.ts", "src/**" } },          -- unquoted flow items
    { "globs: [\"'src/**'\", ' \"lib/*\" ']", { "src/**", "lib/*" } }, -- quotes inside strings
    { "globs:\n  - src/*.ts, lib/*.ts\n  - '**/*.md'", { "src/*.ts", "lib/*.ts", "**/*.md" } },
    { "globs:\n  - **/*.go", { "**/*.go" } },                          -- a list item starting with *
    { "globs: src/{a,b}/*.ts, *.md", { "src/{a,b}/*.ts", "*.md" } },   -- commas inside braces
    { "globs: {src,lib}/**/*.c", { "{src,lib}/**/*.c" } },
    { "globs: **/*.ts # TypeScript only", { "**/*.ts" } },
    { "globs:", {} },
    { "globs: []", {} },
    { "globs: ' , '", {} },
  }
  for _, case in ipairs(glob_forms) do
    it("normalises " .. case[1]:gsub("\n", "\\n"), function()
      local meta, body = fm("---\n" .. case[1] .. "\n---\nbody")
      assert.is_table(meta, body)
      assert.are.same(case[2], meta.globs)
    end)
  end

  local always_forms = {
    { "true", true }, { "True", true }, { "TRUE", true }, { "\"true\"", true }, { "'True'", true },
    { "yes", true }, { "\"yes\"", true }, { "on", true }, { "1", true }, { "\" true \"", true },
    { "false", false }, { "\"false\"", false }, { "no", false }, { "0", false }, { "", false },
    { "null", false }, { "\"\"", false },
  }
  for _, case in ipairs(always_forms) do
    it("reads alwaysApply: " .. case[1] .. " as " .. tostring(case[2]), function()
      local meta, err = fm("---\ndescription: d\nalwaysApply: " .. case[1] .. "\n---\n")
      assert.is_table(meta, err)
      assert.are.equal(case[2], meta.alwaysApply)
    end)
  end

  it("refuses an alwaysApply that is neither clearly true nor false, naming its line", function()
    assert.are.same({ nil, "frontmatter: line 3: 'alwaysApply' must be true or false, not 'sometimes'" },
      { fm("---\ndescription: d\nalwaysApply: sometimes\n---\n") })
    assert.are.same({ nil, "frontmatter: line 2: 'alwaysApply' must be true or false, not table" },
      { fm("---\nalwaysApply: [true]\n---\n") })
    -- case is folded for letters only: the control bytes 0x10 and 0x11 are not '0' and '1'
    for _, byte in ipairs({ "\\x10", "\\x11" }) do -- YAML escapes, decoded to the bytes
      local meta, err = fm("---\nalwaysApply: \"" .. byte .. "\"\n---\n")
      assert.is_nil(meta)
      assert.matches("^frontmatter: line 2: 'alwaysApply' must be true or false, not '", err)
    end
  end)

  it("refuses globs that are not strings, naming the line of the key", function()
    assert.are.same({ nil, "frontmatter: line 3: 'globs' must be a string or a list of strings" },
      { fm("---\ndescription: d\nglobs: {a: 1}\n---\n") })
    assert.are.same({ nil, "frontmatter: line 2: 'globs' must be a string or a list of strings" },
      { fm("---\nglobs:\n  - [nested]\n---\n") })
    assert.are.same({ nil, "frontmatter: line 2: 'globs' must be a string or a list of strings" },
      { fm("---\nglobs: true\n---\n") })
  end)

  it("names line 1 when the opening fence is never closed", function()
    local meta, err = fm("---\ndescription: d\nalwaysApply: true\n\n# Body, but no fence\n")
    assert.is_nil(meta)
    assert.are.equal("frontmatter: line 1: the opening '---' is never closed by '---' or '...'", err)
    assert.are.same({ nil, "frontmatter: line 1: the opening '---' is never closed by '---' or '...'" },
      { fm("---") })
  end)

  local broken = {
    { "---\ndescription: ok\nkey: value\n  bad: indent\n---\n", "^frontmatter: line 4: mapping values are not allowed" },
    { "\u{FEFF}---\r\ndescription: ok\r\nkey: value\r\n  bad: indent\r\n---\r\n", "^frontmatter: line 4: mapping values" },
    { "---\nglobs: a\nglobs: b\n---\n", "^frontmatter: line 3: duplicate key 'globs'$" },
    { "---\nline 5, column: a\nline 5, column: b\n---\n", "^frontmatter: line 3: duplicate key 'line 5, column'$" },
    { "---\n\n\n\nx: \"a\\q\"\n---\n", "^frontmatter: line 5: found unknown escape character %(while parsing a quoted scalar at line 5, column 4%)$" },
    { "---\na:\n  - x\n - y\n---\n", "^frontmatter: line 4: did not find expected key %(while parsing a block mapping at line 2, column 1%)$" },
    { "---\njust a sentence\n---\n", "^frontmatter: line 2: expected a mapping of keys, got a string$" },
    { "---\n- a\n- b\n---\n", "^frontmatter: line 2: expected a mapping of keys, got a list$" },
  }
  for _, case in ipairs(broken) do
    it("reports broken YAML at the file's line: " .. case[2], function()
      local meta, err = fm(case[1])
      assert.is_nil(meta)
      assert.matches(case[2], err)
    end)
  end

  it("keeps other keys and prose with colons", function()
    local meta = fm("---\nname: api\ndescription: Note: applies to v2 only\ntags: [http, rest]\n---\n")
    assert.are.same({ name = "api", description = "Note: applies to v2 only", tags = { "http", "rest" } }, meta)
  end)

  it("reads every rule in rules-examples", function()
    local dir = t.src .. "/rules-examples/.agent/rules"
    local names = assert(fs.list(dir))
    local count = 0
    for _, name in ipairs(names) do
      if name:match("%.mdc$") then
        local meta, body, line = fm(assert(t.read(dir .. "/" .. name)))
        assert.is_table(meta, name .. ": " .. tostring(body))
        assert.is_table(meta.globs or {}, name)
        assert.is_boolean(meta.alwaysApply, name)
        assert.is_true(line > 1, name)
        count = count + 1
      end
    end
    assert.is_true(count >= 3)
  end)

  it("raises for a non-string argument", function()
    assert.has_error(function() rules.frontmatter({}) end)
    assert.has_error(function() rules.frontmatter() end)
  end)
end)

describe("rules.glob", function()
  it("returns a callable agent.Glob with a match method", function()
    local m = assert(rules.glob("src/**/*.{c,h}"))
    assert.are.equal("agent.Glob('src/**/*.{c,h}')", tostring(m))
    assert.is_true(m:match("src/a/b.c"))
    assert.is_true(m("src/x.h"))
    assert.is_false(m("lib/x.h"))
    assert.is_false(m:match("src"))
  end)

  local cases = {
    -- Cursor-style globs
    { "**/*", "README.md", true }, { "**/*.ts", "a/b/c.ts", true }, { "**/*.ts", "a/b/c.tsx", false },
    { "*.ts", "src/deep/a.ts", true }, { "*.ts", "a.ts", true }, { "src/*.ts", "src/x/a.ts", false },
    { "/*.md", "docs/a.md", false }, { "./*.md", "a.md", true }, { "docs/**", "docs/a/b.md", true },
    { "docs/**", "docs", false }, { "**/test/**", "a/test/b.py", true }, { "build/", "x/build/o.o", true },
    -- braces, classes, escapes
    { "*.{ts,tsx}", "app/page.tsx", true }, { "a{b,c{d,e}}f", "acef", true }, { "a{b,c{d,e}}f", "acf", false },
    { "[a-c]*.log", "b1.log", true }, { "[!a-c]*.log", "b1.log", false }, { "\\*.md", "*.md", true },
    { "\\*.md", "a.md", false }, { "?.c", "\u{e9}.c", true },
  }
  for _, case in ipairs(cases) do
    it(("%s %s %s"):format(case[1], case[3] and "matches" or "does not match", case[2]), function()
      assert.are.equal(case[3], assert(rules.glob(case[1])):match(case[2]))
    end)
  end

  local bad = {
    { "[abc", "glob '[abc': unclosed '['" },
    { "a{b", "glob 'a{b': unclosed '{'" },
    { "a}", "glob 'a}': unmatched '}'" },
    { "x\\", "glob 'x\\': trailing backslash" },
    { "", "glob '': empty pattern" },
    { ("{a,b}"):rep(9), "glob '" .. ("{a,b}"):rep(9) .. "': braces expand to more than 256 alternatives" },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. case[1], function()
      assert.are.same({ nil, case[2] }, { rules.glob(case[1]) })
    end)
  end

  it("keeps messages about long patterns to one short line", function()
    local m, err = rules.glob(("a"):rep(5000))
    assert.is_nil(m)
    assert.are.equal("glob '" .. ("a"):rep(60) .. "...': pattern longer than 4096 bytes", err)
    m, err = rules.glob("[x\ny")
    assert.is_nil(m)
    assert.are.equal("glob '[x...': unclosed '['", err)
  end)

  it("matches pathological patterns in linear-ish time", function()
    local long = ("a"):rep(4000)
    local deep = ("a/"):rep(2000) .. "a"
    local t0 = os.clock()
    for _, p in ipairs({ ("*a"):rep(20) .. "*b", ("**/a/"):rep(8) .. "b", ("*?"):rep(20) .. "b" }) do
      local m = assert(rules.glob(p))
      assert.is_false(m(long))
      assert.is_false(m(deep))
    end
    assert.is_true(os.clock() - t0 < 2)
  end)

  it("raises on misuse", function()
    assert.has_error(function() rules.glob() end)
    local m = assert(rules.glob("*"))
    assert.has_error(function() m:match() end)
    assert.has_error(function() m.match({}, "x") end)
  end)
end)

describe("rules.select", function()
  local function rule(name, globs, always)
    return { name = name, globs = globs, alwaysApply = always }
  end

  it("picks alwaysApply rules and glob matches in input order, with why", function()
    local list = {
      rule("md", { "*.md" }, false),
      rule("always", {}, true),
      rule("none", {}, false),
      rule("py", { "**/*.go", "**/*.py" }),
      rule("nothing", { "*.rs" }, false),
      rule("bare"),
      rule("src", { "src/**" }),
      rule("both", { "*.md" }, true),
    }
    local paths = { "src/b.c", "tool.py", "docs/z.md", "README.md", "src/a.c", "x/tool.py" }
    local selected, why, problems = rules.select(list, paths)
    local names = {}
    for i, r in ipairs(selected) do names[i] = r.name end
    assert.are.same({ "md", "always", "py", "src", "both" }, names)
    assert.are.equal(list[1], selected[1]) -- the very tables passed in
    assert.are.same({
      { glob = "*.md", path = "README.md" },   -- bytewise first among the matches
      { always = true },
      { glob = "**/*.py", path = "tool.py" },  -- the first glob that matches
      { glob = "src/**", path = "src/a.c" },
      { always = true },                       -- always wins over a glob
    }, why)
    assert.are.same({}, problems)
  end)

  it("reports malformed globs and still uses the rule's good ones", function()
    local list = { rule("a", { "[bad", "*.py", "also{bad" }), rule("b", { "}" }, true) }
    local selected, why, problems = rules.select(list, { "a.py" })
    assert.are.equal(2, #selected)
    assert.are.same({ glob = "*.py", path = "a.py" }, why[1])
    assert.are.same({
      { rule = 1, glob = "[bad", error = "glob '[bad': unclosed '['" },
      { rule = 1, glob = "also{bad", error = "glob 'also{bad': unclosed '{'" },
      { rule = 2, glob = "}", error = "glob '}': unmatched '}'" },
    }, problems)
  end)

  it("returns the path as given, ./ and all", function()
    local _, why = rules.select({ rule("c", { "src/*.c" }) }, { "./src/main.c" })
    assert.are.same({ glob = "src/*.c", path = "./src/main.c" }, why[1])
  end)

  it("selects only always rules when there are no paths", function()
    local selected = rules.select({ rule("g", { "**" }), rule("a", nil, true) }, {})
    assert.are.equal(1, #selected)
    assert.are.equal("a", selected[1].name)
  end)

  it("takes frontmatter's meta as it comes", function()
    local meta = assert(fm("---\nglobs: **/*.py, **/*.sql\nalwaysApply: \"false\"\n---\n"))
    local selected, why = rules.select({ meta }, { "db/schema.sql" })
    assert.are.equal(meta, selected[1])
    assert.are.same({ glob = "**/*.sql", path = "db/schema.sql" }, why[1])
  end)

  it("raises on misuse", function()
    assert.has_error(function() rules.select({ "x" }, {}) end, "bad argument #1 to 'select' (rules[1] is a string, not a table)")
    assert.has_error(function() rules.select({}, { "a", 2 }) end, "bad argument #2 to 'select' (paths[2] is a number, not a string)")
    assert.has_error(function() rules.select({ { globs = "*.c" } }, {}) end)
    assert.has_error(function() rules.select({ { globs = { 1 } } }, {}) end)
    assert.has_error(function() rules.select({ { alwaysApply = "true" } }, {}) end)
    assert.has_error(function() rules.select({}, {}, 1) end)
  end)

  -- Random rules over random trees: the index must give the naive scan's answer exactly.
  local function random_world(seed, npaths, nrules)
    math.randomseed(seed)
    local dirs = { "src", "lib", "src/ui", "test", "docs", ".github/workflows", "a/b/c/d", "" }
    local names = { "main", "util", "index", "README", "Makefile", "schema", "app.test" }
    local exts = { ".c", ".h", ".ts", ".tsx", ".py", ".md", ".yml", ".sql", "" }
    local paths = {}
    for i = 1, npaths do
      local d = dirs[math.random(#dirs)]
      paths[i] = (d ~= "" and d .. "/" or "") .. names[math.random(#names)] .. math.random(0, 40)
        .. exts[math.random(#exts)]
    end
    local pats = { "*.c", "**/*.ts", "src/**", "src/*.h", "**/Makefile*", "Makefile7", "*.{ts,tsx}",
      "{src,lib}/**/*.c", "src/ui/util?.tsx", "**/.github/**", "test/*.test*.py", "a/b/**",
      "a/**/d/*.sql", "*.nomatch", "docs/[!R]*", "**/*", "lib/", "index3", "*.test1?.py",
      "/src/*.c", "./lib/*", "**/schema*.sql", "README[0-9].md", "**/c/**/*.yml", "docs/**/*.md" }
    local list = {}
    for i = 1, nrules do
      local globs = {}
      for k = 1, math.random(0, 3) do globs[k] = pats[math.random(#pats)] end
      list[i] = { id = i, globs = globs, alwaysApply = math.random(10) == 1 }
    end
    return list, paths
  end

  it("gives the naive scan's answer on random worlds", function()
    for seed = 1, 5 do
      local list, paths = random_world(seed, 3000, 80)
      local s1, w1 = rules.select(list, paths)
      local s2, w2 = rules.select(list, paths, { index = false })
      assert.are.equal(#s2, #s1)
      for i = 1, #s1 do assert.are.equal(s2[i], s1[i]) end
      assert.are.same(w2, w1)
      assert.is_true(#s1 > 10 and #s1 < 80) -- the worlds select some rules, not all
    end
  end)

  it("indexes: far faster than the naive scan when most rules match nothing", function()
    local list, paths = random_world(42, 50000, 20)
    for _, g in ipairs({ "**/*.kt", "**/migrations/**", "**/Cargo.toml", "apps/web/**", "*.swift",
      "**/__tests__/**", "vendor/**/*.go", "**/e2e/*.spec.ts" }) do
      for k = 1, 40 do list[#list + 1] = { globs = { g, ("**/x%d/*"):format(k) } } end
    end
    local t0 = os.clock() -- CPU time: steadier than wall time on a busy machine
    local fast = rules.select(list, paths)
    local t1 = os.clock()
    local slow = rules.select(list, paths, { index = false })
    local t2 = os.clock()
    assert.are.equal(#slow, #fast)
    local msg = ("index %.1f ms, naive %.1f ms"):format((t1 - t0) * 1e3, (t2 - t1) * 1e3)
    assert.is_true((t2 - t1) > 3 * (t1 - t0), msg) -- measured 12-19x; 3x leaves room for noise
  end)
end)

describe("rules.select with hostile tables", function()
  it("reads rule tables raw: an __index is never run", function()
    local ran = 0
    local rule = setmetatable({}, { __index = function(_, k)
      ran = ran + 1
      if k == "globs" then return { "*.x" } end
    end })
    local sel, why = rules.select({ rule, { alwaysApply = true } }, { "a.x" },
      setmetatable({}, { __index = function() ran = ran + 1 end }))
    assert.are.equal(0, ran)
    assert.are.equal(1, #sel)
    assert.are.same({ always = true }, why[1])
  end)

  it("keeps the path strings it indexed while the caller's array loses them", function()
    -- A finalizer replaces the paths during select's allocations; the index must not
    -- read the collected strings (a heap-use-after-free under ASan before the strings were
    -- anchored), and why[].path is the string that matched.
    local want = ("a"):rep(100) .. ".x"
    for round = 1, 300 do
      local paths = { want, ("b"):rep(100) .. ".x" }
      setmetatable({}, { __gc = function() paths[1], paths[2] = "c.x", "d.x" end })
      local list = {}
      for k = 1, round % 20 + 1 do list[k] = { globs = { "*.x", ("[%d"):format(k) } } end
      collectgarbage("step")
      local sel, why, problems = rules.select(list, paths)
      local first = why[1] and why[1].path
      assert(#sel == #list and (first == want or first == "c.x") and #problems == #list, "round " .. round)
    end
  end)

  it("raises 'attempt to use a closed glob' for a matcher a finalizer reaches after its own", function()
    local result
    do
      -- finalizers run in the reverse order of marking: the glob's runs first, then this one
      setmetatable({}, { __gc = function(_) result = { pcall(function() return _G.__late_glob:match("a") end) } end })
      _G.__late_glob = rules.glob("*")
      local g = _G.__late_glob
      _G.__late_glob = nil
      setmetatable({}, { __gc = function() _G.__late_glob = g end }) -- keep it reachable for the first
    end
    collectgarbage()
    collectgarbage()
    _G.__late_glob = nil
    assert.is_false(result[1])
    assert.matches("attempt to use a closed glob", result[2], 1, true)
  end)
end)
