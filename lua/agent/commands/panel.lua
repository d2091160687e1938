-- agent panel <STORY-ID>: the governance panel's review alone, findings per persona, nothing
-- written. The review session itself is agent.review, which new-runbook shares.
local json = require("agent.json")
local log = require("agent.log")
local review = require("agent.review")

local M = {}

-- ---- agent panel -------------------------------------------------------------------------

local function print_findings(results)
  local out = {}
  for _, r in ipairs(results) do
    local head = ("%s (%s): "):format(r.name, r.title or r.id)
    if r.status ~= "ok" then
      out[#out + 1] = head .. review.state_text(r) .. "; counts as no approval"
    else
      out[#out + 1] = head .. r.verdict .. (r.cached and " (cached reply)" or "")
      if r.summary ~= "" then out[#out + 1] = "  " .. r.summary end
      for _, item in ipairs(r.items) do
        out[#out + 1] = ("  - [%s] %s%s"):format(item.severity, item.text, item.rule and (" (cites " .. item.rule .. ")") or "")
      end
      for _, c in ipairs(r.checklist) do
        out[#out + 1] = ("    %-8s %s%s"):format(c.status, c.item, c.note and (": " .. c.note) or "")
      end
    end
    out[#out + 1] = ""
  end
  io.stdout:write(table.concat(out, "\n"))
end

M.name = "panel"
M.order = 11
M.summary = "Review a story with the governance panel and print each persona's findings"
M.usage = "agent panel <STORY-ID> [--provider NAME] [--model MODEL] [--fresh] [--json]"
M.args = { { name = "STORY-ID", required = true, complete = "story" } }
M.flags = review.REVIEW_FLAGS
M.help = [[Runs every persona of the panel on the story (concurrently, one request per persona)
and prints their verdicts, findings and checklists. Nothing is written except the reply
cache (.agent/cache/panel/<STORY-ID>/). The story may be in any state.

The panel is every persona on the search path (.agent/personas/, then the built-ins), or
panel.personas in .agent/etc/agent.yaml, plus the roster in .agent/etc/agents.yaml.
A persona without a usable review never counts as approval.

Exit statuses: 0 every persona reviewed and none blocks; 3 a persona script failed (named
as file:line); 5 a persona gave no usable review; 6 a persona's verdict is BLOCK; 1 failure
(missing story, bad config, a missing key, or every persona's call failed alike: key
refused, out of credit, unknown model, host unreachable); 2 usage; 130/143 interrupted.

Examples:
  agent panel INFRA-012
  agent panel INFRA-012 --provider anthropic --json
  agent panel INFRA-012 --provider openai --model gpt-4o-mini --fresh]]

-- The review, printing nothing on stdout: what `run` prints and what require("agent")'s panel
-- returns. Returns {session=S, results=, redactions=, status=}; failures raise through cli.
function M.execute(opts, ctx)
  local S = review.prepare(opts, ctx, false)
  review.gather(S)
  local results = review.run_panel(S)
  review.check_interrupted(S)
  review.check_shared_failure(results)
  local redactions = review.redactions(results)
  local line = review.redaction_line(redactions)
  if line then log.info(line) end
  return { session = S, results = results, redactions = redactions, status = review.panel_status(results) }
end

function M.run(opts, ctx)
  local r = M.execute(opts, ctx)
  local S, results, redactions, status = r.session, r.results, r.redactions, r.status
  if opts.json then
    local verdicts, timings, tokens, personas = review.json_personas(results)
    io.stdout:write(json.encode({
      story = { id = S.story.id, title = S.story.title, scope = S.story.scope, state = S.story.state },
      provider = S.provider, model = S.model, verdicts = verdicts, timings = timings, tokens = tokens,
      redactions = redactions, personas = personas, exit = status,
    }), "\n")
  else
    print_findings(results)
  end
  review.usage_summary(S)
  return status
end

return M
