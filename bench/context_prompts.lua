-- The large-repo workload: everything `agent panel` does before its first model call, in
-- one process. It finds the story, loads the config and the panel, gathers the context
-- (repo walk with .gitignore, rule selection over every path, ADRs, named files) and has
-- panel.review build every persona's prompt (context rendered per role under the budget,
-- redacted, then the persona's prompt function). Only the network is taken out: cache.run,
-- which panel.review sends its calls through, is replaced by a stub that keeps the prompts
-- and answers each call with a transport failure, so the run ends there.
-- Prints counts, the prompt bytes and the peak RSS (VmHWM) of the process. With DUMP, every
-- prompt (system, then user) is also written to that file, so a change meant to leave the
-- prompts alone can be checked byte for byte (cmp two dumps).
-- With BENCH_NO_CLOSE=1 in the environment the process ends with os.exit(0, false), which skips
-- lua_close: comparing the two shows what freeing the run's heap at exit costs (not a mode
-- to time the benchmark in: agent itself closes its state).
-- usage: agent lua bench/context_prompts.lua ROOT STORY-ID [DUMP]
local cache = require("agent.cache")
local config_mod = require("agent.config")
local context = require("agent.context")
local fs = require("agent.fs")
local loader = require("agent.loader")
local panel = require("agent.panel")
local story_mod = require("agent.story")

local root = assert(fs.realpath(assert(arg[1], "usage: context_prompts.lua ROOT STORY-ID")))
local id = assert(arg[2], "usage: context_prompts.lua ROOT STORY-ID")

local function peak_rss_kb()
  local f = io.open("/proc/self/status")
  if not f then return "?" end
  local kb = f:read("a"):match("VmHWM:%s*(%d+) kB")
  f:close()
  return kb or "?"
end

local config = config_mod.load(root)
loader.configure({ repo = root .. "/.agent", trusted = config.scripts.trusted, limits = config.scripts.limits })
local story = assert(story_mod.find(root, id, config))
require("agent.script_api").install(root)
local members = assert(panel.load(root, config))
local gathered = context.gather(root, story, config)

local prompts, texts = {}, {}
cache.run = function(_, calls)
  local results = {}
  for i, call in ipairs(calls) do
    prompts[#prompts + 1] = #call.system + #call.user
    if arg[3] then texts[#texts + 1] = call.system .. "\n" .. call.user .. "\n" end
    results[i] = { error = "not sent: benchmark", kind = "offline" }
  end
  return results
end
panel.review(members, {
  story = story, gathered = gathered, config = config, root = root, provider = "openai",
  model = "gpt-4o-mini", explicit_provider = true, store = cache.open(root, id, { fresh = true }),
})

if arg[3] then assert(fs.write(arg[3], table.concat(texts))) end

local bytes = 0
for _, n in ipairs(prompts) do bytes = bytes + n end
print(("tree=%d rules=%d adrs=%d files=%d personas=%d prompts=%d prompt_bytes=%d peak_rss_kb=%s")
  :format(#gathered.tree, #gathered.rules, #gathered.adrs, #gathered.files, #members, #prompts, bytes,
    peak_rss_kb()))
if os.getenv("BENCH_NO_CLOSE") == "1" then
  io.stdout:flush()
  os.exit(0, false)
end
