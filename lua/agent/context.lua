-- Gathering context: what the panel may know about a story. gather() collects the team's rules
-- (selected by their frontmatter, with the reason), ADRs (superseded ones named, not sent),
-- compliance documents, per-role instructions, the files the story names and the repo tree.
-- render() turns that into one prompt text under a token budget, by a fixed priority, naming
-- whatever it had to leave out, and redacts every byte of it. Contract: docs/internals.md.
local fs = require("agent.fs")
local paths = require("agent.paths")
local redact = require("agent.redact")
local story_mod = require("agent.story")
local mdutil = require("agent.mdutil")

local M = {}

local find = string.find

M.DEFAULT_BUDGET_TOKENS = 100000 -- when neither the caller nor context.budget_tokens sets one
M.BYTES_PER_TOKEN = 4
M.EXCLUDED_STATES = { SUPERSEDED = true, RETIRED = true, DEPRECATED = true, REJECTED = true }

local RULES_DIR, ADRS_DIR = ".agent/rules", ".agent/adrs"
local INSTRUCTIONS_DIR = ".agent/instructions"
local COMPLIANCE_DIRS = { ".agent/compliance", ".agent/instructions/compliance" }

-- What rendering derives from a gathered table alone, kept per table, so rendering for six
-- personas does it once: redacted texts and finished items by key, the tree listing's parts,
-- and tree items by their number of paths. gather leaves the walk's listing there too.
local memo = setmetatable({}, { __mode = "k" })

local function memo_of(gathered)
  local m = memo[gathered]
  if not m then
    m = { texts = {}, redacted = {}, items = {}, trees = {} }
    memo[gathered] = m
  end
  return m
end

-- ---- Reading files safely ------------------------------------------------------------------

-- Whether path resolves (symlinks followed) to something inside the repository.
local function inside(real_root, path)
  local real = fs.realpath(path)
  return real ~= nil and paths.is_inside(real_root, real)
end

-- Reads relpath under the root. Returns text, or nil and why it was not read.
-- opts.cap: bytes; over it the file is refused, or with opts.truncate its first cap bytes
-- (cut at a line end when one is near) are returned with truncated = true and the full size.
-- opts.text_only: a binary (NUL bytes) or invalid UTF-8 file is refused.
local function read_file(ctx, relpath, opts)
  local path = ctx.root .. "/" .. relpath
  local st, err = fs.stat(path)
  if not st then return nil, err end
  if st.type ~= "file" then return nil, "not a regular file" end
  if not inside(ctx.real_root, path) then return nil, "a symlink leading outside the repository" end
  local text, truncated
  if st.size > opts.cap then
    if not opts.truncate then
      return nil, ("%d bytes, over the %d-byte limit (%s)"):format(st.size, opts.cap, opts.limit_name)
    end
    local rerr
    text, rerr = paths.read_head(path, opts.cap)
    if not text then return nil, rerr end
    local cut = text:find("\n[^\n]*$")
    if cut and cut > #text - 4096 then text = text:sub(1, cut) end
    truncated = true
  else
    local rerr
    text, rerr = fs.read(path, opts.cap)
    if not text then return nil, rerr end
  end
  if opts.text_only then
    if text:find("\0", 1, true) then return nil, "a binary file" end
    if not utf8.len(text) then return nil, "not valid UTF-8" end
  end
  return text, nil, truncated, st.size
end

