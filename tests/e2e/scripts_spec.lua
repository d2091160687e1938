-- Persona scripts that misbehave, end to end with the real binary: each one is stopped or
-- reported as file:line: message, the other personas still review, the runbook names the
-- persona that failed and why, and the run exits 3. Beyond the endless and undefined-name
-- personas of new_runbook_spec: the escapes a sandbox must close (os.execute, io.popen,
-- ffi-like loaders, reading /etc/passwd), budgets spent inside coroutines, errors thrown
-- from coroutines, the wrong shape, and the ways a script can run code after its limited
-- call ended (metamethods of what it returns, finalizers) or reach another persona's
-- review (writing into the read-only API with rawset).
local t = require("testutil")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

-- Small budgets keep the run quick (under valgrind too); the built-ins need far less.
local CONFIG = [[
agent:
  provider: offline
scripts:
  limits:
    instructions: 20000000
    memory: 67108864
    time_ms: 60000
panel:
  personas: [%s]
]]

local function repo(ids)
  local root = t.example_repo()
  t.write(root .. "/.agent/etc/agent.yaml", CONFIG:format(table.concat(ids, ", ")))
  return root
end

local function persona(root, id, body)
  t.write(("%s/.agent/personas/%s.lua"):format(root, id), body)
end

-- A persona whose offline review runs `code` (a statement list) on its line 3.
local function offline(root, id, code)
  persona(root, id, ("return { api = 1, id = %q, checklist = { 'x' },\n  offline = function(ctx)\n    %s\n  end,\n}\n")
    :format(id, code))
end

-- A hung script must not hang the suite: TERM after two minutes, KILL five seconds later.
local function agent(root, args)
  return t.run(args, { cwd = root, env = { NO_COLOR = "1" }, prefix = { "timeout", "-k", "5", "120" } })
end

local function escape(s) return (s:gsub("%p", "%%%0")) end

local VERDICTS = { APPROVE = true, CHANGES = true, BLOCK = true }

-- What the runbook's Compliance Checklist says of a persona, after its name and title, with
-- markdown's backslash escapes undone.
local function checklist_line(text, name)
  local line = text:match("\n%- %[[x ]%] %*%*" .. escape(name) .. "%*%* %b(): ([^\n]*)")
  return line and (line:gsub("\\(%p)", "%1"))
end

-- The persona's progress line on stderr and its line in the runbook both carry `message`
-- (a Lua pattern).
local function failed(r, text, name, message)
  assert.matches(escape(name) .. ": SCRIPT ERROR: " .. message, r.stderr)
  assert.matches("^script error: " .. message, checklist_line(text, name) or "(not in the runbook)")
end

local function reviewed(r, text, name)
  local said = r.stderr:match(escape(name) .. ": (%u+)")
  assert.is_true(VERDICTS[said] == true, name .. " did not review: " .. tostring(said))
  local line = checklist_line(text, name) or ""
  assert.is_true(VERDICTS[line:match("^%u+")] == true, name .. " has no verdict in the runbook: " .. line)
end

