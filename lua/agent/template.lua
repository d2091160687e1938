-- Loads a template script (the runbook's, a story's) from the search path, where a team's
-- .agent/templates/<name>.lua replaces the built-in, and checks what it returned. new-runbook
-- and new-story turn a refusal into a script error (exit 3).
local loader = require("agent.loader")
local paths = require("agent.paths")

local M = {}

-- load(root, name, argname) -> tpl, file, origin | nil, message. file names the script for
-- messages (relative to the repository at root); argname is what render() takes, for the
-- message when there is no render ("doc", "story").
function M.load(root, name, argname)
  local tpl, found = loader.load_script("templates", name)
  if tpl == nil then return nil, paths.strip(root, found) end
  local file = paths.relative(root, found.path)
  if type(tpl) ~= "table" or type(tpl.render) ~= "function" then
    return nil, ("%s: a template must return a table with a render(%s) function"):format(file, argname)
  end
  if tpl.api ~= loader.PERSONA_API then
    return nil, ("%s: written for template API %s, but this agent implements API %d")
      :format(file, tostring(tpl.api), loader.PERSONA_API)
  end
  return tpl, file, found.origin
end

return M
