-- Where context+prompts spends its time: the phases of bench/context_prompts.lua, each timed
-- in CPU (os.clock, every thread of the process) and wall time (sys.clock), on stderr. The
-- walk is timed on its own first (the walk gather starts, waited for at once), then gather as
-- a whole (which reads the rules, ADRs and named files while its walk runs), the
-- first render (which redacts every item and the tree listing as far as the budget reaches),
-- a second render (what each further persona pays) and panel.review building all prompts.
-- usage: agent lua bench/context_phases.lua ROOT STORY-ID
local sys = require("agent.sys")

local cpu0, wall0 = os.clock(), sys.clock()
local function lap(name)
  local cpu, wall = os.clock(), sys.clock()
  io.stderr:write(("%-8s cpu %7.1f ms  wall %7.1f ms\n"):format(name, (cpu - cpu0) * 1000, wall - wall0))
  cpu0, wall0 = cpu, wall
end

local cache = require("agent.cache")
local config_mod = require("agent.config")
local context = require("agent.context")
local fs = require("agent.fs")
local loader = require("agent.loader")
local panel = require("agent.panel")
local story_mod = require("agent.story")
lap("require")

local root = assert(fs.realpath(assert(arg[1], "usage: context_phases.lua ROOT STORY-ID")))
local id = assert(arg[2], "usage: context_phases.lua ROOT STORY-ID")
local config = config_mod.load(root)
loader.configure({ repo = root .. "/.agent", trusted = config.scripts.trusted, limits = config.scripts.limits })
local story = assert(story_mod.find(root, id, config))
require("agent.script_api").install(root)
local members = assert(panel.load(root, config))
lap("setup")

assert(fs.walk_start(root, { gitignore = true, hidden = true, ignore = { "/.agent/" }, listing = true }):wait())
lap("walk")
local gathered = context.gather(root, story, config)
lap("gather")
context.render(gathered, { role = members[1].role })
lap("render1")
context.render(gathered, { role = members[2].role })
lap("render2")

local prompts = 0
cache.run = function(_, calls)
  local results = {}
  for i in ipairs(calls) do
    prompts = prompts + 1
    results[i] = { error = "not sent: benchmark", kind = "offline" }
  end
  return results
end
panel.review(members, {
  story = story, gathered = gathered, config = config, root = root, provider = "openai",
  model = "gpt-4o-mini", explicit_provider = true, store = cache.open(root, id, { fresh = true }),
})
lap("review")
assert(prompts == #members, ("%d prompts for %d personas"):format(prompts, #members))
