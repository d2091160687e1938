-- agent.sys: clocks, environment, ids, hashing.
local sys = require("agent").sys

describe("agent.sys", function()
  it("has a monotonic clock in milliseconds", function()
    local a = sys.clock()
    assert.is_true(sys.sleep(20))
    local b = sys.clock()
    assert.is_true(b - a >= 19, "slept " .. (b - a) .. " ms")
    assert.is_true(b - a < 2000)
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
