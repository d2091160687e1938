-- require "agent"'s pipeline functions fail like the CLI on what a user gets wrong: a missing
-- API key stops agent.new_runbook and agent.panel before any request, with nothing written.
local agent = require("agent")
local t = require("testutil")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local repo = t.example_repo

describe("a missing API key through require 'agent'", function()
  after_each(t.cleanup)

  it("is nil, the one-line message, status 1 from new_runbook and panel, and nothing is written", function()
    if (os.getenv("GEMINI_API_KEY") or "") ~= "" or (os.getenv("GOOGLE_API_KEY") or "") ~= "" then
      pending("a Gemini key is set in this environment")
      return
    end
    local root = repo()
    local r, msg, status = agent.new_runbook({ root = root, story = ID, provider = "gemini", quiet = true })
    assert.is_nil(r)
    assert.are.equal("gemini: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)", msg)
    assert.are.equal(1, status)
    assert.is_false(agent.fs.exists(root .. "/" .. RUNBOOK))
    local p, pmsg, pstatus = agent.panel({ root = root, story = ID, provider = "gemini", quiet = true })
    assert.is_nil(p)
    assert.are.same({ "gemini: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)", 1 }, { pmsg, pstatus })
  end)
end)