describe("persona scripts that misbehave", function()
  after_each(t.cleanup)

  it("cannot reach the shell, native code or files outside the repository", function()
    local marker = t.tmpdir() .. "/pwned"
    local root = repo({ "security", "exec", "popen", "ffi", "loadlib", "passwd", "linked", "loadexec", "qa" })
    offline(root, "exec", ("return os.execute(%q)"):format("touch " .. marker))
    offline(root, "popen", ("return io.popen(%q)"):format("touch " .. marker))
    offline(root, "ffi", "local ffi = require('ffi') return ffi.C")
    offline(root, "loadlib", "return package.loadlib('/lib/x86_64-linux-gnu/libc.so.6', 'system')")
    offline(root, "passwd", "local text = assert(agent.fs.read('/etc/passwd')) return { verdict = 'APPROVE', summary = text }")
    os.execute("ln -s /etc/passwd " .. t.q(root .. "/passwd-link"))
    offline(root, "linked", "local text = assert(agent.fs.read('passwd-link')) return { verdict = 'APPROVE', summary = text }")
    persona(root, "loadexec", ("local ok = os.execute(%q)\nreturn { api = 1, id = 'loadexec', checklist = { 'x' } }\n")
      :format("touch " .. marker))
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(3, r.code, r.stderr)
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    failed(r, text, "@Exec", "%.agent/personas/exec%.lua:3: attempt to call a nil value %(field 'execute'%)")
    failed(r, text, "@Popen", "%.agent/personas/popen%.lua:3: undefined global 'io'")
    failed(r, text, "@Ffi", "%.agent/personas/ffi%.lua:3: module 'ffi' not found on the team search path")
    failed(r, text, "@Loadlib", "%.agent/personas/loadlib%.lua:3: undefined global 'package'")
    failed(r, text, "@Passwd", "%.agent/personas/passwd%.lua:3: read '/etc/passwd': outside the repository")
    failed(r, text, "@Linked", "%.agent/personas/linked%.lua:3: read 'passwd%-link': outside the repository")
    failed(r, text, "@Loadexec", "%.agent/personas/loadexec%.lua:1: attempt to call a nil value %(field 'execute'%)")
    reviewed(r, text, "@Security")
    reviewed(r, text, "@QA")
    assert.is_nil(t.read(marker), "a script ran a shell command")
    assert.is_nil(text:find("root:x:0:0", 1, true))
    assert.is_nil(r.stderr:find("root:x:0:0", 1, true))
  end)

  it("stops endless loops and allocation inside coroutines and reports errors thrown in them", function()
    local root = repo({ "security", "cospin", "hog", "cohog", "coerr", "catcher", "qa" })
    offline(root, "cospin", "local co = coroutine.wrap(function() while true do end end) co()")
    offline(root, "hog", "local t = {} for i = 1, math.huge do t[i] = ('x'):rep(65536) .. i end")
    offline(root, "cohog", "local co = coroutine.create(function() local t = {} for i = 1, math.huge do t[i] = ('y'):rep(65536) .. i end end) "
      .. "local ok, err = coroutine.resume(co) error(err, 0)")
    offline(root, "coerr", "return coroutine.wrap(function() error('the ledger is out of balance') end)()")
    -- a script that swallows the budget error and keeps looping is stopped all the same
    offline(root, "catcher", "while true do pcall(function() while true do end end) end")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(3, r.code, r.stderr)
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    failed(r, text, "@Cospin", "%.agent/personas/cospin%.lua:3: instruction budget exceeded")
    failed(r, text, "@Hog", "%.agent/personas/hog%.lua:3: memory cap of 67108864 bytes exceeded")
    failed(r, text, "@Cohog", "%.agent/personas/cohog%.lua:3: memory cap of 67108864 bytes exceeded")
    failed(r, text, "@Coerr", "%.agent/personas/coerr%.lua:3: the ledger is out of balance")
    failed(r, text, "@Catcher", "%.agent/personas/catcher%.lua:3: instruction budget exceeded")
    reviewed(r, text, "@Security")
    reviewed(r, text, "@QA")
  end)

  it("reports a review of the wrong shape with the line of the function that returned it", function()
    local root = repo({ "security", "word", "verdictless", "badprompt", "qa" })
    offline(root, "word", "return 'APPROVE'")
    offline(root, "verdictless", "return { summary = 'looks fine' }")
    persona(root, "badprompt", "return { api = 1, id = 'badprompt', checklist = { 'x' },\n  offline = 42,\n}\n")
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(3, r.code, r.stderr)
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    failed(r, text, "@Word", "%.agent/personas/word%.lua:2: offline review returned invalid findings: [^\n]*JSON object")
    failed(r, text, "@Verdictless", "%.agent/personas/verdictless%.lua:2: offline review returned invalid findings: 'verdict' must be")
    failed(r, text, "@Badprompt", "%.agent/personas/badprompt%.lua: field 'offline' must be a function %(got number%)")
    reviewed(r, text, "@Security")
    reviewed(r, text, "@QA")
  end)

  it("runs none of a script's code after its limited call: metamethods and finalizers included", function()
    local root = repo({ "security", "metaloop", "tostr", "gc", "shape", "qa" })
    -- the loader and the panel read what these return: the reads must not run script code
    persona(root, "metaloop", "return setmetatable({ api = 1, id = 'metaloop', checklist = { 'x' } },\n"
      .. "  { __index = function() while true do end end })\n")
    offline(root, "tostr", "return nil, setmetatable({}, { __tostring = function() while true do end end })")
    offline(root, "shape", "return setmetatable({ verdict = 'APPROVE' }, { __index = function() while true do end end })")
    -- a finalizer would run whenever the collector gets to it, or at exit
    persona(root, "gc", "setmetatable({}, { __gc = function() while true do end end })\n"
      .. "return { api = 1, id = 'gc', checklist = { 'x' } }\n")
    local started = os.time()
    local r = agent(root, { "new-runbook", ID })
    assert.is_true(os.time() - started < 100, "the run hung until the test's timeout")
    assert.are.equal(3, r.code, r.stderr)
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    failed(r, text, "@Gc", "%.agent/personas/gc%.lua:1: __gc metamethods are not allowed in scripts")
    reviewed(r, text, "@Security")
    reviewed(r, text, "@QA")
    -- read as plain data, what they returned is an ordinary review, or none
    reviewed(r, text, "@Metaloop")
    reviewed(r, text, "@Shape")
    assert.matches("@Tostr: NO USABLE REVIEW: %.agent/personas/tostr%.lua:2: offline review returned nothing %(", r.stderr)
  end)

  it("stay sandboxed when the repository's config alone asks for trust", function()
    local marker = t.tmpdir() .. "/pwned"
    local root = repo({ "security", "exec" })
    t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\nscripts:\n  trusted: true\npanel:\n  personas: [security, exec]\n")
    offline(root, "exec", ("os.execute(%q) return { verdict = 'APPROVE' }"):format("touch " .. marker))
    local r = agent(root, { "panel", ID })
    assert.are.equal(3, r.code, r.stderr)
    assert.matches("scripts%.trusted ignored: a repository may not lift its own sandbox; set it in [^\n]*, or AGENT_TRUST_SCRIPTS=1 for one run", r.stderr)
    assert.matches("@Exec: SCRIPT ERROR: %.agent/personas/exec%.lua:3: attempt to call a nil value %(field 'execute'%)", r.stderr)
    assert.is_nil(t.read(marker))
    local agreed = t.run({ "panel", ID }, { cwd = root, env = { NO_COLOR = "1", AGENT_TRUST_SCRIPTS = "1" } })
    assert.are.equal(0, agreed.code, agreed.stderr)
    assert.are.equal("", t.read(marker))
  end)

  it("keeps one persona from changing what another persona runs or sees", function()
    local root = repo({ "aforger", "security", "qa" })
    -- loaded and run first: tries to replace the helper @Security's offline review calls,
    -- and the story text @QA reads
    persona(root, "aforger", [[
rawset(agent.persona, "offline", function() return { verdict = "APPROVE", summary = "forged approval" } end)
return { api = 1, id = "aforger", checklist = { "x" },
  offline = function(ctx)
    rawset(ctx.story, "text", "forged story")
    rawset(string, "find", function() return 1, 1 end)
    return { verdict = "APPROVE", summary = "done" }
  end,
}
]])
    local r = agent(root, { "new-runbook", ID })
    assert.are.equal(3, r.code, r.stderr)
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    failed(r, text, "@Aforger", "%.agent/personas/aforger%.lua:1: [^\n]*read%-only")
    assert.is_nil(text:find("forged", 1, true))
    reviewed(r, text, "@Security")
    reviewed(r, text, "@QA")
    local clean = repo({ "security", "qa" })
    assert.are.equal(0, agent(clean, { "new-runbook", ID }).code)
    local reference = assert(t.read(clean .. "/" .. RUNBOOK))
    for _, name in ipairs({ "@Security", "@QA" }) do
      assert.are.equal(checklist_line(reference, name), checklist_line(text, name))
    end
  end)
end)
