-- The real binary: version, help, usage errors and their exit statuses.
local t = require("testutil")

describe("agent CLI", function()
  after_each(t.cleanup)

  it("prints its version", function()
    local r = t.run({ "--version" })
    assert.are.equal(0, r.code)
    assert.matches("^agent %d+%.%d+%.%d+ %(Lua 5%.4", r.stdout)
  end)

  it("lists commands with help and with no arguments", function()
    for _, args in ipairs({ { "help" }, {} }) do
      local r = t.run(args)
      assert.are.equal(0, r.code)
      assert.matches("commands:", r.stdout)
      assert.matches("help%s+Show the commands", r.stdout)
    end
  end)

  it("shows one command's help", function()
    local r = t.run({ "help", "version" })
    assert.are.equal(0, r.code)
    assert.matches("usage: agent version", r.stdout)
    local r2 = t.run({ "version", "--help" })
    assert.are.equal(r.stdout, r2.stdout)
  end)

  it("refuses an unknown command with one line and status 2", function()
    local r = t.run({ "frobnicate" })
    assert.are.equal(2, r.code)
    assert.are.equal("agent: unknown command 'frobnicate' (see 'agent help')\n", r.stderr)
    assert.are.equal("", r.stdout)
  end)

  it("refuses an unknown flag with one line and status 2", function()
    local r = t.run({ "version", "--frob" })
    assert.are.equal(2, r.code)
    assert.are.equal("agent version: unknown flag '--frob' (see 'agent help version')\n", r.stderr)
    local r2 = t.run({ "help", "nope" })
    assert.are.equal(2, r2.code)
  end)
end)
