-- agent.nvim: commands for the agent governance panel. Neovim 0.7+ (LuaJIT): it runs the
-- agent CLI as a job and reads its --json output; it never loads agent's Lua in-process.
if vim.g.loaded_agent then return end
vim.api.nvim_set_var("loaded_agent", true)

-- Story IDs in the states the command takes (:AgentRunbook offers COMMITTED stories only).
local function complete_story_ids(command)
  return function(arglead) return require("agent").story_ids(arglead, command) end
end

vim.api.nvim_create_user_command("AgentRunbook", function(args)
  require("agent").runbook(args.args, { force = args.bang })
end, { nargs = 1, bang = true, complete = complete_story_ids("new-runbook"),
       desc = "agent new-runbook <STORY-ID> (! regenerates, keeping a .bak)" })

vim.api.nvim_create_user_command("AgentPanel", function(args)
  require("agent").panel(args.args)
end, { nargs = 1, complete = complete_story_ids("panel"), desc = "agent panel <STORY-ID>: the review alone" })

vim.api.nvim_create_user_command("AgentCheck", function(args)
  require("agent").check(args.args ~= "" and args.args or vim.api.nvim_buf_get_name(0))
end, { nargs = "?", complete = "file", desc = "agent check-runbook: gate problems into the quickfix list" })
