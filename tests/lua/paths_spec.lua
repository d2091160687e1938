-- agent.paths: the inside-root rule and how messages show paths.
require("agent") -- installs the searcher for agent's own modules
local paths = require("agent.paths")
local t = require("testutil")

describe("agent.paths", function()
  after_each(t.cleanup)

  it("strips the root where a path begins, never inside a path", function()
    assert.are.equal(".agent/cache/stories/S/x.md: exists", paths.strip("/S", "/S/.agent/cache/stories/S/x.md: exists"))
    assert.are.equal("cannot write 'a/b' (see a/c)", paths.strip("/r/p", "cannot write '/r/p/a/b' (see /r/p/a/c)"))
    assert.are.equal("/r/pq/a", paths.strip("/r/p", "/r/pq/a")) -- another directory that shares a prefix
    assert.are.equal("x=/other/r/p/a", paths.strip("/r/p", "x=/other/r/p/a"))
    assert.is_nil(paths.strip("/r", nil))
    assert.are.equal("/r/a", paths.strip(nil, "/r/a"))
  end)

  it("gives paths below the root relative to it, others unchanged", function()
    assert.are.equal("a/b", paths.relative("/r", "/r/a/b"))
    assert.are.equal("/rx/a", paths.relative("/r", "/rx/a"))
  end)

  it("refuses a write through a symlink that leaves the root or leads nowhere", function()
    local root = t.tmpdir()
    os.execute("mkdir -p " .. t.q(root .. "/in") .. " && ln -s /tmp " .. t.q(root .. "/out")
      .. " && ln -s " .. t.q(root .. "/missing") .. " " .. t.q(root .. "/dangling"))
    assert.is_true(paths.check_inside(root, root .. "/in/new/file"))
    local ok, why = paths.check_inside(root, root .. "/out/file")
    assert.is_nil(ok)
    assert.matches("outside the repository", why)
    ok, why = paths.check_inside(root, root .. "/dangling")
    assert.is_nil(ok)
    assert.are.equal("it is a symlink to nothing", why)
  end)
end)