-- Repo-relative paths of the files under reldir (recursive, sorted), or {} when it is absent.
-- ext: a set of lower-case extensions to keep, or nil for every file.
local function files_under(ctx, reldir, ext)
  local st = fs.stat(ctx.root .. "/" .. reldir)
  if not st or st.type ~= "directory" then return {} end
  local files, errors = fs.walk(ctx.root .. "/" .. reldir)
  for _, e in ipairs(errors or {}) do ctx.warn(e) end
  local out = {}
  for _, f in ipairs(files or {}) do
    local e = f:match("%.([^./]+)$")
    if not ext or (e and ext[e:lower()]) then out[#out + 1] = reldir .. "/" .. f end
  end
  return out
end

-- ---- Rules -------------------------------------------------------------------------------------

local RULE_EXT = { mdc = true, md = true }

-- Parses one rule file; a broken one becomes a skipped_rules entry and a file:line warning.
local function parse_rule(ctx, relpath)
  local rules = require("agent.rules")
  local text, why = read_file(ctx, relpath, { cap = ctx.limits.rule_bytes, text_only = true,
    limit_name = "limits.rule_bytes" })
  if not text then return nil, why, 1 end
  local ok, meta, body, body_line = pcall(rules.frontmatter, text)
  if not ok or not meta then
    local msg = tostring(ok and body or meta)
    local line = msg:match("line (%d+)") or "1"
    return nil, "broken frontmatter: " .. (msg:gsub("^frontmatter: line %d+: ", "")), line
  end
  local globs = {}
  for _, g in ipairs(type(meta.globs) == "table" and meta.globs or {}) do
    local matcher, gerr = rules.glob(tostring(g))
    if matcher then
      globs[#globs + 1] = tostring(g)
    else
      ctx.warn(("%s: glob '%s' ignored: %s"):format(relpath, tostring(g), gerr))
    end
  end
  local always = meta.alwaysApply == true
  local desc = meta.description -- may be a number, or yaml.null for `description:`
  return {
    relpath = relpath, description = (type(desc) == "string" or type(desc) == "number") and tostring(desc) or nil, globs = globs,
    always_apply = always, alwaysApply = always, body = body, body_line = body_line,
  }
end

local function why_text(why, where)
  if why.always then return "alwaysApply: true" end
  if where == "named" then return ("glob '%s' matched named file '%s'"):format(why.glob, why.path) end
  return ("glob '%s' matched '%s' in the repo"):format(why.glob, why.path)
end

-- Reads and parses every rule file; broken ones become skipped_rules entries.
local function read_rules(ctx)
  local g = ctx.g
  local parsed = {}
  for _, relpath in ipairs(files_under(ctx, RULES_DIR, RULE_EXT)) do
    local rule, reason, line = parse_rule(ctx, relpath)
    if rule then
      parsed[#parsed + 1] = rule
    else
      -- broken: never read, so never reviewed, whatever alwaysApply it meant to set
      g.skipped_rules[#g.skipped_rules + 1] = { relpath = relpath, reason = reason, broken = true }
      ctx.warn(("%s:%s: %s (rule skipped)"):format(relpath, line, reason))
    end
  end
  return parsed
end

-- Selects among the parsed rules: alwaysApply ones, then globs against the files the story
-- names, then globs against the repo tree.
local function select_rules(ctx, parsed, named, tree)
  local rules = require("agent.rules")
  local g = ctx.g
  local chosen = {}
  local sel, why = rules.select(parsed, named)
  for i, rule in ipairs(sel) do chosen[rule] = why_text(why[i], "named") end
  local rest = {}
  for _, rule in ipairs(parsed) do
    if not chosen[rule] then rest[#rest + 1] = rule end
  end
  sel, why = rules.select(rest, tree)
  for i, rule in ipairs(sel) do chosen[rule] = why_text(why[i], "tree") end
  local log = require("agent.log")
  for _, rule in ipairs(parsed) do
    if chosen[rule] then
      rule.why = chosen[rule]
      g.rules[#g.rules + 1] = rule
      log.debug(("rule %s: selected (%s)"):format(rule.relpath, rule.why))
    else
      local reason = #rule.globs == 0 and "no globs and alwaysApply is not true"
        or ("no file matched its globs ('%s')"):format(table.concat(rule.globs, "', '"))
      g.skipped_rules[#g.skipped_rules + 1] = { relpath = rule.relpath, reason = reason }
      log.debug(("rule %s: not selected (%s)"):format(rule.relpath, reason))
    end
  end
end

-- ---- ADRs, compliance, instructions ------------------------------------------------------------

local DOC_EXT = { md = true, mdc = true }

local function read_doc(ctx, relpath)
  local text, why = read_file(ctx, relpath, { cap = ctx.limits.rule_bytes, text_only = true,
    limit_name = "limits.rule_bytes" })
  if not text then ctx.warn(("%s: %s (skipped)"):format(relpath, why)) end
  return text and require("agent.text").normalize(text)
end

-- `# ADR-016: Title` -> "ADR-016", "Title"; else the file's ID and the heading as title.
local function adr_heading(text, relpath)
  local h = text:match("^#%s+([^\n]-)%s*\n") or text:match("\n#%s+([^\n]-)%s*\n")
  local name = relpath:match("[^/]+$")
  local id, title = (h or ""):match("^(%a[%w]*%-[%w%-]+)%s*:%s*(.+)$")
  if id then return id, title end
  return story_mod.file_id(name), h or name
end

local function gather_adrs(ctx)
  local g = ctx.g
  for _, relpath in ipairs(files_under(ctx, ADRS_DIR, DOC_EXT)) do
    local text = read_doc(ctx, relpath)
    if text then
      local status = story_mod.read_state(text)
      local id, title = adr_heading(text, relpath)
      if status and M.EXCLUDED_STATES[status:upper()] then
        g.excluded_adrs[#g.excluded_adrs + 1] = { relpath = relpath, id = id, title = title, status = status }
      else
        g.adrs[#g.adrs + 1] = { relpath = relpath, id = id, title = title, status = status, text = text }
      end
    end
  end
end

local function gather_compliance(ctx)
  local g = ctx.g
  for _, dir in ipairs(COMPLIANCE_DIRS) do
    for _, relpath in ipairs(files_under(ctx, dir)) do
      local text = read_doc(ctx, relpath)
      if text then g.compliance[#g.compliance + 1] = { relpath = relpath, text = text } end
    end
  end
end

-- The role an instruction file is for: its folder (.agent/instructions/<role>/...) or the
-- prefix of a flat file's name (<role>-*.md[c]). Compliance folders are compliance documents.
local function instruction_role(relpath)
  local rest = relpath:sub(#INSTRUCTIONS_DIR + 2)
  local dir = rest:match("^([^/]+)/")
  if dir then return dir:lower() ~= "compliance" and dir:lower() or nil end
  local prefix = rest:match("^([%w_]+)%-.+%.[mM][dD][cC]?$")
  return prefix and prefix:lower()
end

local function gather_instructions(ctx)
  local g = ctx.g
  for _, relpath in ipairs(files_under(ctx, INSTRUCTIONS_DIR)) do
    local role = instruction_role(relpath)
    if role then
      local text = read_doc(ctx, relpath)
      if text then
        g.instructions[role] = g.instructions[role] or {}
        table.insert(g.instructions[role], { relpath = relpath, text = text })
      end
    end
  end
end

-- ---- The codebase ---------------------------------------------------------------------------

-- The repo as the model should see it: .gitignore honoured, dot files such as .github/ kept,
-- and .agent/ left out (its rules, ADRs and instructions arrive in their own sections, and its
-- cache is ours).
-- The walk runs on a thread of its own (fs.walk_start) while gather reads the rules, ADRs and
-- named files, and is waited for when rule selection needs the tree. Its warnings go first,
-- as if it had been read first.
-- The job, or nil and why the walk could not start (a root holding a NUL byte).
local function start_tree(ctx)
  return fs.walk_start(ctx.root, { gitignore = true, hidden = true, ignore = { "/.agent/" }, listing = true })
end

-- The tree's paths, and its listing (the paths joined by "\n", which the walk builds from its
-- own buffer faster than table.concat can from 100,000 strings) or nil.
local function finish_tree(ctx, job, why)
  local files, errors, listing = nil, why, nil
  if job then files, errors, listing = job:wait() end
  local warnings = {}
  if not files then
    warnings[1] = ("repository tree: %s"):format(errors)
    files = {}
  else
    for i = 1, math.min(#errors, 20) do warnings[i] = "repository tree: " .. errors[i] end
    if #errors > 20 then warnings[#warnings + 1] = ("repository tree: %d more unreadable entries"):format(#errors - 20) end
  end
  table.move(ctx.g.warnings, 1, #ctx.g.warnings, #warnings + 1, warnings)
  ctx.g.warnings = warnings
  return files, listing
end

local function gather_files(ctx, named)
  local out = {}
  for _, relpath in ipairs(named or {}) do
    local st = fs.stat(ctx.root .. "/" .. relpath)
    if not st then
      out[#out + 1] = { relpath = relpath, exists = false }
    elseif st.type == "directory" then
      ctx.warn(("named path '%s' is a directory (not included)"):format(relpath))
    elseif redact.is_key_path(relpath) then
      out[#out + 1] = { relpath = relpath, exists = true, withheld = true, size = st.size }
    else
      local text, why, truncated, size = read_file(ctx, relpath, { cap = ctx.limits.file_bytes, truncate = true })
      if not text then
        ctx.warn(("named file '%s': %s (not included)"):format(relpath, why))
        out[#out + 1] = { relpath = relpath, exists = true, error = why }
      elseif text:find("\0", 1, true) then
        out[#out + 1] = { relpath = relpath, exists = true, binary = true, size = size }
      else
        out[#out + 1] = { relpath = relpath, exists = true, text = text, truncated = truncated or false, size = size }
      end
    end
  end
  return out
end

-- context.gather(root, story, config) -> gathered (docs/internals.md, "gathered context")
-- Never raises for what is on disk: unreadable, oversized, binary or broken files become
-- warnings (and skipped_rules entries), so one bad file cannot stop a run.
function M.gather(root, story, config)
  assert(type(root) == "string", "context.gather: root must be a string")
  assert(type(story) == "table", "context.gather: story must be a story table")
  config = config or require("agent.config").defaults()
  local red = config.redact or {}
  -- a per-model map is the caller's to resolve (panel.budget_for); only a number is a budget
  local budget = config.context and config.context.budget_tokens
  local g = {
    story = story, rules = {}, skipped_rules = {}, adrs = {}, excluded_adrs = {}, compliance = {},
    instructions = {}, files = {}, tree = {}, warnings = {},
    budget_tokens = math.type(budget) and budget or nil,
    redact = { emails = red.emails == true, ips = red.ips == true },
  }
  local ctx = { root = root, real_root = fs.realpath(root) or root, limits = require("agent.config").limits(config), g = g }
  function ctx.warn(msg) g.warnings[#g.warnings + 1] = msg end
  local tree <close>, why = start_tree(ctx)
  g.files = gather_files(ctx, story.named_files)
  local parsed = read_rules(ctx)
  gather_adrs(ctx)
  gather_instructions(ctx)
  gather_compliance(ctx)
  local listing
  g.tree, listing = finish_tree(ctx, tree, why)
  memo_of(g).listing = { tree = g.tree, n = #g.tree, text = listing }
  select_rules(ctx, parsed, story.named_files or {}, g.tree)
  return g
end

-- ---- Rendering --------------------------------------------------------------------------------

-- Replaces each invalid UTF-8 byte with U+FFFD: model APIs reject JSON bodies that are not UTF-8.
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local ok, bad = utf8.len(s, i)
    if ok then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = "\239\191\189"
    i = bad + 1
  end
  return table.concat(out)
end

-- A path fit for a heading line: control characters would end or split it.
local function path_line(p)
  return (tostring(p):gsub("%c", "?"))
end

-- context.redact(gathered, text [, opts [, env]]) -> redacted, counts: what redact.text(text,
-- opts) returns (redact.env_file with env), opts defaulting to gathered.redact, worked out
-- once per gathered table, options and text. A run redacts each story, rule and ADR for the
-- rendered context and again for the persona scripts' view of them (panel): the second time
-- is a lookup. counts is the caller's own table.
function M.redact(gathered, text, opts, env)
  opts = opts or gathered.redact or {}
  local flags = (opts.emails and "e" or "-") .. (opts.ips and "i" or "-") .. (env and "v" or "-")
  local texts = memo_of(gathered).texts
  local per = texts[flags]
  if not per then
    per = {}
    texts[flags] = per
  end
  local hit = per[text]
  if not hit then
    local out, counts = (env and redact.env_file or redact.text)(text, opts)
    hit = { out = out, counts = counts }
    per[text] = hit
  end
  return hit.out, redact.merge_counts({}, hit.counts)
end

-- The rendered form of a text under key: redacted, with invalid UTF-8 replaced.
local function redacted(gathered, key, text, env)
  local cache = memo_of(gathered).redacted
  local hit = cache[key]
  if not hit then
    local out, counts = M.redact(gathered, text, gathered.redact, env)
    hit = { text = valid_utf8(out), counts = counts }
    cache[key] = hit
  end
  return hit.text, hit.counts
end

-- One rendered item: `## <path>`, a few plain lines about it, its content in a fence longer
-- than any backtick run inside, so nothing in a file can close it or forge a header. The
-- head is redacted like the body: a story's title, an ADR's title and a rule's description
-- come from the files too.
local function item(gathered, group, key, relpath, lines, body, info, env)
  local text, counts = "", {}
  if body then text, counts = redacted(gathered, key, body, env) end
  local head = { "## " .. path_line(relpath) }
  for _, l in ipairs(lines) do head[#head + 1] = path_line(l) end
  local head_text, head_counts = redacted(gathered, key .. "#head", table.concat(head, "\n"))
  local chunk = head_text .. "\n\n" .. (body and (mdutil.fence(text, info) .. "\n") or "")
  return { group = group, name = relpath, chunk = chunk, sent = body and text or nil,
           counts = redact.merge_counts(redact.merge_counts({}, head_counts), counts) }
end

local GROUPS = {
  story = "# The story",
  always = "# Rules that always apply",
  matched = "# Rules selected for this story",
  adrs = "# Architecture decision records",
  instructions = "# Instructions for your role",
  compliance = "# Compliance",
  files = "# Files the story names (current content)",
  tree = "# Repository tree",
}

local function lang_of(relpath)
  return mdutil.language(relpath) or ""
end

-- The item under key, made by build() the first time a gathered table asks for it: items
-- depend on the gathered content alone, never on the role or the budget.
local function once(gathered, key, build, ...)
  local items = memo_of(gathered).items
  local it = items[key]
  if not it then
    it = build(...)
    items[key] = it
  end
  return it
end

local function rule_item(gathered, r, group)
  local lines = { "Why: " .. (r.why or "") }
  if r.description then table.insert(lines, 1, "Description: " .. r.description) end
  return item(gathered, group, "rule:" .. r.relpath, r.relpath, lines, r.body or "", "markdown")
end

local function rule_items(gathered, out)
  for pass = 1, 2 do
    for _, r in ipairs(gathered.rules) do
      if (pass == 1) == (r.always_apply == true) then
        out[#out + 1] = once(gathered, "rule:" .. r.relpath, rule_item, gathered, r, pass == 1 and "always" or "matched")
      end
    end
  end
end

local function story_item(gathered)
  local story = gathered.story or {}
  return item(gathered, "story", "story", story.relpath or story.path or "story",
    { ("%s: %s"):format(story.id or "?", story.title or "") }, story.text or "", "markdown")
end

local function adr_item(gathered, a)
  return item(gathered, "adrs", "adr:" .. a.relpath, a.relpath,
    { ("%s: %s (status: %s)"):format(a.id or "?", a.title or "", a.status or "unknown") }, a.text, "markdown")
end

local function instruction_item(gathered, ins)
  return item(gathered, "instructions", "ins:" .. ins.relpath, ins.relpath, {}, ins.text, "markdown")
end

local function compliance_item(gathered, c)
  return item(gathered, "compliance", "comp:" .. c.relpath, c.relpath, {}, c.text, lang_of(c.relpath))
end

local function file_item(gathered, f)
  if not f.exists then
    return item(gathered, "files", "file:" .. f.relpath, f.relpath, { "Does not exist yet." })
  elseif f.binary then
    return item(gathered, "files", "file:" .. f.relpath, f.relpath,
      { ("A binary file of %d bytes (content not included)."):format(f.size or 0) })
  elseif f.withheld then
    return item(gathered, "files", "file:" .. f.relpath, f.relpath,
      { "A key or credential file: its content is never sent (docs/security.md)." })
  elseif not f.text then
    return item(gathered, "files", "file:" .. f.relpath, f.relpath, { "Could not be read: " .. tostring(f.error) })
  end
  local note = f.truncated and ("Truncated: the first %d of %d bytes."):format(#f.text, f.size or 0)
    or "Complete current content."
  return item(gathered, "files", "file:" .. f.relpath, f.relpath, { note }, f.text, lang_of(f.relpath),
    redact.is_env_path(f.relpath))
end

-- Every candidate item in priority order (the story first, the tree last).
local function items_of(gathered, role)
  local out = { once(gathered, "story", story_item, gathered) }
  rule_items(gathered, out)
  for _, a in ipairs(gathered.adrs) do out[#out + 1] = once(gathered, "adr:" .. a.relpath, adr_item, gathered, a) end
  for _, ins in ipairs(role and gathered.instructions[tostring(role):lower()] or {}) do
    out[#out + 1] = once(gathered, "ins:" .. ins.relpath, instruction_item, gathered, ins)
  end
  for _, c in ipairs(gathered.compliance) do
    out[#out + 1] = once(gathered, "comp:" .. c.relpath, compliance_item, gathered, c)
  end
  for _, f in ipairs(gathered.files) do out[#out + 1] = once(gathered, "file:" .. f.relpath, file_item, gathered, f) end
  return out
end

-- The end offset of each line of text (the last line ends at #text). Plain finds: a pattern
-- loop (gmatch "()\n") would try its pattern at every byte of a multi-megabyte listing.
local function line_ends(text)
  local ends, at = {}, 1
  while true do
    local nl = find(text, "\n", at, true)
    if not nl then break end
    ends[#ends + 1] = nl - 1
    at = nl + 1
  end
  ends[#ends + 1] = #text
  return ends
end

-- Where each [REDACTED:KIND] marker of text starts, with its kind: a prefix's counts are then
-- those of the markers inside it, found without scanning the prefix again.
local function markers(text)
  local at, kinds = {}, {}
  local init = 1
  while true do
    local first = find(text, "[REDACTED:", init, true) -- plain: a pattern would try every byte
    if not first then return { at = at, kinds = kinds } end
    local _, last, kind = find(text, "^%[REDACTED:([%u%d_]+)%]", first)
    if kind then at[#at + 1], kinds[#kinds + 1] = first, kind end
    init = (last or first) + 1
  end
end

-- The tree listing, redacted as far as rendering has needed it. A partial tree is a prefix of
-- whole lines, and a 100k-token budget lists about a tenth of a 100,000-path tree, so when the
-- listing allows it (redact.line_local, and no backtick: the fence stays ```), runs of whole
-- lines are redacted as budgets reach them, which gives the bytes redacting it whole would.
-- Otherwise it is redacted whole at once. Fields: text (redacted so far), ends (the end offset
-- of each of its lines), marks (its redaction markers), bar (a fence longer than any backtick
-- run in the whole listing, so it fences every prefix), raw (the listing), next (where in raw
-- the next run starts) and complete.
local function tree_parts(gathered)
  local m = memo_of(gathered)
  if not m.tree_parts then
    local known = m.listing -- the walk's, while gathered.tree is still the array it listed
    local raw = known and known.tree == gathered.tree and known.n == #gathered.tree and known.text
      or table.concat(gathered.tree, "\n")
    if redact.line_local(raw) and not find(raw, "`", 1, true) then
      m.tree_parts = { raw = raw, next = 1, complete = false, text = "", ends = {}, marks = { at = {}, kinds = {} },
        bar = "```" }
    else
      local text = redacted(gathered, "tree", raw)
      m.tree_parts = { raw = raw, next = #raw + 1, complete = true, text = text, ends = line_ends(text),
        marks = markers(text), bar = ("`"):rep(math.max(3, require("agent.text").longest_backticks(text) + 1)) }
    end
  end
  return m.tree_parts
end

local TREE_RUN = 64 * 1024 -- the least bytes of listing redacted at a time

-- Redacts the listing's next run of whole lines: at least TREE_RUN bytes and as many as the
-- redacted text lacks of `bytes` (a render asks for what its budget can hold, and no more is
-- redacted: the first render of a 100,000-path tree redacts 400 KB of it, not 512), or the rest.
local function grow_tree(gathered, parts, bytes)
  local raw, first = parts.raw, parts.next
  local nl = find(raw, "\n", first + math.max(TREE_RUN, bytes - #parts.text), true)
  local last = nl and nl - 1 or #raw
  local run = valid_utf8((redact.text(raw:sub(first, last), gathered.redact or {})))
  local off = parts.next > 1 and #parts.text + 1 or 0 -- the run's offset in text, after its "\n"
  for _, e in ipairs(line_ends(run)) do parts.ends[#parts.ends + 1] = off + e end
  local marks = markers(run)
  for i, at in ipairs(marks.at) do
    parts.marks.at[#parts.marks.at + 1], parts.marks.kinds[#parts.marks.kinds + 1] = off + at, marks.kinds[i]
  end
  parts.text = off > 0 and parts.text .. "\n" .. run or run
  parts.next, parts.complete = last + 2, last == #raw
end

-- Redacts the listing until its redacted lines reach `bytes` or it is complete: every line
-- past them then ends beyond `bytes`.
local function reach_tree(gathered, parts, bytes)
  while not parts.complete and #parts.text < bytes do grow_tree(gathered, parts, bytes) end
end

local TREE_HEAD = "## repository tree\n"

local function tree_note(n, total)
  return n < total and ("The first %d of %d paths (.gitignore honoured)."):format(n, total)
    or ("%d paths (.gitignore honoured)."):format(total)
end

-- The size of tree_item(gathered, n)'s chunk, without building it; math.huge for a line the
-- redaction has not reached (reach_tree: it lies past the bytes asked for).
local function tree_len(parts, n, total)
  if n > #parts.ends then return math.huge end
  local body = n > 0 and parts.ends[n] + 1 or 0
  return #TREE_HEAD + #tree_note(n, total) + 2 + 2 * #parts.bar + #"text\n" + body + 2
end

local TREE_PIECE = 16 * 1024 -- the least bytes of listing in one piece of a tree item

-- Adds the listing's lines up to byte last, with a "\n" after the last one, to pieces in
-- pieces of whole lines, each cut at the first line end TREE_PIECE bytes on: cuts that depend
-- on the listing alone, so two tree items of different lengths share all but their last piece.
local function body_pieces(text, last, pieces)
  local pos = 1
  while pos <= last do
    local nl = find(text, "\n", pos + TREE_PIECE - 1, true)
    if not nl or nl >= last then
      pieces[#pieces + 1] = text:sub(pos, last) .. "\n"
      return
    end
    pieces[#pieces + 1] = text:sub(pos, nl)
    pos = nl + 1
  end
end

-- The tree item listing its first n paths (kept per n: personas with one budget share it).
-- It comes in pieces (body_pieces) rather than as one chunk.
local function tree_item(gathered, n)
  local trees = memo_of(gathered).trees
  if trees[n] then return trees[n] end
  local parts, total = tree_parts(gathered), #gathered.tree
  local last = n > 0 and parts.ends[n] or 0
  local counts = {}
  for i, at in ipairs(parts.marks.at) do
    if at > last then break end
    local kind = parts.marks.kinds[i]
    counts[kind] = (counts[kind] or 0) + 1
  end
  local pieces = { TREE_HEAD .. tree_note(n, total) .. "\n\n" .. parts.bar .. "text\n" }
  body_pieces(parts.text, last, pieces)
  pieces[#pieces + 1] = parts.bar .. "\n\n"
  trees[n] = { group = "tree", name = "repository tree", pieces = pieces, counts = counts }
  return trees[n]
end

local PREAMBLE = "Context for the review. Each item is a `##` heading naming its path, a few lines "
  .. "about it, and its content in a fenced block; secrets are shown as [REDACTED:KIND].\n\n"

local function notice(cut)
  if #cut == 0 then return "" end
  local lines = { "# Not included for lack of budget", "" }
  for _, c in ipairs(cut) do lines[#lines + 1] = "- " .. path_line(c) end
  return table.concat(lines, "\n") .. "\n"
end

-- The ADRs left out, named (redacted: ids and statuses come from the files).
local function excluded_line(gathered)
  if #gathered.excluded_adrs == 0 then return "", {} end
  local names = {}
  for _, a in ipairs(gathered.excluded_adrs) do
    names[#names + 1] = ("%s (%s, %s)"):format(a.id or a.relpath, a.relpath, a.status)
  end
  return redacted(gathered, "excluded", "Left out as no longer in force: " .. path_line(table.concat(names, "; ")) .. ".\n\n")
end

-- Calls add(s) for each piece of the text of the chosen items, in order; group headings
-- appear once, before their first item. An item with pieces (the tree) adds those.
local function each_piece(gathered, chosen, cut, add)
  add(PREAMBLE)
  local open = {}
  for _, it in ipairs(chosen) do
    if not open[it.group] then
      open[it.group] = true
      add(GROUPS[it.group] .. "\n\n")
      if it.group == "adrs" then add((excluded_line(gathered))) end
    end
    if it.pieces then
      for _, p in ipairs(it.pieces) do add(p) end
    else
      add(it.chunk)
    end
  end
  add(notice(cut))
end

-- The length of assemble(gathered, chosen, cut)'s text, without building it: fitting asks
-- for it several times per render, and a text is about 400 KB.
local function assembled_len(gathered, chosen, cut)
  local n = 0
  each_piece(gathered, chosen, cut, function(p) n = n + #p end)
  return n
end

-- Assembles the chosen items: the text and its non-empty pieces (each ends with "\n"; the
-- report hands them on so that panel.ask redacts the lines the prompts share once).
local function assemble(gathered, chosen, cut)
  local parts = {}
  each_piece(gathered, chosen, cut, function(p) if p ~= "" then parts[#parts + 1] = p end end)
  return table.concat(parts), parts
end

-- The story cut to whole lines so that its item takes at most `room` bytes.
local function shortened_story(gathered, full, room)
  local story = gathered.story or {}
  local text = redacted(gathered, "story", story.text or "")
  local overhead = #full.chunk - #text + 80 -- heading, fence, the "Truncated" line
  local keep = text:sub(1, math.max(0, room - overhead)):match("^(.*\n)") or ""
  local it = item(gathered, "story", "story:" .. #keep, full.name,
    { ("%s: %s"):format(story.id or "?", story.title or ""),
      ("Truncated: the first %d of %d bytes."):format(#keep, #text) }, keep, "markdown")
  -- keep is redacted text: its markers are what it carries (redacting it again finds none)
  for _, kind in ipairs(markers(keep).kinds) do it.counts[kind] = (it.counts[kind] or 0) + 1 end
  it.truncated = true
  return it
end

-- The longest the cut notice can get once the story alone overflows: every item is named
-- in it (the story as truncated), and the tree too.
local function notice_reserve(gathered, items)
  local names = {}
  for i, it in ipairs(items) do names[i] = i == 1 and (it.name .. " (truncated)") or it.name end
  names[#names + 1] = ("repository tree (%d paths)"):format(#gathered.tree)
  return #notice(names)
end

-- Drops the lowest-priority items (never the story) until the text, cut notice included,
-- fits in max bytes; each one dropped is named in the notice. When the story is all that
-- is left and the notice still leaves no room for it whole, it is cut to fit.
local function make_room(gathered, chosen, cut, max)
  while #chosen > 1 and assembled_len(gathered, chosen, cut) > max do
    local last = table.remove(chosen)
    table.insert(cut, 1, last.name)
  end
  local story = chosen[1]
  if story and story.group == "story" and not story.truncated and assembled_len(gathered, chosen, cut) > max then
    table.insert(cut, 1, story.name .. " (truncated)")
    local over = assembled_len(gathered, chosen, cut) - max
    chosen[1] = shortened_story(gathered, story, #story.chunk - over)
  end
end

-- Fits the items into max bytes: whole items by priority, each cut one named. The story is
-- never dropped: when it alone overflows, it is cut to whole lines and named as truncated.
local function fit(gathered, items, max)
  local chosen, cut = {}, {}
  local used = #PREAMBLE
  for i, it in ipairs(items) do
    local cost = #it.chunk + #GROUPS[it.group] + 2
    if used + cost <= max then
      chosen[#chosen + 1] = it
      used = used + cost
    elseif i == 1 then
      local short = shortened_story(gathered, it, max - used - cost + #it.chunk - notice_reserve(gathered, items))
      chosen[#chosen + 1] = short
      cut[#cut + 1] = it.name .. " (truncated)"
      used = used + #short.chunk + #GROUPS.story + 2
    else
      cut[#cut + 1] = it.name
    end
  end
  make_room(gathered, chosen, cut, max) -- the notice needs room too
  return chosen, cut
end

-- Adds the tree: whole when it fits, else the longest prefix of whole paths that fits with its
-- entry in the cut notice (sizes computed, so a 100k-path tree costs one redaction).
local function tree_fit(gathered, chosen, cut, max)
  local total = #gathered.tree
  if total == 0 then return end
  local parts = tree_parts(gathered)
  reach_tree(gathered, parts, max)
  local base = assembled_len(gathered, chosen, cut) + #GROUPS.tree + 2
  if base + tree_len(parts, total, total) <= max then
    chosen[#chosen + 1] = tree_item(gathered, total)
    return
  end
  local plain = #notice(cut)
  local function entry(n) return ("repository tree (%d of %d paths listed)"):format(n, total) end
  local function size(n)
    cut[#cut + 1] = entry(n)
    local grown = #notice(cut) - plain
    cut[#cut] = nil
    return base + tree_len(parts, n, total) + grown
  end
  local lo, hi, best = 1, total - 1, 0
  while lo <= hi do
    local mid = (lo + hi) // 2
    if size(mid) <= max then best, lo = mid, mid + 1 else hi = mid - 1 end
  end
  if best > 0 then
    chosen[#chosen + 1] = tree_item(gathered, best)
    cut[#cut + 1] = entry(best)
  else
    cut[#cut + 1] = ("repository tree (%d paths)"):format(total)
    make_room(gathered, chosen, cut, max) -- naming the tree lengthens the notice
  end
end

-- context.render(gathered, {role=, budget_tokens=}) -> text, report
-- report = {tokens=, budget_tokens=, cut={name...}, included={name...}, redactions={KIND=n},
-- files={[relpath]=content as the text carries it (redacted)} for the named files included}.
-- Priority: story, always-apply rules, matched rules, ADRs, the role's instructions,
-- compliance, named files, tree. Tokens are estimated as bytes / 4.
function M.render(gathered, opts)
  assert(type(gathered) == "table", "context.render: gathered must be a table")
  opts = opts or {}
  local budget = opts.budget_tokens or gathered.budget_tokens or M.DEFAULT_BUDGET_TOKENS
  assert(type(budget) == "number" and budget > 0, "context.render: budget_tokens must be a positive number")
  local max = math.floor(budget * M.BYTES_PER_TOKEN)
  local chosen, cut = fit(gathered, items_of(gathered, opts.role), max)
  tree_fit(gathered, chosen, cut, max)
  local text, pieces = assemble(gathered, chosen, cut)
  local counts, included, files, adrs_shown = {}, {}, {}, false
  for _, it in ipairs(chosen) do
    redact.merge_counts(counts, it.counts)
    if it.group == "files" and it.sent then files[it.name] = it.sent end
    adrs_shown = adrs_shown or it.group == "adrs"
    included[#included + 1] = it.name
  end
  if adrs_shown then redact.merge_counts(counts, select(2, excluded_line(gathered))) end
  return text, {
    tokens = math.ceil(#text / M.BYTES_PER_TOKEN), budget_tokens = budget,
    cut = cut, included = included, redactions = counts, files = files, pieces = pieces,
  }
end

return M
