-- The script API is a contract with every team's personas and templates: any change to the
-- names a script can reach through `agent` must be deliberate. A probe persona, loaded by the
-- real loader in the real sandbox with the real API, lists every name it can reach (with its
-- type); the list must equal tests/fixtures/script_api.snapshot, and docs/api/agent.lua (the
-- annotation stub) must document exactly those names.
require("agent")
local t = require("testutil")
local loader = require("agent.loader")
local script_api = require("agent.script_api")

local SNAPSHOT = t.src .. "/tests/fixtures/script_api.snapshot"
local STUB = t.src .. "/docs/api/agent.lua"

-- Walks `agent` from inside the sandbox: tables with string keys are descended into; a list
-- (agent.fields) is a value of type "array".
local PROBE = [[
local names = {}
local function walk(prefix, tbl)
  for k, v in pairs(tbl) do
    local name = prefix .. "." .. tostring(k)
    if type(v) == "table" and #v == 0 then
      walk(name, v)
    else
      names[#names + 1] = name .. " " .. (type(v) == "table" and "array" or type(v))
    end
  end
end
walk("agent", agent)
local same = require("agent") == agent
return { api = 1, id = "probe", checklist = { "x" }, names = names, same = same }
]]

local function probe()
  local root = t.tmpdir()
  t.write(root .. "/.agent/personas/probe.lua", PROBE)
  loader.configure({ repo = root .. "/.agent" })
  script_api.install(root)
  local p, err = loader.load_script("personas", "probe")
  assert(p, err)
  assert.is_true(p.same, "require('agent') and the global agent differ inside a script")
  local names = {}
  for i = 1, #p.names do names[i] = p.names[i] end
  table.sort(names)
  return names
end

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if not line:match("^#") then out[#out + 1] = line end
  end
  return out
end

local function diff(want, got)
  local in_want, in_got, out = {}, {}, {}
  for _, l in ipairs(want) do in_want[l] = true end
  for _, l in ipairs(got) do in_got[l] = true end
  for _, l in ipairs(want) do if not in_got[l] then out[#out + 1] = "- " .. l end end
  for _, l in ipairs(got) do if not in_want[l] then out[#out + 1] = "+ " .. l end end
  return out
end

local HEADER = [[
# Every name a persona or template script reaches through `agent`, with its type: the script
# API contract (docs/lua-api.md). tests/lua/api_snapshot_spec.lua compares it with what the
# loader really hands a script. Regenerate only for a deliberate change:
#   AGENT_UPDATE_SNAPSHOT=1 ctest --test-dir build -R api_snapshot
]]

describe("the script API snapshot", function()
  after_each(function()
    loader.configure({})
    t.cleanup()
  end)

  it("matches tests/fixtures/script_api.snapshot", function()
    local got = probe()
    if os.getenv("AGENT_UPDATE_SNAPSHOT") == "1" then
      t.write(SNAPSHOT, HEADER .. table.concat(got, "\n") .. "\n")
      print("\nwrote " .. SNAPSHOT .. ": review the diff, update docs/lua-api.md and docs/api/agent.lua, commit them together")
    end
    local want = lines(assert(t.read(SNAPSHOT), "missing " .. SNAPSHOT))
    local changes = diff(want, got)
    if #changes > 0 then
      error(table.concat({
        "the API scripts see through `agent` changed (- gone, + new):",
        table.concat(changes, "\n"),
        "Removing or retyping a name breaks teams' scripts: do it only on purpose, with a new persona API version.",
        "If the change is deliberate: AGENT_UPDATE_SNAPSHOT=1 ctest --test-dir build -R api_snapshot,",
        "then document it in docs/lua-api.md and docs/api/agent.lua and commit all three together.",
      }, "\n"), 0)
    end
    assert.is_true(#got > 30)
  end)

  it("is what docs/api/agent.lua documents, name for name", function()
    local stub = assert(t.read(STUB))
    assert.matches("^%-%-%-@meta", stub)
    local known, missing = {}, {}
    for _, l in ipairs(lines(assert(t.read(SNAPSHOT)))) do
      local name = l:match("^(%S+)")
      known[name] = true
      -- a name is documented as `function agent.x.y(` or `agent.x.y =`
      local pat = name:gsub("%p", "%%%0")
      if not (stub:find("\nfunction " .. pat .. "%(") or stub:find("\n" .. pat .. " =")) then
        missing[#missing + 1] = name
      end
    end
    assert.are.same({}, missing, "names missing from docs/api/agent.lua")
    local extra = {}
    for name in stub:gmatch("\nfunction (agent[%w_.]+)%(") do
      if not known[name] then extra[#extra + 1] = name end
    end
    for name in stub:gmatch("\n(agent[%w_.]+) = [^{]") do
      if not known[name] then extra[#extra + 1] = name end
    end
    assert.are.same({}, extra, "docs/api/agent.lua documents names scripts cannot reach")
  end)
end)
