-- The offline provider: no model and no network. The panel sees provider.offline and runs
-- each persona's offline(ctx) review and the offline synthesis instead of sending calls, so
-- the same story and repo always give the same runbook, byte for byte. It is the default
-- when no provider is configured.
local M = {
  name = "offline",
  offline = true,
  default_model = "deterministic",
}

-- request() -> nil, msg, "offline": calls never reach here through providers.run (which
-- answers offline calls itself); a caller that asks anyway gets a plain failure.
function M.request()
  return nil, "offline: the offline provider sends no requests (the panel reviews without a model)", "offline"
end

function M.parse()
  return nil, "offline: the offline provider has no replies to parse", "offline"
end

return M
