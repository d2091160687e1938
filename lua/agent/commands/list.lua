-- agent list stories|runbooks|rules|personas: what the repository holds, one row each, in
-- aligned columns (a header, then rows) or, with --json, one JSON array of objects.
local cli = require("agent.cli")
local fs = require("agent.fs")
local json = require("agent.json")
local loader = require("agent.loader")
local log = require("agent.log")
local story = require("agent.story")

local RULES_DIR = ".agent/rules"
local RUNBOOKS_DIR = require("agent.runbook").RUNBOOKS_DIR
local RUNBOOK_MAX_BYTES = 16 * 1024 * 1024 -- a runbook is read whole to parse its title and status

local M = {
  name = "list",
  order = 30,
  needs_repo = "optional",
  summary = "List stories, runbooks, rules or personas with their state",
  usage = "agent list stories|runbooks|rules|personas [--state STATE] [--scope SCOPE] [--json]",
  args = { { name = "KIND", required = true, complete = { "stories", "runbooks", "rules", "personas" } } },
  flags = {
    { name = "state", type = "string", arg = "STATE", complete = "state", help = "stories and runbooks in this state only (any case)" },
    { name = "scope", type = "string", arg = "SCOPE", complete = "scope", help = "stories and runbooks of this scope only (any case)" },
  },
  help = [[Columns, one row per item (stdout), sorted by scope then number, or by path:
  stories   ID, STATE, TITLE           (.agent/cache/stories/<SCOPE>/)
  runbooks  ID, STATUS, TITLE, PATH    (.agent/cache/runbooks/<SCOPE>/)
  rules     PATH, ALWAYS, GLOBS, DESCRIPTION  (.agent/rules/, from each frontmatter)
  personas  ID, NAME, ORIGIN, FILE     (the panel: scripts on the search path and the roster;
            ORIGIN is built-in, user, repo, scripts or roster, '+roster' when the roster
            extends a script)
A story or rule that cannot be read is listed with its error. With --json: one array of
objects with the same fields (docs/json.md). 'personas' works outside a repository too.

Exit status: 0 listed (also when empty), 1 no repository or unreadable roster, 2 unknown
kind, 3 a persona script failed to load (it is listed with its error).

Examples:
  agent list stories
  agent list stories --state committed --scope infra
  agent list runbooks --json | jq -r '.[] | select(.status == "PROPOSED") | .id'
  agent list personas]],
}

-- ---- Output ------------------------------------------------------------------------------

local function width(s)
  return utf8.len(s) or #s
end

