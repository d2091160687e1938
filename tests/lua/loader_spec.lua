-- The script loader: search-path order, shadowing with base(), and the sandbox team scripts
-- run in (no os.execute/io.popen/io/loadlib/binary chunks, read-only API, limits).
require("agent")
local loader = require("agent.loader")
local t = require("testutil")

local function persona(dir, name, src)
  t.write(dir .. "/personas/" .. name .. ".lua", src)
end

describe("loader", function()
  local scripts, repo, user
  before_each(function()
    scripts, repo, user = t.tmpdir(), t.tmpdir(), t.tmpdir()
    loader.configure({ scripts = { scripts }, repo = repo, user = user, limits = { instructions = 2e6, memory = 16 * 1024 * 1024, time_ms = 2000 } })
    loader.set_api({ api_version = 1, greet = function(n) return "hi " .. n end })
  end)
  after_each(t.cleanup)

  it("takes the first match along scripts, repo, user, built-in", function()
    persona(user, "p", "return { id = 'user' }")
    assert.are.equal("user", (loader.load_script("personas", "p")).id)
    persona(repo, "p", "return { id = 'repo' }")
    assert.are.equal("repo", (loader.load_script("personas", "p")).id)
    persona(scripts, "p", "return { id = 'scripts' }")
    local v, c = loader.load_script("personas", "p")
    assert.are.equal("scripts", v.id)
    assert.are.equal("scripts", c.origin)
    local _, found = loader.resolve("personas", "p.lua")
    assert.are.equal(3, #found)
  end)

  it("lets a script extend the one it shadows through base()", function()
    persona(user, "p", "return { id = 'p', checklist = { 'a' } }")
    persona(repo, "p", [[
      local b = base()
      b.checklist[#b.checklist + 1] = 'b'
      return b
    ]])
    local v = loader.load_script("personas", "p")
    assert.are.same({ "a", "b" }, v.checklist)
  end)

  it("reports base() with nothing underneath", function()
    persona(repo, "lonely", "return base()")
    local v, err = loader.load_script("personas", "lonely")
    assert.is_nil(v)
    assert.matches("shadows nothing", err)
  end)

  it("lists scripts of a kind across layers, deduplicated", function()
    persona(repo, "zeta", "return {}")
    persona(user, "zeta", "return {}")
    persona(user, "alpha", "return {}")
    local names = loader.list("personas")
    local seen = {}
    for _, n in ipairs(names) do seen[n] = (seen[n] or 0) + 1 end
    assert.are.equal(1, seen.zeta)
    assert.are.equal(1, seen.alpha)
  end)

  local forbidden = {
    { "os.execute", "return os.execute('true')" },
    { "io.popen", "return io.popen('id')" },
    { "io.open", "return io.open('/etc/passwd')" },
    { "package.loadlib", "return package.loadlib('x', 'y')" },
    { "require ffi", "local ffi = require('ffi') return ffi" },
    { "dofile", "return dofile('/etc/passwd')" },
    { "debug", "return debug.getinfo(1)" },
  }
  for _, case in ipairs(forbidden) do
    it("refuses " .. case[1] .. " with the script's file and line", function()
      persona(repo, "bad", "local x = 1\n" .. case[2])
      local v, err = loader.load_script("personas", "bad")
      assert.is_nil(v)
      assert.matches("bad%.lua:2: ", err)
    end)
  end

  it("refuses binary chunks", function()
    persona(repo, "bin", "return load(string.dump(function() end))")
    local v = loader.load_script("personas", "bin")
    assert.is_nil(v)
    local f = io.open(repo .. "/personas/raw.lua", "wb")
    f:write(string.dump(function() return {} end))
    f:close()
    local v2, err2 = loader.load_script("personas", "raw")
    assert.is_nil(v2)
    assert.matches("binary", err2)
  end)

  it("hands out a read-only API and keeps the string metatable", function()
    persona(repo, "ro", "agent.greet = nil")
    local v, err = loader.load_script("personas", "ro")
    assert.is_nil(v)
    assert.matches("read%-only", err)
    persona(repo, "meta", "return getmetatable('')")
    assert.is_nil((loader.load_script("personas", "meta")))
    persona(repo, "strmod", "string.rep = nil")
    assert.is_nil((loader.load_script("personas", "strmod")))
    assert.are.equal("aa", ("a"):rep(2))
    persona(repo, "ok", "return { v = agent.greet('x'), n = #string.format('%d', 5) }")
    local ok = loader.load_script("personas", "ok")
    assert.are.equal("hi x", ok.v)
  end)

  it("refuses raw writes into the shared API and __gc finalizers", function()
    persona(repo, "raw", "rawset(agent, 'greet', function() return 'forged' end)")
    local v, err = loader.load_script("personas", "raw")
    assert.is_nil(v)
    assert.matches("raw%.lua:1: attempt to modify read%-only 'agent'", err)
    persona(repo, "reader", "return { v = agent.greet('x') }")
    assert.are.equal("hi x", (loader.load_script("personas", "reader")).v)
    persona(repo, "fin", "local x = {}\nsetmetatable(x, { __gc = function() end })")
    local v2, err2 = loader.load_script("personas", "fin")
    assert.is_nil(v2)
    assert.matches("fin%.lua:2: __gc metamethods are not allowed in scripts", err2)
  end)

  -- A C class's metatable (agent.Glob's, shared with the host's own matchers) reached from a
  -- script would let it replace __gc or __index and run code with no budget, at any time.
  it("hands out no metatable of userdata or of a table the host protects", function()
    loader.set_api({ api_version = 1, rules = { glob = require("agent.rules").glob } })
    persona(repo, "mt", [[
local own = setmetatable({}, { mine = true })
return { glob = getmetatable(agent.rules.glob("*")) == nil, api = getmetatable(agent) == nil,
         str = getmetatable("") == nil, own = getmetatable(own).mine }]])
    assert.are.same({ glob = true, api = true, str = true, own = true }, (loader.load_script("personas", "mt")))
    persona(repo, "gc", "getmetatable(agent.rules.glob('*')).__gc = function() while true do end end")
    local v, err = loader.load_script("personas", "gc")
    assert.is_nil(v)
    assert.matches("gc%.lua:1: attempt to index a nil value", err)
    local m = assert(require("agent.rules").glob("*.lua"))
    assert.is_true(m:match("a.lua")) -- the host's matchers are untouched
  end)

  it("hands back what a script returns as plain tables, so no script code runs after the call", function()
    persona(repo, "trap", [[
local loop = { __index = function() while true do end end, __tostring = function() while true do end end }
local t = setmetatable({ id = "trap", list = setmetatable({ 1, 2 }, loop) }, loop)
t.self = t
return t, setmetatable({}, loop)]])
    local v = loader.load_script("personas", "trap")
    assert.is_nil(getmetatable(v))
    assert.is_nil(getmetatable(v.list))
    assert.is_nil(v.missing)
    assert.are.same({ 1, 2 }, v.list)
    assert.are.equal(v, v.self)
    local ok, a, b, c = loader.call(function() return 1, nil, setmetatable({ 3 }, { __index = error }) end)
    assert.is_true(ok)
    assert.are.equal(1, a)
    assert.is_nil(b)
    assert.is_nil(getmetatable(c))
    assert.is_nil(c.missing)
  end)

  it("skips a byte-order mark, and reads no repo script that leads out of the repository", function()
    persona(repo, "bom", "\239\187\191return { id = 'bom' }\r\n")
    assert.are.equal("bom", (loader.load_script("personas", "bom")).id)
    assert(t.sh("ln -s /etc/passwd " .. t.q(repo .. "/personas/passwd.lua")))
    local v, err, kind = loader.load_script("personas", "passwd")
    assert.is_nil(v)
    assert.are.equal("refused", kind)
    assert.matches("personas/passwd%.lua: a symlink leading outside the repository %(refused%)$", err)
    assert(t.sh("mkdir -p " .. t.q(scripts .. "/personas") .. " && ln -s /etc/passwd " .. t.q(scripts .. "/personas/shared.lua")))
    local _, serr = loader.load_script("personas", "shared") -- --scripts dirs may live anywhere
    assert.matches("shared%.lua:1: ", serr)
  end)

  it("never takes agent's own modules from the repository, only from --scripts or user directories", function()
    t.write(repo .. "/lua/agent/redact.lua", "return {}")
    t.write(scripts .. "/lua/agent/redact.lua", "return {}")
    t.write(repo .. "/lua/team/util.lua", "return {}")
    local _, found = loader.resolve("lua", "agent/redact.lua")
    local origins = {}
    for i, c in ipairs(found) do origins[i] = c.origin end
    assert.are.same({ "scripts", "builtin" }, origins)
    assert.are.equal("repo", (loader.resolve("lua", "team/util.lua")).origin)
  end)

  it("raises on unknown globals", function()
    persona(repo, "typo", "return { id = idd }")
    local v, err = loader.load_script("personas", "typo")
    assert.is_nil(v)
    assert.matches("typo%.lua:1: undefined global 'idd'", err)
  end)

  it("stops endless loops and allocation, and the host goes on", function()
    persona(repo, "spin", "while true do end")
    local v, err, kind = loader.load_script("personas", "spin")
    assert.is_nil(v)
    assert.are.equal("instructions", kind)
    assert.matches("spin%.lua:1:", err)
    persona(repo, "hog", "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(4096) end")
    local v2, err2, kind2 = loader.load_script("personas", "hog")
    assert.is_nil(v2)
    assert.are.equal("memory", kind2)
    assert.matches("hog%.lua:1: memory cap", err2)
    persona(repo, "fine", "return { id = 'fine' }")
    assert.are.equal("fine", (loader.load_script("personas", "fine")).id)
  end)

  it("stops a loop hidden in a coroutine", function()
    persona(repo, "co", "local c = coroutine.wrap(function() while true do end end) c()")
    local v, _, kind = loader.load_script("personas", "co")
    assert.is_nil(v)
    assert.are.equal("instructions", kind)
  end)

  it("lets team scripts require team modules but not pipeline internals", function()
    t.write(repo .. "/lua/team/util.lua", "return { twice = function(x) return 2 * x end }")
    persona(repo, "req", "local u = require('team.util') return { v = u.twice(21) }")
    assert.are.equal(42, (loader.load_script("personas", "req")).v)
    persona(repo, "inner", "return require('agent.fs')")
    local v, err = loader.load_script("personas", "inner")
    assert.is_nil(v)
    assert.matches("not found on the team search path", err)
  end)

  it("answers a team require from the repository configured now, not an earlier one", function()
    t.write(repo .. "/lua/team/util.lua", "return { who = 'A' }")
    persona(repo, "who", "return { who = require('team.util').who }")
    assert.are.equal("A", (loader.load_script("personas", "who")).who)
    local other = t.tmpdir()
    t.write(other .. "/lua/team/util.lua", "return { who = 'B' }")
    persona(other, "who", "return { who = require('team.util').who }")
    loader.configure({ repo = other, limits = { instructions = 2e6 } })
    assert.are.equal("B", (loader.load_script("personas", "who")).who)
  end)

  it("gives trusted scripts the full environment", function()
    loader.configure({ repo = repo, trusted = true })
    persona(repo, "trusted", "return { t = type(io.open) }")
    assert.are.equal("function", (loader.load_script("personas", "trusted")).t)
  end)

  it("reports a trusted script's error as a limited one's: message, kind, traceback", function()
    loader.configure({ repo = repo, trusted = true })
    local ok, msg, kind, tb = loader.call(function() error("broken here") end)
    assert.is_false(ok)
    assert.matches("^[^\n]*:%d+: broken here$", msg)
    assert.are.equal("error", kind)
    assert.matches("stack traceback:", tb)
    local ok2, msg2, kind2 = loader.call(function() error({}) end)
    assert.are.same({ false, "error object is not a string", "error" }, { ok2, msg2, kind2 })
  end)
end)
