-- Stories: finding one by ID under .agent/cache/stories/<SCOPE>/, and reading what teams
-- actually have on disk (every state form, CRLF, BOM, corrupted state lines) into the story
-- table of docs/internals.md. Also the state reader ADRs share (context.lua).
local fs = require("agent.fs")
local text_mod = require("agent.text")

local M = {}

M.ID_MAX = 64
M.STORIES_DIR = ".agent/cache/stories"
M.COMMIT_HINT = "set its state line to COMMITTED, or run 'agent commit-story %s'"
local CLOSEST_MAX = 5

local function hex(bytes) return (bytes:gsub(".", function(c) return ("\\x%02X"):format(c:byte()) end)) end

-- A value safe to quote in a one-line message and in a --json document: control bytes and
-- bytes that are not UTF-8 escaped as \xNN (a UTF-8 character stays whole), long values cut
-- after 77 characters.
local function shown(s)
  s = tostring(s):gsub("[%c\\]", hex):gsub("[\128-\255][\128-\191]*", function(seq)
    if utf8.len(seq) == 1 then return seq end
    return hex(seq)
  end)
  if utf8.len(s) > 80 then s = s:sub(1, utf8.offset(s, 78) - 1) .. "..." end
  return s
end

-- ---- IDs --------------------------------------------------------------------------------

-- story.validate_id(id) -> true | nil, "invalid story ID '<id>': <reason>"
-- IDs are letters, digits and dashes, start with a letter and hold a dash (INFRA-012, api-7):
-- anything else could walk out of the stories folder or match a file it should not.
function M.validate_id(id)
  if type(id) ~= "string" then
    return nil, ("invalid story ID: expected a string, got %s"):format(type(id))
  end
  local function bad(reason) return nil, ("invalid story ID '%s': %s"):format(shown(id), reason) end
  if id == "" then return bad("it is empty") end
  if #id > M.ID_MAX then return bad(("longer than %d characters"):format(M.ID_MAX)) end
  if id:find("\0", 1, true) then return bad("it contains a NUL byte") end
  if id:find("/", 1, true) or id:find("\\", 1, true) then return bad("it contains a path separator") end
  if id:find("..", 1, true) then return bad("it contains '..'") end
  if id:find("%s") then return bad("it contains whitespace") end
  local other = id:match("[^%w%-][\128-\191]*") -- a whole UTF-8 character, not its first byte
  if other then return bad(("'%s' is not allowed (letters, digits and dashes only)"):format(shown(other))) end
  if not id:find("^%a") then return bad("it must start with a letter") end
  if not id:find("-", 1, true) then return bad("it must contain a dash, like INFRA-012") end
  return true
end

-- The ID a story file's name carries: PREFIX-N in <PREFIX-N>-<slug>.md, else the whole stem.
function M.file_id(name)
  local stem = name:gsub("%.[mM][dD]$", "")
  return stem:match("^(%a%w*%-%d+)%-") or stem:match("^(%a%w*%-%d+)$") or stem
end

