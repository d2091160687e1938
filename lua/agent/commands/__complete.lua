-- agent __complete -- WORD...: shell completion candidates, for completions/agent.bash and
-- completions/_agent. WORDs are the command line after `agent`, the last one the word being
-- completed (possibly empty). Candidates come from the command declarations (names, flags,
-- each arg's `complete`) and the repository (story IDs, runbooks, scopes, personas).
--
-- Output: one candidate per line, "word" or "word<TAB>description", already filtered by the
-- prefix; or the single line ":files" or ":dirs" when the shell should complete paths. With
-- --json (before the '--'): {"directive": "files"|"dirs"|null, "candidates": [...]}.
local cli = require("agent.cli")
local fs = require("agent.fs")
local host = require("agent.host")
local loader = require("agent.loader")

local M = {
  name = "__complete",
  hidden = true,
  needs_repo = "optional",
  pass_through = true,
  summary = "Shell completion candidates (used by the bash and zsh completion scripts)",
  usage = "agent __complete -- WORD...",
  args = { { name = "WORD", many = true } },
  help = [[Prints the candidates for the last WORD of a command line, one per line, as
"word<TAB>description"; ':files' or ':dirs' asks the shell to complete paths.

Examples:
  agent __complete -- new-r
  agent __complete -- commit-story INFRA-0]],
}

-- ---- Candidate sources -------------------------------------------------------------------

local HEAD_BYTES = 1024 -- a story's title and state sit at its top

-- The state and title of a story from its head (a whole read of every story, as story.list
-- does, makes completion wait a quarter of a second in a repository of 2,000 stories). A
-- state line below the head is looked for in the whole file only when a command filters on
-- it (want_state), so a long preamble cannot hide a COMMITTED story from new-runbook.
local function story_head(path, want_state)
  local head = require("agent.paths").read_head(path, HEAD_BYTES)
  if not head then return nil end
  local story, text = require("agent.story"), require("agent.text")
  head = text.normalize(head)
  local state = story.read_state(head)
  if not state and want_state and #head >= HEAD_BYTES then
    local whole = fs.read(path)
    state = whole and story.read_state(text.normalize(whole))
  end
  local title = head:match("^#%s+([^\n]-)%s*\n") or head:match("\n#%s+([^\n]-)%s*\n") or ""
  return state, (title:gsub("^[%w%-]+%s*:%s*", ""))
end

-- Which stories a command takes: new-runbook refuses any but a COMMITTED one (the same test
-- as story.check_committed), commit-story has nothing to do for one; panel reviews any.
local function committed(state) return state ~= nil and state:upper() == "COMMITTED" end
local STORY_FILTERS = {
  ["new-runbook"] = committed,
  ["commit-story"] = function(state) return not committed(state) end,
}

-- Calls fn(path, name) for each story file, in file order by scope folder.
local function each_story(root, fn)
  for _, f in ipairs(require("agent.story").files(root)) do fn(f.path, f.name) end
end

-- Story IDs, each with its state and title; only those in a state the command takes.
local function story_ids(root, _, cmd)
  if not root then return {} end
  local keep = STORY_FILTERS[cmd.name]
  local out = {}
  each_story(root, function(path, name)
    local state, title = story_head(path, keep ~= nil)
    if keep and not keep(state) then return end
    out[#out + 1] = { require("agent.story").file_id(name), title and ("%s: %s"):format(state or "no state", title) }
  end)
  return out
end

-- The runbooks list reads (their IDs and statuses).
local function runbook_list(root)
  local ctx = { root = root, config = require("agent.config").defaults() }
  return require("agent.commands.list").runbooks(ctx, {})
end

-- Runbook IDs, or paths (check-runbook and accept take both): once the word holds a '/',
-- and when it begins no runbook's ID ('my-run' for ./my-runbook.md).
local function runbook_ids(root, current)
  if current:find("/", 1, true) then return ":files" end
  local out, begins = {}, false
  for _, r in ipairs(root and runbook_list(root) or {}) do
    out[#out + 1] = { r.id, type(r.status) == "string" and r.status or "" }
    begins = begins or r.id:sub(1, #current) == current
  end
  if current ~= "" and not begins then return ":files" end
  return out
end

-- The states the repository's stories and runbooks are in (list --state): a state nothing
-- is in would list nothing.
local function states(root)
  if not root then return {} end
  local out, seen = {}, {}
  local function add(state, what)
    if type(state) ~= "string" then return end
    local c = seen[state:upper()]
    if not c then
      c = { state:upper(), what }
      seen[c[1]], out[#out + 1] = c, c
    elseif not c[2]:find(what, 1, true) then
      c[2] = c[2] .. ", " .. what
    end
  end
  each_story(root, function(path) add(story_head(path, true), "stories") end)
  for _, r in ipairs(runbook_list(root)) do add(r.status, "runbooks") end
  return out
end

-- Scope folders of stories and runbooks.
local function scopes(root)
  local out, seen = {}, {}
  for _, dir in ipairs({ require("agent.story").STORIES_DIR, require("agent.runbook").RUNBOOKS_DIR }) do
    for _, name in ipairs(root and fs.list(root .. "/" .. dir) or {}) do
      local st = fs.stat(root .. "/" .. dir .. "/" .. name)
      if st and st.type == "directory" and not seen[name] then
        seen[name] = true
        out[#out + 1] = { name }
      end
    end
  end
  return out
end

local function personas(root)
  local out, seen = {}, {}
  for _, name in ipairs(loader.list("personas")) do
    seen[name] = true
    out[#out + 1] = { name }
  end
  local members = root and require("agent.roster").load(root) or {}
  for _, m in ipairs(members) do
    if not seen[m.role] then out[#out + 1] = { m.role, "roster" } end
  end
  return out
end

local function modules()
  local out = {}
  for _, path in ipairs(host.builtins("lua/")) do
    local name = path:match("^lua/(.+)%.lua$")
    if name then out[#out + 1] = { (name:gsub("/init$", ""):gsub("/", ".")) } end
  end
  return out
end

local function commands()
  local out = {}
  for _, cmd in ipairs(cli.commands()) do
    if not cmd.hidden then out[#out + 1] = { cmd.name, cmd.summary } end
  end
  return out
end

local function words(list)
  local out = {}
  for i, w in ipairs(list) do out[i] = { w } end
  return out
end

local SOURCES = {
  command = commands,
  story = story_ids,
  runbook = runbook_ids,
  scope = scopes,
  state = states,
  persona = personas,
  template = function() return words(loader.list("templates")) end,
  provider = function() return words(require("agent.providers").names()) end,
  module = modules,
}

-- Candidates of cmd's `complete` declaration: a list of {word, description}, or a directive.
local function from_spec(complete, positionals, root, current, cmd)
  if type(complete) == "function" then complete = complete(positionals) end
  if type(complete) == "table" then return words(complete) end
  if complete == "files" or complete == "dirs" then return ":" .. complete end
  local source = SOURCES[complete]
  return source and source(root, current, cmd) or {}
end

-- ---- The command line so far -------------------------------------------------------------

local function find_flag(cmd, word)
  return cli.find_flag({ cmd.flags or {}, cli.GLOBAL_FLAGS }, word:match("^%-%-([^=]+)$"), word:match("^%-(%a)$"))
end

-- Reads the words before the current one: positionals, the flag awaiting a value (if any),
-- whether '--' ended the flags, a --root given on the line, and the flags given (by name).
local function scan(cmd, before)
  local state = { positionals = {}, pending = nil, only_positional = false, root = nil, given = {} }
  for i = 2, #before do
    local w = before[i]
    if state.pending and w == "=" and state.pending_at == i - 1 then
      state.pending_at = nil -- bash splits '--flag=VALUE' at '=' (COMP_WORDBREAKS): the value follows
    elseif state.pending then
      if state.pending.name == "root" then state.root = w end
      state.pending = nil
    elseif state.only_positional or w == "-" or not w:match("^%-") then
      state.positionals[#state.positionals + 1] = w
      if cmd.pass_through then state.only_positional = true end
    elseif w == "--" then
      state.only_positional = true
    else
      local f = find_flag(cmd, w:match("^(%-%-[^=]+)=") or w)
      if f then state.given[f.name] = true end
      if f and f.type ~= "boolean" and not w:find("=", 1, true) then state.pending, state.pending_at = f, i end
      local root = w:match("^%-%-root=(.+)$")
      if root then state.root = root end
    end
  end
  return state
end

-- The command's flags and the global ones, less those already given once that count once
-- (a list flag such as --scripts repeats).
local function flag_candidates(cmd, given)
  local out = {}
  for _, set in ipairs({ cmd.flags or {}, cli.GLOBAL_FLAGS }) do
    for _, f in ipairs(set) do
      if not given[f.name] or f.type == "list" then out[#out + 1] = { "--" .. f.name, f.help } end
    end
  end
  return out
end

local function value_candidates(flag, root, current, cmd)
  if flag.complete then return from_spec(flag.complete, {}, root, current, cmd) end
  if flag.choices then return words(flag.choices) end
  if flag.name == "root" or flag.name == "scripts" or flag.arg == "DIR" then return ":dirs" end
  if flag.arg == "FILE" or flag.arg == "PATH" then return ":files" end
  return {}
end

-- The values of a flag given as one word, `--flag=VALUE` (zsh, bash-completion): each
-- candidate carries the "--flag=" it replaces; nil when the word names no flag taking a value.
local function joined_values(cmd, current, root)
  local name, value = current:match("^(%-%-[^=]+)=(.*)$")
  local f = name and find_flag(cmd, name)
  if not f or f.type == "boolean" then return nil end
  local found = value_candidates(f, root, value, cmd)
  if type(found) == "string" then return found end
  local out = {}
  for i, c in ipairs(found) do out[i] = { name .. "=" .. c[1], c[2] } end
  return out
end

local function arg_spec(cmd, n)
  local specs = cmd.args or {}
  if specs[n] then return specs[n] end
  local last = specs[#specs]
  return last and last.many and last or nil
end

-- Candidates for the word after `before` (before[1] is the command), and the prefix they
-- must start with: the current word, or "" for the '=' bash leaves of '--flag='.
function M.candidates(before, current, ctx)
  if #before == 0 then
    if current:match("^%-") then return { { "--help" }, { "--version" } }, current end
    return commands(), current
  end
  local cmd = cli.command(before[1])
  if not cmd or cmd.hidden then return {}, current end
  local state = scan(cmd, before)
  local root = ctx.root
  if state.root then root = require("agent.session").find_root(state.root) end
  if state.pending then
    if current == "=" and state.pending_at == #before then current = "" end
    return value_candidates(state.pending, root, current, cmd), current
  end
  if current:match("^%-") and not state.only_positional then
    return joined_values(cmd, current, root) or flag_candidates(cmd, state.given), current
  end
  local spec = arg_spec(cmd, #state.positionals + 1)
  if not spec or not spec.complete then return {}, current end
  return from_spec(spec.complete, state.positionals, root, current, cmd), current
end

-- The candidates that start with the current word: { {word, description}... }.
local function matching(found, current)
  local out = {}
  for _, c in ipairs(found) do
    if c[1]:sub(1, #current) == current then
      local desc = c[2] and c[2]:gsub("[\t\n]", " ") or nil
      out[#out + 1] = { c[1], desc ~= "" and desc or nil }
    end
  end
  return out
end

-- --json: {"directive": "files"|"dirs"|null, "candidates": [{"word", "description"}]}.
local function write_json(found)
  local json = require("agent.json")
  local list = json.array({})
  for i, c in ipairs(type(found) == "table" and found or {}) do list[i] = { word = c[1], description = c[2] } end
  local directive = type(found) == "string" and found:sub(2) or json.null
  io.stdout:write(json.encode({ directive = directive, candidates = list }), "\n")
end

function M.run(opts, ctx)
  local all = opts.args
  local current = all[#all] or ""
  local before = { table.unpack(all, 1, math.max(0, #all - 1)) }
  local ok, found, prefix = pcall(M.candidates, before, current, ctx)
  if not ok then found = {} end -- completion never prints errors into a prompt
  if type(found) == "table" then found = matching(found, prefix or current) end
  if opts.json then
    write_json(found)
  elseif type(found) == "string" then
    io.stdout:write(found, "\n")
  else
    for _, c in ipairs(found) do io.stdout:write(c[1], c[2] and ("\t" .. c[2]) or "", "\n") end
  end
  return cli.EXIT.ok
end

return M