-- Prints rows ({cells...}) under a header in aligned columns; the last column is not padded.
function M.print_table(header, rows)
  local all = { header }
  for _, row in ipairs(rows) do all[#all + 1] = row end
  local widths = {}
  for _, row in ipairs(all) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, width(cell)) end
  end
  local out = {}
  for _, row in ipairs(all) do
    local cells = {}
    for i, cell in ipairs(row) do
      cells[i] = i < #row and (cell .. string.rep(" ", widths[i] - width(cell))) or cell
    end
    out[#out + 1] = (table.concat(cells, "  "):gsub("%s+$", ""))
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
end

-- The origin as users name it: scripts, repo, user, built-in (installed or inside the binary).
function M.origin(o)
  if o == "builtin" or o == "installed" then return "built-in" end
  return o
end

local function match_filter(value, wanted)
  return wanted == nil or (value ~= nil and value:upper() == wanted:upper())
end

-- ---- Stories and runbooks -------------------------------------------------------------------

function M.stories(ctx, opts)
  local out = json.array({})
  for _, s in ipairs(story.list(ctx.root, ctx.config)) do
    if match_filter(s.state, opts.state) and match_filter(s.scope, opts.scope) then
      out[#out + 1] = { id = s.id, scope = s.scope, state = s.state or json.null, title = s.title or json.null,
                        path = s.relpath, error = s.error }
    end
  end
  return out, { "ID", "STATE", "TITLE" }, function(s)
    return { s.id, s.state ~= json.null and s.state or "-", s.error or s.title }
  end
end

-- Runbook files: <SCOPE>/<name>-runbook.md (and any at the top level).
local function runbook_files(root)
  local dir = root .. "/" .. RUNBOOKS_DIR
  local files = {}
  for _, entry in ipairs(fs.list(dir) or {}) do
    local sub = fs.list(dir .. "/" .. entry)
    for _, name in ipairs(sub or { entry }) do
      local rel = sub and (entry .. "/" .. name) or name
      if name:match("%-runbook%.md$") and not name:match("^%.") then
        files[#files + 1] = { rel = RUNBOOKS_DIR .. "/" .. rel, scope = sub and entry or story.file_id(name):match("^[^%-]+") }
      end
    end
  end
  return files
end

local function read_runbook(root, f)
  local item = { id = f.rel:match("([^/]+)%-runbook%.md$"), scope = f.scope, path = f.rel }
  local text, err = fs.read(root .. "/" .. f.rel, RUNBOOK_MAX_BYTES)
  local parsed
  if text then parsed, err = require("agent.runbook").summary(text) end
  if not parsed then
    item.error = err
    return item
  end
  item.id = parsed.id or item.id
  item.title, item.status, item.status_form = parsed.title, parsed.status, parsed.status_form
  return item
end

local function number_of(id)
  return tonumber(id:match("(%d+)$")) or math.huge
end

function M.runbooks(ctx, opts)
  local items = {}
  for _, f in ipairs(runbook_files(ctx.root)) do
    local item = read_runbook(ctx.root, f)
    if match_filter(item.status, opts.state) and match_filter(item.scope, opts.scope) then items[#items + 1] = item end
  end
  table.sort(items, function(a, b)
    if a.scope ~= b.scope then return a.scope < b.scope end
    if number_of(a.id) ~= number_of(b.id) then return number_of(a.id) < number_of(b.id) end
    return a.path < b.path
  end)
  local out = json.array({})
  for i, r in ipairs(items) do
    out[i] = { id = r.id, scope = r.scope, status = r.status or json.null, status_form = r.status_form or json.null,
               title = r.title or json.null, path = r.path, error = r.error }
  end
  return out, { "ID", "STATUS", "TITLE", "PATH" }, function(r)
    return { r.id, r.status ~= json.null and r.status or "-", r.error or (r.title ~= json.null and r.title or ""), r.path }
  end
end

-- ---- Rules -------------------------------------------------------------------------------

local function read_rule(root, rel, cap)
  local item = { path = rel, always_apply = false, globs = json.array({}) }
  local text, err = fs.read(root .. "/" .. rel, cap)
  local ok, meta, ferr
  if text then ok, meta, ferr = pcall(require("agent.rules").frontmatter, text) end
  if not text or not ok or not meta then
    item.error = tostring(err or ferr or meta)
    return item
  end
  item.always_apply = meta.alwaysApply == true
  for i, g in ipairs(type(meta.globs) == "table" and meta.globs or {}) do item.globs[i] = tostring(g) end
  local d = meta.description
  item.description = (type(d) == "string" or type(d) == "number") and tostring(d) or nil
  return item
end

function M.rules(ctx)
  local out = json.array({})
  local dir = ctx.root .. "/" .. RULES_DIR
  local st = fs.stat(dir)
  local files = st and st.type == "directory" and fs.walk(dir) or {}
  local cap = ctx.config.limits and ctx.config.limits.rule_bytes
  for _, rel in ipairs(files) do
    local ext = rel:match("%.([^./]+)$")
    if ext and (ext:lower() == "mdc" or ext:lower() == "md") then
      out[#out + 1] = read_rule(ctx.root, RULES_DIR .. "/" .. rel, cap)
    end
  end
  return out, { "PATH", "ALWAYS", "GLOBS", "DESCRIPTION" }, function(r)
    return { r.path, r.always_apply and "yes" or "no", #r.globs > 0 and table.concat(r.globs, ",") or "-",
             r.error and ("error: " .. r.error) or r.description or "" }
  end
end

-- ---- Personas ----------------------------------------------------------------------------

-- Every persona the panel could seat (panel.personas in the config is ignored, so a persona
-- left off the panel still shows; `on_panel` says which sit on it). Fails (exit 1) when the
-- roster cannot be read. Returns members, on_panel set.
function M.load_personas(ctx)
  require("agent.script_api").install(ctx.root, { redact = ctx.config.redact })
  local panel = require("agent.panel")
  local members, warnings = panel.load(ctx.root, {})
  if not members then cli.fail(cli.EXIT.fail, warnings) end
  for _, w in ipairs(warnings) do log.warn(w) end
  local chosen = ctx.config.panel and ctx.config.panel.personas
  local on_panel = {}
  for _, m in ipairs(members) do on_panel[m.id] = chosen == nil end
  for _, id in ipairs(type(chosen) == "table" and chosen or {}) do on_panel[id] = true end
  return members, on_panel
end

-- Where a member comes from: origin as users name it, and whether the roster extends it.
function M.member_origin(m)
  if m.origin == "roster" then return "roster", false end
  local winner = loader.resolve("personas", m.id .. ".lua")
  local origin = M.origin(m.origin or (winner and winner.origin) or "?")
  return origin, m.persona ~= nil and m.persona.roster ~= nil
end

function M.personas(ctx)
  local members, on_panel = M.load_personas(ctx)
  local out = json.array({})
  for i, m in ipairs(members) do
    local origin, extended = M.member_origin(m)
    out[i] = { id = m.id, name = m.name, title = m.title, origin = origin, roster = extended,
               file = m.file, on_panel = on_panel[m.id] or false, status = m.status, error = m.error }
  end
  return out, { "ID", "NAME", "ORIGIN", "FILE" }, function(p)
    local origin = p.origin .. (p.roster and "+roster" or "")
    return { p.id, p.status == "ok" and p.name or "-", origin, p.error and ("error: " .. p.error) or p.file }
  end
end

-- ---- The command -------------------------------------------------------------------------

local KINDS = { stories = M.stories, runbooks = M.runbooks, rules = M.rules, personas = M.personas }

local function exit_status(kind, items)
  if kind ~= "personas" then return cli.EXIT.ok end
  for _, p in ipairs(items) do
    if p.status == "script_error" then
      log.error(p.error)
      return cli.EXIT.script
    end
  end
  return cli.EXIT.ok
end

-- Lists one kind: prints it (table or JSON) and returns the exit status.
function M.show(kind, opts, ctx)
  local items, header, row = KINDS[kind](ctx, opts)
  if ctx.json then
    io.stdout:write(json.encode(items), "\n")
  elseif #items == 0 then
    log.info(("no %s%s"):format(kind, (opts.state or opts.scope) and " match" or " found"))
  else
    local rows = {}
    for i, item in ipairs(items) do rows[i] = row(item) end
    M.print_table(header, rows)
  end
  return exit_status(kind, items)
end

function M.run(opts, ctx)
  local kind = opts.args[1]
  if not KINDS[kind] then
    cli.usage_error(("list: unknown kind '%s' (stories, runbooks, rules or personas)"):format(kind))
  end
  if (opts.state or opts.scope) and kind ~= "stories" and kind ~= "runbooks" then
    cli.usage_error(("list: --%s filters stories and runbooks, not %s"):format(opts.state and "state" or "scope", kind))
  end
  if kind ~= "personas" and not ctx.root then
    cli.fail(cli.EXIT.fail, "no .agent/ directory in this directory or any parent (run 'agent init' or pass --root DIR)")
  end
  return M.show(kind, opts, ctx)
end

return M
