-- The examples in docs/ run as written: each is extracted from its page (by the file name on
-- its first line, or the fence it sits in) and run with the real binary or a stock lua5.4 on
-- a copy of rules-examples, and what the page says about its result is checked.
local t = require("testutil")
local json = require("agent").json

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local function repo()
  return t.copy_tree(t.src .. "/rules-examples", t.tmpdir() .. "/repo")
end

-- The body of the ```lang block of docs/<page> whose first line starts with `first`.
local function example(page, lang, first)
  local text = assert(t.read(t.src .. "/docs/" .. page), page)
  for body in text:gmatch("```" .. lang .. "\n(.-\n)```") do
    if body:sub(1, #first) == first then return body end
  end
  error(("docs/%s has no ```%s block starting with %q"):format(page, lang, first))
end

local function sections(text)
  local out = {}
  for title in text:gmatch("\n## ([^\n]+)") do out[#out + 1] = title end
  return out
end

local function index_of(list, v)
  for i, x in ipairs(list) do if x == v then return i end end
end

describe("docs/personas.md", function()
  after_each(t.cleanup)

  it("the team template adds its sections around the built-in layout and passes the gates", function()
    local root = repo()
    t.write(root .. "/.agent/templates/runbook.lua",
      example("personas.md", "lua", "-- .agent/templates/runbook.lua:"))
    local which = t.run({ "which", "template", "runbook" }, { cwd = root })
    assert.matches("^" .. root:gsub("%p", "%%%0") .. "/%.agent/templates/runbook%.lua %(repo%)\n", which.stdout)

    local r = t.run({ "new-runbook", ID, "--json" }, { cwd = root })
    assert.are.equal(0, r.code, r.stderr)
    local doc = assert(json.decode(r.stdout))
    local text = assert(t.read(root .. "/" .. RUNBOOK))
    assert.matches("^# INFRA%-012: [^\n]+\n\nStatus: PROPOSED\n\n## At a Glance\n", text)
    local titles = sections(text)
    assert.are.equal("Sign-off", titles[#titles])
    assert.is_true(index_of(titles, "At a Glance") < index_of(titles, "Goal Description"))
    local words = { APPROVE = "approves", CHANGES = "requests changes", BLOCK = "blocks" }
    for _, p in ipairs(doc.personas) do
      local row = ("| %s | %s | %d |"):format(p.name, words[p.verdict], #p.items)
      assert.is_truthy(text:find(row, 1, true), "no row " .. row)
    end
    assert.matches("\n%d+ file changes? proposed%.\n", text)
    assert.matches("\n## Sign%-off\n\n%- %[ %] Tech lead: [^\n]+\n%- %[ %] On%-call engineer: [^\n]+\n$", text)
    assert.are.equal(0, t.run({ "check-runbook", ID }, { cwd = root }).code)
  end)
end)
