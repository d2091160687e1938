-- agent personas list | show <ID>: the panel's personas, and one persona as the panel will
-- use it: after shadowing on the search path, base() extension and the roster, with the file
-- it came from and the files it shadows.
local judge = require("agent.judge")
local cli = require("agent.cli")
local json = require("agent.json")
local list = require("agent.commands.list")
local loader = require("agent.loader")
local paths = require("agent.paths")

local M = {
  name = "personas",
  order = 31,
  needs_repo = "optional",
  summary = "List the personas, or show one as the panel will use it",
  usage = "agent personas list | show <ID> [--json]",
  args = {
    { name = "list|show", required = true, complete = { "list", "show" } },
    { name = "ID", complete = function(args) return args[1] == "show" and "persona" or nil end },
  },
  help = [[list: the same table as 'agent list personas'.

show ID: the effective persona: its name and title, the file it came from (built-in, user,
repo, scripts or the roster in .agent/etc/agents.yaml) and the files of the same name it
shadows, whether the roster extends it, whether it sits on the panel (panel.personas), its
focus, provider and model when it sets them, the runbook fields it owns, its sections and
its checklist (each item with the runbook field it fills).

Exit status: 0 shown, 1 no such persona, 2 usage, 3 its script failed to load (the error
is shown).

Examples:
  agent personas list
  agent personas show security
  agent personas show product --json]],
}

-- The checklist as plain records: {text=, field=, guidance=}.
local function checklist_of(p)
  local out = json.array({})
  for i, v in ipairs(p.checklist or {}) do
    local item = judge.item(v)
    out[i] = { text = item.text, field = item.field, guidance = item.guidance }
  end
  return out
end

local function strings(t)
  local out = json.array({})
  for i, v in ipairs(t or {}) do out[i] = tostring(v) end
  return out
end

-- Everything `show` prints, as the JSON document.
function M.describe(ctx, m, on_panel)
  local origin, extended = list.member_origin(m)
  local shadows = json.array({})
  if origin ~= "roster" then
    local _, found = loader.resolve("personas", m.id .. ".lua")
    for _, c in ipairs(loader.shadowed(found)) do
      shadows[#shadows + 1] = { file = paths.relative(ctx.root, c.path), origin = list.origin(c.origin) }
    end
  end
  local doc = { id = m.id, file = m.file, origin = origin, shadows = shadows, on_panel = on_panel, status = m.status }
  if m.status ~= "ok" then
    doc.error = m.error
    return doc
  end
  local p = m.persona
  doc.name, doc.title, doc.role, doc.focus = p.name, p.title, p.role, p.focus
  doc.provider, doc.model = p.provider, p.model
  doc.roster = extended and require("agent.roster").RELPATH or (origin == "roster" and m.file or json.null)
  doc.owns, doc.sections, doc.checklist = strings(p.owns), strings(p.sections), checklist_of(p)
  doc.responsibilities, doc.instructions = strings(p.responsibilities), strings(p.instructions)
  doc.custom = { prompt = type(p.prompt) == "function" and origin ~= "roster",
                 review = type(p.review) == "function" and origin ~= "roster",
                 offline = type(p.offline) == "function" and origin ~= "roster" }
  return doc
end

local function joined(t)
  return #t > 0 and table.concat(t, ", ") or "(none)"
end

local function print_human(d)
  local out = {}
  local function field(name, value) out[#out + 1] = ("  %-9s %s"):format(name, value) end
  out[1] = d.status == "ok" and ("%s  %s"):format(d.name, d.title) or d.id
  field("id", d.id .. (d.role and d.role ~= d.id and (" (role " .. d.role .. ")") or ""))
  field("file", ("%s (%s)"):format(d.file, d.origin))
  for _, s in ipairs(d.shadows) do field("shadows", ("%s (%s)"):format(s.file, s.origin)) end
  if d.status ~= "ok" then
    field("error", d.error)
    io.stdout:write(table.concat(out, "\n"), "\n")
    return
  end
  if d.origin ~= "roster" and d.roster ~= json.null then field("roster", "extended by " .. d.roster) end
  field("panel", d.on_panel and "yes" or "no (not in panel.personas)")
  field("focus", d.focus or "(none)")
  if d.provider or d.model then field("model", ("%s/%s"):format(d.provider or "(run's provider)", d.model or "(default)")) end
  field("owns", joined(d.owns))
  field("sections", joined(d.sections))
  out[#out + 1] = ("checklist (%d):"):format(#d.checklist)
  for i, c in ipairs(d.checklist) do
    out[#out + 1] = ("  %2d. %s%s"):format(i, c.text, c.field and (" [" .. c.field .. "]") or "")
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
end

local function show(ctx, id)
  if not id then cli.usage_error("personas show: missing ID (usage: " .. M.usage .. ")") end
  local members, on_panel = list.load_personas(ctx)
  local ids = {}
  for _, m in ipairs(members) do
    if m.id == id then
      local doc = M.describe(ctx, m, on_panel[m.id] or false)
      if ctx.json then io.stdout:write(json.encode(doc), "\n") else print_human(doc) end
      if m.status ~= "ok" then
        io.stderr:write("agent personas: ", tostring(m.error), "\n")
        return cli.EXIT.script
      end
      return cli.EXIT.ok
    end
    ids[#ids + 1] = m.id
  end
  cli.fail(cli.EXIT.fail, ("personas: no persona '%s' (known: %s)"):format(id, table.concat(ids, ", ")))
end

function M.run(opts, ctx)
  local sub = opts.args[1]
  if sub == "list" then
    if opts.args[2] then cli.usage_error(("personas list: unexpected argument '%s'"):format(opts.args[2])) end
    return list.show("personas", opts, ctx)
  elseif sub == "show" then
    return show(ctx, opts.args[2])
  end
  cli.usage_error(("personas: unknown subcommand '%s' (list or show)"):format(sub))
end

return M
