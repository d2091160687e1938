-- Defects a reviewer found by using the real binary (new-runbook, accept, commit-story,
-- check-runbook, lua, panel, personas) on temp copies of rules-examples/: each case here
-- failed before its fix.
local t = require("testutil")

local function repo()
  return t.copy_tree(t.src .. "/rules-examples", t.tmpdir() .. "/repo")
end

local function agent(root, args, opts)
  opts = opts or {}
  opts.cwd = opts.cwd or root
  opts.env = opts.env or {}
  opts.env.NO_COLOR = "1"
  return t.run(args, opts)
end

local function story(root, id, text)
  local scope = id:match("^(%a+)")
  t.write(("%s/.agent/cache/stories/%s/%s-x.md"):format(root, scope, id), text)
end

local function runbook_of(root, id)
  return t.read(("%s/.agent/cache/runbooks/%s/%s-runbook.md"):format(root, id:match("^(%a+)"), id))
end

describe("a story with no sections", function()
  after_each(t.cleanup)

  it("gets CHANGES from every persona, a Goal with no empty title, and cannot be accepted", function()
    local root = repo()
    story(root, "INFRA-023", "no heading at all\nStatus: COMMITTED\n")
    local r = agent(root, { "new-runbook", "INFRA-023" })
    assert.is_nil(r.stderr:find(": APPROVE", 1, true), r.stderr)
    assert.matches("@Architect: CHANGES", r.stderr)
    local text = assert(runbook_of(root, "INFRA-023"))
    assert.is_nil(text:find("INFRA-023: .", 1, true))
    assert.is_nil(text:find("()", 1, true))
    assert.matches("The story has no sections", text)
    local check = agent(root, { "check-runbook", "INFRA-023" })
    assert.are_not.equal(0, check.code)
    assert.matches("section 'Rollback Plan' is a placeholder", check.stderr)
    local accept = agent(root, { "accept", "INFRA-023" })
    assert.are_not.equal(0, accept.code)
    assert.matches("Status: PROPOSED", runbook_of(root, "INFRA-023"))
  end)

  it("still lets a story that meets its checklist be approved and accepted (INFRA-012)", function()
    local root = repo()
    local r = agent(root, { "new-runbook", "INFRA-012" })
    assert.are.equal(0, r.code, r.stderr)
    assert.matches("@Architect: APPROVE", r.stderr)
    assert.is_nil(runbook_of(root, "INFRA-012"):find("TBD:", 1, true))
    assert.are.equal(0, agent(root, { "check-runbook", "INFRA-012" }).code)
  end)
end)
