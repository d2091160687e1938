-- agent new-story <SCOPE> "<title>": the next free ID in a scope and a DRAFT story written
-- from the story template (.agent/templates/story.lua replaces the built-in) to
-- .agent/cache/stories/<SCOPE>/<ID>-<slug>.md. The number is one more than the highest of
-- that scope among stories and runbooks, so a deleted story's ID is never handed out again
-- while its runbook remains.
local cli = require("agent.cli")
local fs = require("agent.fs")
local json = require("agent.json")
local loader = require("agent.loader")
local paths = require("agent.paths")
local log = require("agent.log")
local story = require("agent.story")

local SCOPE_MAX = 32      -- letters and digits of a scope (the ID's prefix)
local TITLE_MAX = 200     -- bytes of a title: it is a heading, not a paragraph
local SLUG_MAX = 60       -- bytes of the file name's slug
local ID_DIGITS = 3       -- INFRA-001, like the stories teams already keep
local LOCK_WAIT_MS = 10000

local M = {
  name = "new-story",
  order = 5,
  summary = "Start a DRAFT story with the next free ID of a scope",
  usage = "agent new-story <SCOPE> <TITLE> [--json]",
  args = { { name = "SCOPE", required = true, complete = "scope" }, { name = "TITLE", required = true } },
  help = [[Picks the next ID of SCOPE (one more than the highest number among the scope's stories
and runbooks, three digits at least: INFRA-015) and writes
.agent/cache/stories/<SCOPE>/<ID>-<slug>.md from the story template in state DRAFT. SCOPE
is letters and digits (it is upper-cased); the slug is the title in lower case, words
joined by '-'. Prints the path of the new file.

The template is .agent/templates/story.lua when the repository has one (any script on the
search path: 'agent which template story'), else the built-in. Fill in the sections, then
run 'agent commit-story <ID>'.

Exit status: 0 written, 1 failure (cannot write), 2 bad scope or title, 3 the template
script failed.

Examples:
  agent new-story INFRA "Idempotent order creation"
  $EDITOR "$(agent new-story web 'Dark mode for the dashboard')"
  agent new-story INFRA "Rate limits per customer" --json]],
}

-- ---- Arguments ---------------------------------------------------------------------------

-- The scope, upper-cased, or a usage failure.
function M.scope(arg)
  if #arg > SCOPE_MAX or not arg:match("^%a%w*$") then
    cli.usage_error(("new-story: invalid scope '%s': letters and digits only, starting with a letter, at most %d")
      :format(arg:gsub("%c", "?"), SCOPE_MAX))
  end
  return arg:upper()
end

local function check_title(title)
  local trimmed = require("agent.text").trim(title)
  local problem
  if trimmed == "" then problem = "it is empty"
  elseif #trimmed > TITLE_MAX then problem = ("longer than %d bytes"):format(TITLE_MAX)
  elseif trimmed:find("%c") then problem = "it holds a line break or a control character"
  elseif not utf8.len(trimmed) then problem = "it is not valid UTF-8"
  end
  if problem then cli.usage_error("new-story: invalid title: " .. problem) end
  return trimmed
end

-- ASCII for U+00C0..U+017F (Latin-1 and Latin Extended-A), one word per code point, so
-- "Über café" gives "uber-cafe", not "ber-caf". Generated from Unicode's decompositions
-- (the NFKD base letter), plus the letters that have none (æ ß ø ł œ þ ...); '-' for × ÷.
local LATIN = {}
do
  local cp = 0xC0
  for w in ([[a a a a a a ae c e e e e i i i i d n o o o o o - o u u u u y th ss a a a a a a ae
    c e e e e i i i i d n o o o o o - o u u u u y th y a a a a a a c c c c c c c c d d d d e e
    e e e e e e e e g g g g g g g g h h h h i i i i i i i i i i ij ij j j k k k l l l l l l l l
    l l n n n n n n n n n o o o o o o oe oe r r r r r r s s s s s s s s t t t t t t u u u u u u
    u u u u u u w w y y y z z z z z z s]]):gmatch("%S+") do
    LATIN[cp] = w
    cp = cp + 1
  end
end

local function ascii(text)
  return (text:gsub(utf8.charpattern, function(ch)
    if #ch == 1 then return ch end
    return LATIN[utf8.codepoint(ch)] or "-"
  end))
end

-- The file name part of a (valid UTF-8) title: ASCII letters and digits in lower case
-- (accented Latin letters lose their accents), every other run one '-', cut at a word
-- boundary to SLUG_MAX. "" when nothing is left.
function M.slug(title)
  local s = ascii(title):lower():gsub("[^a-z0-9]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  if #s > SLUG_MAX then
    s = s:sub(1, SLUG_MAX + 1):match("^(.*)%-") or s:sub(1, SLUG_MAX)
  end
  return s
end

-- ---- Numbering ---------------------------------------------------------------------------

-- Names of the files in dir and in its immediate subfolders.
local function names_in(dir)
  local out = {}
  for _, entry in ipairs(fs.list(dir) or {}) do
    local sub = fs.list(dir .. "/" .. entry)
    if sub then
      for _, name in ipairs(sub) do out[#out + 1] = name end
    else
      out[#out + 1] = entry
    end
  end
  return out
end

-- The highest number used in the scope by a story (<ID>-slug.md, <ID>.md) or a runbook
-- (<ID>-runbook.md), in any folder; 0 when there is none.
function M.highest(root, scope)
  local max = 0
  local function take(name)
    local prefix, num = name:match("^(%a%w*)%-(%d+)[%-%.]")
    if prefix and prefix:upper() == scope then max = math.max(max, tonumber(num)) end
  end
  for _, name in ipairs(names_in(root .. "/" .. story.STORIES_DIR)) do take(name) end
  for _, name in ipairs(names_in(root .. "/" .. require("agent.runbook").RUNBOOKS_DIR)) do take(name) end
  return max
end

-- ---- The template ------------------------------------------------------------------------

-- A message with the repository's root taken off the paths it names, as new-runbook does.
local function relative(root, msg) return paths.strip(root, tostring(msg)) end

-- The story template on the search path: tpl, file (for messages, relative to the
-- repository when inside it), origin. A broken template is a script error (exit 3).
function M.template(root)
  require("agent.script_api").install(root)
  local tpl, file, origin = require("agent.template").load(root, "story", "story")
  if not tpl then cli.fail(cli.EXIT.script, file) end
  return tpl, file, origin
end

-- Renders the story; the text must carry the state it was given, or commit-story and
-- new-runbook could not read it.
function M.render(root, tpl, file, fields)
  local ok, text = loader.call(tpl.render, loader.readonly(fields))
  if not ok then cli.fail(cli.EXIT.script, relative(root, text)) end
  if type(text) ~= "string" then
    cli.fail(cli.EXIT.script, ("%s: render(story) must return a string (got %s)"):format(file, type(text)))
  end
  if story.read_state(text) ~= fields.state then
    cli.fail(cli.EXIT.script, ("%s: the story it renders has no state line '%s' ('## State' then %s, or 'State: %s')")
      :format(file, fields.state, fields.state, fields.state))
  end
  return text
end

-- ---- Writing -----------------------------------------------------------------------------

-- Refuses a write a planted symlink (the scope folder, the lock, the story) would carry out
-- of the repository.
local function stay_inside(root, path)
  local ok, why = paths.check_inside(root, path)
  if not ok then cli.fail(cli.EXIT.fail, ("new-story: %s: %s; refusing to write there"):format(relative(root, path), why)) end
end

-- Takes the scope's lock, so two new-story runs never pick the same number.
local function lock(root, dir)
  stay_inside(root, dir .. "/.new-story.lock")
  local ok, err = fs.mkdir_p(dir)
  if not ok then cli.fail(cli.EXIT.fail, "new-story: " .. err) end
  local handle, lerr = fs.lock(dir .. "/.new-story.lock", { wait = true, timeout_ms = LOCK_WAIT_MS })
  if not handle then cli.fail(cli.EXIT.fail, "new-story: " .. lerr) end
  return handle
end

local function file_name(id, title)
  local slug = M.slug(title)
  return slug == "" and (id .. ".md") or (id .. "-" .. slug .. ".md")
end

function M.run(opts, ctx)
  local scope = M.scope(opts.args[1])
  local title = check_title(opts.args[2])
  local tpl, file, origin = M.template(ctx.root)
  local reldir = story.STORIES_DIR .. "/" .. scope
  local dir = ctx.root .. "/" .. reldir
  local held <close> = lock(ctx.root, dir) -- luacheck: ignore 211 (held until run returns)
  local id = ("%s-%0" .. ID_DIGITS .. "d"):format(scope, M.highest(ctx.root, scope) + 1)
  local fields = { id = id, title = title, scope = scope, state = "DRAFT" }
  local text = M.render(ctx.root, tpl, file, fields)
  local name = file_name(id, title)
  local path = dir .. "/" .. name
  if fs.exists(path) then cli.fail(cli.EXIT.fail, ("new-story: %s/%s already exists"):format(reldir, name)) end
  stay_inside(ctx.root, path)
  local ok, err = fs.write(path, text)
  if not ok then cli.fail(cli.EXIT.fail, "new-story: " .. err) end
  log.info(("created %s/%s (DRAFT) from the %s story template; fill it in, then run 'agent commit-story %s'")
    :format(reldir, name, require("agent.commands.list").origin(origin), id))
  if ctx.json then
    io.stdout:write(json.encode({ id = id, scope = scope, title = title, state = "DRAFT", path = path,
      relpath = reldir .. "/" .. name, template = file }), "\n")
  else
    io.stdout:write(path, "\n")
  end
  return cli.EXIT.ok
end

return M
