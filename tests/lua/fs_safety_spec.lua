-- agent.fs against hostile trees and inputs: FIFOs and devices where files are expected, lock
-- files planted as symlinks, option tables with metatables (read raw, never through __index)
-- and mutated while C holds their strings, setuid bits on a rewritten file.
local fs = require("agent").fs
local t = require("testutil")

local EINVAL, ELOOP = 22, 40

-- Runs Lua code in a child with the same agent.so, under a time limit; stdout and status.
local function child(code, seconds)
  local cmd = ("timeout %s env LUA_CPATH=%s lua5.4 -e %s 2>&1; echo status $?"):format(
    seconds or 5, t.q(os.getenv("LUA_CPATH") or ""), t.q(code))
  return t.output(cmd)
end

describe("agent.fs on hostile trees", function()
  local dir
  before_each(function() dir = t.tmpdir() end)
  after_each(function() t.cleanup() end)

  describe("read", function()
    it("refuses a FIFO at once instead of waiting for a writer", function()
      local fifo = dir .. "/agent.yaml"
      assert.is_true(t.sh("mkfifo " .. t.q(fifo)))
      local out = child(("print(require('agent').fs.read(%q))"):format(fifo))
      assert.are.equal(("nil\tread '%s': a FIFO, not a regular file (read it with {special = true})\t%d\nstatus 0\n")
        :format(fifo, EINVAL), out)
    end)

    it("refuses devices, and reads them with {special = true}", function()
      local v, msg, code = fs.read("/dev/null")
      assert.is_nil(v)
      assert.are.equal("read '/dev/null': a character device, not a regular file (read it with {special = true})", msg)
      assert.are.equal(EINVAL, code)
      assert.are.equal("", fs.read("/dev/null", { special = true }))
      local zeros, _, zcode = fs.read("/dev/zero", { special = true, max_bytes = 100 })
      assert.is_nil(zeros)
      assert.are.equal("toobig", zcode)
    end)

    it("reads a FIFO with {special = true} once a writer comes", function()
      local fifo = dir .. "/pipe"
      assert.is_true(t.sh("mkfifo " .. t.q(fifo)))
      -- the writer waits for a reader: bounded, and off busted's output
      assert.is_true(t.sh(("timeout 5 sh -c %s >/dev/null 2>&1 &"):format(
        t.q("printf 'through the pipe' > " .. t.q(fifo)))))
      assert.are.equal("through the pipe", fs.read(fifo, { special = true }))
    end)

    it("takes max_bytes as a number or an option, and refuses unknown options", function()
      t.write(dir .. "/ten", "0123456789")
      assert.are.equal("toobig", select(3, fs.read(dir .. "/ten", 9)))
      assert.are.equal("toobig", select(3, fs.read(dir .. "/ten", { max_bytes = 9 })))
      assert.are.equal("0123456789", fs.read(dir .. "/ten", { max_bytes = 10 }))
      local ok, err = pcall(fs.read, dir .. "/ten", { max = 9 })
      assert.is_false(ok)
      assert.matches("bad argument #2 to '[%w.]*read' %(unknown option 'max'%)", err)
    end)
  end)

  describe("lock", function()
    it("does not follow a symlink planted as the lock file, nor create its target", function()
      t.sh("mkdir -p " .. t.q(dir .. "/outside"))
      local target = dir .. "/outside/created-by-agent"
      assert.is_true(t.sh(("ln -s %s %s"):format(t.q(target), t.q(dir .. "/.new-story.lock"))))
      local lock, msg, code = fs.lock(dir .. "/.new-story.lock", { wait = false })
      assert.is_nil(lock)
      assert.are.equal("lock '" .. dir .. "/.new-story.lock': a symlink, not followed", msg)
      assert.are.equal(ELOOP, code)
      assert.is_false(fs.exists(target))
    end)

    it("refuses a FIFO or a directory as the lock file without waiting", function()
      assert.is_true(t.sh("mkfifo " .. t.q(dir .. "/f.lock") .. " && mkdir " .. t.q(dir .. "/d.lock")))
      local out = child(("local fs = require('agent').fs\nprint(select(2, fs.lock(%q)))\nprint(select(2, fs.lock(%q)))")
        :format(dir .. "/f.lock", dir .. "/d.lock"))
      assert.are.equal(("lock '%s/f.lock': a FIFO, not a regular file\t22\nlock '%s/d.lock': Is a directory\t21\nstatus 0\n")
        :format(dir, dir), out)
    end)

    it("raises 'attempt to use a closed lock' on a second unlock", function()
      local lock = assert(fs.lock(dir .. "/x.lock"))
      assert.is_true(lock:unlock())
      local ok, err = pcall(lock.unlock, lock)
      assert.is_false(ok)
      assert.matches("attempt to use a closed lock", err, 1, true)
    end)
  end)

  describe("options are plain data", function()
    it("never runs an __index on an options table", function()
      t.write(dir .. "/a.txt", "a")
      t.write(dir .. "/sub/b.txt", "b")
      local calls = 0
      local opts = setmetatable({}, { __index = function(_, k)
        calls = calls + 1
        if k == "ignore" then return { "sub/" } end
      end })
      assert.are.same({ "a.txt", "sub/b.txt" }, (fs.walk(dir, opts)))
      assert.is_true(fs.write(dir .. "/w", "x", setmetatable({}, { __index = function() error("ran") end })))
      assert.are.equal(0, calls)
    end)

    it("keeps the ignore patterns alive while the walk uses them", function()
      -- The patterns' only references are in a list a finalizer empties during the walk's
      -- allocations; with the strings collected, the walk would read freed memory (ASan).
      t.write(dir .. "/keep.txt", "k")
      t.write(dir .. "/sub/x.txt", "x")
      t.write(dir .. "/" .. ("q"):rep(60) .. "1", "q")
      for round = 1, 200 do
        local list = { ("q"):rep(60) .. "*", "s" .. ("u"):rep(1) .. "b/" }
        setmetatable({}, { __gc = function() list[1], list[2] = nil, nil end })
        local junk = {} -- luacheck: ignore 241 (allocation churn for the collector)
        for j = 1, round % 50 do junk[j] = { ("z"):rep(j) } end
        collectgarbage("step")
        local files = fs.walk(dir, { ignore = list })
        assert(#files >= 1, "round " .. round)
      end
    end)

    it("says which ignore item is not a string, through luaL_argerror", function()
      local ok, err = pcall(fs.walk, dir, { ignore = { "a", 7 } })
      assert.is_false(ok)
      assert.matches("bad argument #2 to '[%w.]*walk' %(option 'ignore' must be an array of strings %(item 2 is a number%)%)", err)
      ok, err = pcall(fs.walk, dir, { hidden = "yes" })
      assert.is_false(ok)
      assert.matches("option 'hidden' must be a boolean", err, 1, true)
    end)
  end)

  describe("write", function()
    it("drops setuid and setgid when it keeps an existing file's mode", function()
      local p = t.write(dir .. "/tool", "#!/bin/sh\n")
      assert.is_true(t.sh("chmod 6755 " .. t.q(p)))
      assert.are.equal(tonumber("6755", 8), fs.stat(p).mode)
      assert.is_true(fs.write(p, "#!/bin/sh\necho new\n"))
      assert.are.equal(tonumber("755", 8), fs.stat(p).mode)
      assert.is_true(fs.write(p, "x", { mode = tonumber("4755", 8) })) -- asked for: kept
      assert.are.equal(tonumber("4755", 8), fs.stat(p).mode)
    end)

    it("refuses a path ending in a slash as a directory", function()
      local v, _, code = fs.write(dir .. "/", "x")
      assert.is_nil(v)
      assert.are.equal(21, code)
    end)
  end)
end)