-- Whether file name `name` is story `id`'s: <ID>.md or <ID>-<slug>.md, case-insensitively.
-- INFRA-1 never matches INFRA-12-x.md: the ID must be followed by '-' or the extension.
local function names_story(name, id)
  local stem = name:match("^(.*)%.[mM][dD]$")
  if not stem then return false end
  stem, id = stem:lower(), id:lower()
  return stem == id or (stem:sub(1, #id + 1) == id .. "-")
end

-- The numeric part of an ID for ordering (INFRA-012 -> 12), or nil.
local function id_number(id)
  return tonumber(id:match("(%d+)$"))
end

local function levenshtein(a, b)
  if #a < #b then a, b = b, a end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = (ca == b:byte(j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- Up to CLOSEST_MAX existing IDs near `id`: small edit distance, or the same prefix with the
-- nearest numbers, closest first.
function M.closest(id, ids)
  local want = id:lower()
  local prefix, num = want:match("^(.-)%-?(%d*)$")
  num = tonumber(num)
  local scored = {}
  for _, cand in ipairs(ids) do
    local c = cand:lower()
    local d = levenshtein(want, c)
    local same_prefix = c:match("^(.-)%-?%d*$") == prefix
    if c ~= want and (d <= math.max(2, #want // 3) or same_prefix) then
      local gap = (num and id_number(c)) and math.abs(id_number(c) - num) or math.huge
      scored[#scored + 1] = { id = cand, d = d, gap = gap }
    end
  end
  table.sort(scored, function(x, y)
    if x.d ~= y.d then return x.d < y.d end
    if x.gap ~= y.gap then return x.gap < y.gap end
    return x.id < y.id
  end)
  local out = {}
  for i = 1, math.min(CLOSEST_MAX, #scored) do out[i] = scored[i].id end
  return out
end

-- ---- Reading the text ---------------------------------------------------------------------

-- Markup around a value: **bold**, _em_, `code`, list bullets, and trailing punctuation.
local function unwrap(v)
  v = v:gsub("^%s*[-*+]%s+", ""):gsub("^[%*_`%s]+", ""):gsub("[%*_`%s]+$", "")
  return v
end

-- The first token of a state value: "SUPERSEDED (see ADR-9)" -> SUPERSEDED. A corrupted value
-- such as COMMITTED-021-021-... stays whole, so it is never mistaken for COMMITTED.
local function first_token(v)
  local tok = unwrap(v):match("^[^%s%(%[,;]+")
  if not tok then return nil end
  tok = tok:gsub("[%*_`%.:]+$", "")
  return tok ~= "" and tok or nil
end

-- Whether a line is a `## State` / `## Status` heading (any level, emphasis allowed).
local function state_heading(line)
  local title = line:match("^%s*#+%s*(.-)%s*#*%s*$")
  local t = title and unwrap(title):lower()
  return t == "state" or t == "status"
end

-- story.read_state(text) -> state, line, raw | nil
-- Every form teams have on disk, first one in the document wins: `## State` or `## Status`
-- with the value on a later non-blank line, `State: X`, `Status: X`, bold `**Status:** X`.
-- state is the value's first token as written; line its 1-based line; raw the whole value.
-- Fenced code blocks are skipped (a sample `Status:` in a code block is not the state).
function M.read_state(text)
  local fence, pending = text_mod.fences(), false
  for n, line in text_mod.lines(text) do
    if fence(line) then -- luacheck: ignore 542 (a fence line, or code: skipped)
    elseif pending and line:find("%S") then
      if line:find("^%s*#") then
        pending = false -- an empty State section: keep looking for another form
      else
        local tok = first_token(line)
        if tok then return tok, n, unwrap(line) end
      end
    elseif state_heading(line) then
      pending = true
    else
      local v = text_mod.status_value(line)
      local tok = v and first_token(v)
      if tok then return tok, n, unwrap(v) end
    end
  end
  return nil
end

-- Title and ID from the `# <ID>: <Title>` heading, if the story has one.
local function title_line(text)
  for line in text:gmatch("[^\n]+") do
    local h = line:match("^#%s+(.-)%s*#*%s*$")
    if h then
      local id, title = h:match("^([%a][%w%-]*%-[%w%-]*)%s*:%s*(.-)$")
      if id then return title, id end
      return h, nil
    end
  end
  return nil
end

-- ---- Files a story names ------------------------------------------------------------------

-- Extensions accepted for a bare backticked name without a '/' (`pyproject.toml`): source,
-- config and docs. Without this list `os.environ` and `asyncio.run` would be files.
local FILE_EXT = {}
for ext in ([[c h cc cpp cxx hpp hh m mm go rs py pyi rb php java kt kts scala swift cs fs
  js mjs cjs jsx ts tsx vue svelte lua sh bash zsh fish ps1 bat pl pm r ex exs erl hs ml clj
  dart sql proto graphql gql tf tfvars hcl nix md mdc mdx rst txt adoc json jsonc yaml yml
  toml ini cfg conf env properties xml html htm css scss sass less csv tsv lock gradle cmake
  mk dockerfile j2 tmpl tpl ipynb]]):gmatch("%S+") do FILE_EXT[ext] = true end

-- Files known by a name without an extension.
local KNOWN_NAMES = {}
for name in ([[Makefile GNUmakefile Dockerfile Containerfile Jenkinsfile Procfile Gemfile
  Rakefile Vagrantfile Justfile CODEOWNERS LICENSE .env .envrc .gitignore .gitattributes
  .dockerignore .editorconfig .npmrc .nvmrc .python-version .tool-versions]]):gmatch("%S+") do
  KNOWN_NAMES[name] = true
end

local PATH_CHARS = "^[%w_%.%-/@%+]+$"

-- Normalises a path-looking token to a repo-relative path, or nil when it is not one.
-- backticked: the token came from a code span, where `name.ext` alone is enough.
local function as_path(tok, backticked)
  tok = tok:gsub("^%./", "")
  if tok == "" or tok:find("://", 1, true) or tok:find("^www%.") then return nil end
  if tok:find("^[/~]") or tok:find("^%a:") then return nil end -- absolute or home-relative
  if not tok:find(PATH_CHARS) or tok:find("//", 1, true) or tok:sub(-1) == "/" then return nil end
  for seg in tok:gmatch("[^/]+") do
    if seg == ".." or seg == "." then return nil end
  end
  local base = tok:match("[^/]+$")
  local ext = base:match("%.([%w]+)$")
  local has_ext = ext and ext:find("%a") and not base:find("^%d+%.")
  local known = KNOWN_NAMES[base] or base:find("^%.env%.%w+$")
  if known and (backticked or tok:find("/", 1, true)) then return tok end
  if tok:find("/", 1, true) then
    -- `application/json`, `feature/login` and and/or have a '/' but no extension
    return has_ext and tok or nil
  end
  if backticked and ext and FILE_EXT[ext:lower()] and #base > #ext + 1 then return tok end
  return nil
end

-- Bare tokens: runs without whitespace or markup, trailing sentence punctuation dropped.
local function bare_paths(chunk, add)
  for tok in chunk:gmatch("[^%s`'\"()%[%]<>{},;|*]+") do
    tok = tok:gsub("[%.:!?]+$", "")
    if tok:find("/", 1, true) then
      local p = as_path(tok, false)
      if p then add(p) end
    end
  end
end

-- story.named_files(text) -> { relpath... }: backticked paths and bare tokens holding a '/'
-- and an extension, in order of appearance, deduplicated; URLs, version numbers, absolute
-- paths and anything with '..' are left out.
function M.named_files(text)
  local out, seen = {}, {}
  local function add(p)
    if not seen[p] then
      seen[p] = true
      out[#out + 1] = p
    end
  end
  local pos = 1
  while true do
    local s, e, inner = text:find("`([^`\n]+)`", pos)
    bare_paths(text:sub(pos, (s or 0) - 1), add)
    if not s then break end
    local tok = inner:match("^%s*(%S+)%s*$")
    if tok then
      local p = as_path(tok, true)
      if p then add(p) end
    else
      bare_paths(inner, add)
    end
    pos = e + 1
  end
  return out
end

-- ---- Parsing ------------------------------------------------------------------------------

-- H2 titles -> section text, via agent.markdown (first section of a title wins).
local function sections_of(text)
  local md = require("agent.markdown")
  local doc, err = md.parse(text)
  if not doc then return {}, err end
  local sections = {}
  for _, h in ipairs(doc.headings) do
    if h.level == 2 and sections[h.title] == nil then
      sections[h.title] = (h.text or ""):gsub("^%s*\n", ""):gsub("%s+$", "")
    end
  end
  return sections
end

-- story.parse(text, path) -> story (see docs/internals.md). Never fails: a story without a
-- title or state gets nil fields the caller can name; invalid UTF-8 is carried as bytes
-- (story.find refuses such a file before it gets here).
function M.parse(text, path)
  text = text_mod.normalize(text)
  local title, title_id = title_line(text)
  local base = path and path:match("[^/]*$") or nil
  local state, state_line, state_text = M.read_state(text)
  local sections, err = sections_of(text)
  return {
    id = base and M.file_id(base) or title_id,
    title_id = title_id,
    title = title or "",
    path = path,
    state = state,
    state_line = state_line,
    state_text = state_text,
    text = text,
    sections = sections,
    named_files = M.named_files(text),
    warnings = err and { ("%s: %s"):format(path or "story", err) } or {},
  }
end

-- story.check_committed(story) -> true | nil, message naming the state found and the fix.
function M.check_committed(story)
  local state = story.state
  if state and state:upper() == "COMMITTED" then return true end
  local where = story.relpath or story.path or "the story file"
  local hint = M.COMMIT_HINT:format(story.id)
  if not state then
    return nil, ("story %s has no state line (%s has neither '## State' nor 'State:'); %s")
      :format(story.id, where, hint)
  end
  local at = story.state_line and (":" .. story.state_line) or ""
  if state:upper():find("^COMMITTED.") then
    return nil, ("story %s has the state '%s' (%s%s), which is not COMMITTED: the line looks corrupted; %s")
      :format(story.id, shown(state), where, at, hint)
  end
  return nil, ("story %s is %s, not COMMITTED (%s%s); %s"):format(story.id, shown(state), where, at, hint)
end

-- ---- On disk ------------------------------------------------------------------------------

local function is_dir(path)
  local st = fs.stat(path)
  return st and st.type == "directory"
end

-- story.files(root) -> {{name=, scope=, path=, relpath=}...}: every story file under
-- STORIES_DIR, in listing order; dot files and non-.md skipped. Stories sit in a scope folder;
-- a file directly in stories/ takes its scope from the ID's prefix.
local function story_files(root)
  local dir = root .. "/" .. M.STORIES_DIR
  local files = {}
  local entries = is_dir(dir) and fs.list(dir) or {}
  for _, entry in ipairs(entries) do
    local path = dir .. "/" .. entry
    if is_dir(path) then
      for _, name in ipairs(fs.list(path) or {}) do
        if name:find("%.[mM][dD]$") and not name:find("^%.") then
          files[#files + 1] = { name = name, scope = entry, path = path .. "/" .. name,
            relpath = M.STORIES_DIR .. "/" .. entry .. "/" .. name }
        end
      end
    elseif entry:find("%.[mM][dD]$") and not entry:find("^%.") then
      files[#files + 1] = { name = entry, scope = M.file_id(entry):match("^([^%-]+)"), path = path,
        relpath = M.STORIES_DIR .. "/" .. entry }
    end
  end
  return files
end

M.files = story_files

-- Refuses a story reached through a symlink that leaves the repository.
local function inside_root(real_root, path)
  local real, err = fs.realpath(path)
  if not real then return nil, err end
  if not require("agent.paths").is_inside(real_root, real) then
    return nil, "it is a symlink leading outside the repository (refused)"
  end
  return true
end

-- A story must be UTF-8 text: NUL bytes mean a binary or UTF-16 file, and invalid bytes
-- would be copied into the runbook and break the JSON documents commands print. Returns a
-- message when it is not.
local function not_text(f, text)
  if text:find("\0", 1, true) then
    return ("story '%s': not a text file (it holds NUL bytes); save it as UTF-8"):format(f.relpath)
  end
  local ok, bad = utf8.len(text)
  if not ok then
    local _, newlines = text:sub(1, bad):gsub("\n", "")
    return ("story '%s': line %d is not valid UTF-8; save the file as UTF-8"):format(f.relpath, newlines + 1)
  end
end

-- Reads a story file with the size cap: a huge file is refused, never read whole.
local function read_capped(f, max)
  local st, serr = fs.stat(f.path)
  if not st then return nil, serr end
  if st.type ~= "file" then return nil, ("story '%s': not a regular file"):format(f.relpath) end
  if st.size > max then
    return nil, ("story '%s': %d bytes is over the %d-byte limit (limits.story_bytes in .agent/etc/agent.yaml)")
      :format(f.relpath, st.size, max)
  end
  local text, err = fs.read(f.path, max)
  if not text then return nil, ("story '%s': %s"):format(f.relpath, err) end
  local why = not_text(f, text)
  if why then return nil, why end
  return text
end

local function story_bytes(config)
  return require("agent.config").limits(config).story_bytes
end

-- story.find(root, id [, config]) -> story | nil, msg
-- msg lists the closest existing IDs when there is no such story, and names both files when
-- two claim the same ID. config.limits.story_bytes caps the read.
function M.find(root, id, config)
  local ok, err = M.validate_id(id)
  if not ok then return nil, err end
  local files = story_files(root)
  local matches, ids, seen = {}, {}, {}
  for _, f in ipairs(files) do
    if names_story(f.name, id) then matches[#matches + 1] = f end
    local fid = M.file_id(f.name)
    if not seen[fid:lower()] then
      seen[fid:lower()] = true
      ids[#ids + 1] = fid
    end
  end
  if #matches == 0 then
    local near = M.closest(id, ids)
    local hint = #near > 0 and ("closest: " .. table.concat(near, ", "))
      or (#ids == 0 and ("there are no stories in " .. M.STORIES_DIR .. "/") or "no similar IDs")
    return nil, ("story '%s' not found in %s/<SCOPE>/ (%s)"):format(id, M.STORIES_DIR, hint)
  end
  if #matches > 1 then
    local names = {}
    for i, f in ipairs(matches) do names[i] = f.relpath end
    table.sort(names)
    return nil, ("story '%s': more than one file claims this ID: %s (keep one)"):format(id, table.concat(names, " and "))
  end
  local f = matches[1]
  local inside, ierr = inside_root(fs.realpath(root) or root, f.path)
  if not inside then return nil, ("story '%s': %s: %s"):format(id, f.relpath, ierr) end
  local text, rerr = read_capped(f, story_bytes(config))
  if not text then return nil, rerr end
  local story = M.parse(text, f.path)
  story.id = f.name:sub(1, #id) -- the ID as the file spells it
  story.relpath, story.scope = f.relpath, f.scope
  return story
end

-- story.list(root [, config]) -> { {id, title, state, scope, relpath} ... } sorted by scope,
-- then the ID's number. A story that cannot be read is listed with `error` set.
function M.list(root, config)
  local max = story_bytes(config)
  local real_root = fs.realpath(root) or root
  local out = {}
  for _, f in ipairs(story_files(root)) do
    local item = { id = M.file_id(f.name), scope = f.scope, relpath = f.relpath }
    local inside, ierr = inside_root(real_root, f.path)
    local text, err
    if inside then text, err = read_capped(f, max) else err = ("story '%s': %s"):format(f.relpath, ierr) end
    if text then
      text = text_mod.normalize(text)
      item.title = title_line(text) or ""
      item.state = M.read_state(text)
    else
      item.error = err
    end
    out[#out + 1] = item
  end
  table.sort(out, function(a, b)
    if a.scope ~= b.scope then return a.scope < b.scope end
    local na, nb = id_number(a.id) or math.huge, id_number(b.id) or math.huge
    if na ~= nb then return na < nb end
    return a.id < b.id
  end)
  return out
end

return M
