-- agent.sys: clocks, environment, ids, hashing.
local sys = require("agent").sys
local t = require("testutil")

describe("agent.sys", function()
  it("has a monotonic clock in milliseconds", function()
    local a = sys.clock()
    assert.is_true(sys.sleep(20))
    local b = sys.clock()
    assert.is_true(b - a >= 19, "slept " .. (b - a) .. " ms")
    assert.is_true(b - a < 2000)
  end)

  it("sleeps through huge and infinite waits instead of failing at once", function()
    -- a wait past time_t's range was undefined behaviour, and in practice an EINVAL
    -- reported as "sleep: interrupted" at once
    for _, ms in ipairs({ "1e300", "math.huge", "2^63" }) do
      local cmd = ("timeout 0.5 env LUA_CPATH=%s lua5.4 -e %s; echo status $?"):format(
        t.q(os.getenv("LUA_CPATH") or ""), t.q("print(require('agent').sys.sleep(" .. ms .. "))"))
      assert.are.equal("status 124\n", t.output(cmd), ms) -- still asleep when timeout ended it
    end
  end)

  it("does not wait for a negative time, and refuses NaN", function()
    local a = sys.clock()
    assert.is_true(sys.sleep(-5))
    assert.is_true(sys.sleep(0))
    assert.is_true(sys.clock() - a < 50)
    local ok, err = pcall(sys.sleep, 0 / 0)
    assert.is_false(ok)
    assert.matches("bad argument #1 to '[%w.]*sleep' %(not a number%)", err)
  end)

  it("reads the environment", function()
    assert.are.equal(os.getenv("HOME"), sys.getenv("HOME"))
    assert.is_nil(sys.getenv("AGENT_SURELY_UNSET_VARIABLE"))
  end)

  it("makes random hex ids of the asked size", function()
    local a, b = sys.random_id(), sys.random_id(16)
    assert.matches("^%x+$", a)
    assert.are.equal(16, #a)
    assert.are.equal(32, #b)
    assert.are_not.equal(a, sys.random_id())
    assert.has_error(function() sys.random_id(0) end)
    assert.has_error(function() sys.random_id(65) end)
  end)

  it("hashes with SHA-256", function()
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", sys.sha256(""))
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sys.sha256("abc"))
    -- two blocks: the 448-bit boundary case from FIPS 180-4
    assert.are.equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      sys.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
  end)

  it("knows the process", function()
    assert.is_true(sys.pid() > 1)
    assert.is_boolean(sys.isatty("stdout"))
    assert.has_error(function() sys.isatty("nope") end)
    assert.is_true(sys.time() > 1.7e9)
  end)
end)
