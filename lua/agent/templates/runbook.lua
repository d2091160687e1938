-- The built-in runbook template: renders the runbook document (docs/internals.md, "the
-- runbook document") as markdown, every section of the contract in order. It runs in the
-- script sandbox like a team's own .agent/templates/runbook.lua, so it reaches markdown
-- helpers only through `agent.md`.
--
-- Rules it keeps: no unfilled placeholder ever (a section the panel left empty says so in
-- words of its own); a persona without a usable review is never shown as approved; every
-- fence is longer than any backtick run inside it; same document, same bytes.
local md = agent.md

local function blank(s) return s == nil or not tostring(s):find("%S") end

-- Markdown the panel wrote, as a block ending in one newline that stays inside the section
-- it is written into (a section of level-1): its headings are pushed below that level, so a
-- model's "## Notes" or "#### [MODIFY] x" adds no section and no step, and a fence it left
-- open is closed.
local function block(s, level)
  return (md.nest(tostring(s), level):gsub("%s+$", "")) .. "\n"
end

-- The panel's markdown, or the sentence that says why there is none.
local function body_or(text, otherwise, level)
  if blank(text) then return otherwise .. "\n" end
  return block(text, level)
end

-- ---- Title and panel ---------------------------------------------------------------------

local VERDICT_WORDS = { APPROVE = "APPROVE", CHANGES = "CHANGES requested", BLOCK = "BLOCK" }

local function persona_label(p)
  local label = "**" .. md.escape_inline(p.name or ("@" .. tostring(p.id))) .. "**"
  if not blank(p.title) then label = label .. " (" .. md.escape_inline(p.title) .. ")" end
  return label
end

-- Whether a persona gave a review the runbook may count: status "ok" and a known verdict.
-- Anything else, a missing status included, counts as no review (fail closed).
local function reviewed(p)
  return p.status == "ok" and VERDICT_WORDS[p.verdict] ~= nil
end

-- Why a persona has no usable review, in words.
local function unreviewed_reason(p)
  local why = blank(p.error) and "no reason recorded" or md.escape_inline(p.error)
  if p.status == "script_error" then return "script error: " .. why end
  if p.status == "ok" then return "reply had no verdict" end
  return "no usable review: " .. why
end

local function checklist_line(p)
  if reviewed(p) then
    local box = p.verdict == "APPROVE" and "[x]" or "[ ]"
    return ("%s %s: %s"):format(box, persona_label(p), VERDICT_WORDS[p.verdict])
  end
  return ("[ ] %s: %s; not approved"):format(persona_label(p), unreviewed_reason(p))
end

local function compliance_checklist(panel)
  if #panel == 0 then
    return "No persona sat on the panel, so nothing in this runbook is approved.\n"
  end
  local lines = {}
  for _, p in ipairs(panel) do lines[#lines + 1] = checklist_line(p) end
  return md.bullets(lines)
end

local function finding_line(item)
  local s = "**" .. md.escape_inline(blank(item.severity) and "NOTE" or tostring(item.severity):upper()) .. "**: "
  s = s .. md.escape_inline(blank(item.text) and "(finding without text)" or item.text)
  if not blank(item.rule) then s = s .. " (cites " .. md.code(item.rule) .. ")" end
  return s
end

local function checklist_item_line(c)
  local s = md.escape_inline(blank(c.status) and "unjudged" or c.status) .. ": " .. md.escape_inline(c.item or "")
  if not blank(c.note) then s = s .. " (" .. md.escape_inline(c.note) .. ")" end
  return s
end

local function persona_findings(p)
  local parts = { md.heading(3, p.name or ("@" .. tostring(p.id))) }
  if not reviewed(p) then
    parts[#parts + 1] = "Not reviewed (" .. unreviewed_reason(p) .. "). This persona's concerns are open; it counts as no approval.\n"
    return table.concat(parts, "\n")
  end
  local head = "Verdict: " .. VERDICT_WORDS[p.verdict] .. "."
  if not blank(p.summary) then head = head .. " " .. md.escape_inline(p.summary) end
  parts[#parts + 1] = head .. "\n"
  local items = {}
  for _, item in ipairs(p.items or {}) do items[#items + 1] = finding_line(item) end
  parts[#parts + 1] = #items > 0 and md.bullets(items) or "No findings.\n"
  local checks = {}
  for _, c in ipairs(p.checklist or {}) do checks[#checks + 1] = checklist_item_line(c) end
  if #checks > 0 then parts[#parts + 1] = "Checklist:\n\n" .. md.bullets(checks) end
  return table.concat(parts, "\n")
end

local function panel_findings(panel)
  if #panel == 0 then return "No persona reviewed this story, so there are no findings.\n" end
  local parts = {}
  for _, p in ipairs(panel) do parts[#parts + 1] = persona_findings(p) end
  return table.concat(parts, "\n")
end

-- ---- The persona-owned sections ----------------------------------------------------------

-- Each group: its H2, then its H3s with the document field and the sentence used when the
-- panel wrote nothing there.
local GROUPS = {
  { title = "Component Specification & Interface", field = "spec", subsections = {
    { "API Definition", "api", "No API surface changes were identified by the panel: no new or changed REST, gRPC, GraphQL or command-line entry points." },
    { "Data Models", "data_models", "No data model changes were identified by the panel: no new entities or DTOs." },
    { "Dependency Injection", "dependencies", "No new dependencies were identified by the panel: no added external services, databases or third-party APIs." },
    { "State Management", "state", "No state management changes were identified by the panel: the component keeps its current state and persistence." },
  } },
  { title = "Implementation Guardrails", field = "guardrails", subsections = {
    { "Tech Stack Standards", "stack", "The panel set no stack standards beyond the repository's own: keep its language version, framework and lint rules." },
    { "Error Handling Strategy", "error_handling", "The panel set no error handling strategy beyond the component's existing conventions." },
    { "Security Requirements", "security", "The panel raised no security requirements for this change; the Compliance Checklist shows whether security was reviewed." },
  } },
  { title = "Logic & Design Patterns", field = "design", subsections = {
    { "Architectural Pattern", "architecture", "The panel required no change to the architectural pattern." },
    { "Concurrency & Scaling", "concurrency", "The panel identified no concurrency or scaling concerns." },
    { "Idempotency", "idempotency", "The panel identified no writes or retries that need idempotency handling." },
  } },
  { title = "Quality & Observability", field = "quality", subsections = {
    { "Testing Requirements", "testing", "The panel set no testing requirements beyond the Verification Plan below." },
    { "Logging Schema", "logging", "The panel required no logging changes." },
    { "Metrics & Health Checks", "metrics", "The panel required no new metrics or health checks." },
  } },
  { title = "Deployment & Lifecycle", field = "lifecycle", subsections = {
    { "CI/CD Pipeline", "cicd", "The panel required no CI/CD pipeline changes." },
    { "Infrastructure as Code", "iac", "The panel identified no infrastructure changes." },
    { "Documentation", "documentation", "The panel required no documentation changes." },
  } },
}

local function group_sections(doc, group)
  local values = doc[group.field] or {}
  local parts = { md.heading(2, group.title) }
  for _, sub in ipairs(group.subsections) do
    parts[#parts + 1] = md.heading(3, sub[1])
    parts[#parts + 1] = body_or(values[sub[2]], sub[3], 4)
  end
  return parts
end

-- ---- Proposed Changes --------------------------------------------------------------------

local function lang_of(op)
  if not blank(op.lang) then return op.lang end
  return md.language(op.path or "") or ""
end

-- A SEARCH/REPLACE block: text between the markers is written as given; a final newline
-- of the text is implied by the marker line after it.
local function sr_block(b)
  local function lines(s) return (tostring(s or ""):gsub("\n$", "")) end
  local replace = lines(b.replace)
  return md.fence("<<<SEARCH\n" .. lines(b.search) .. "\n===\n" .. replace .. (replace == "" and "" or "\n") .. ">>>\n")
end

-- Whether text holds a line the reader would take for a marker: SEARCH may hold none of
-- the three, REPLACE neither `<<<SEARCH` nor `>>>` (its first `===` is taken literally).
local function has_marker_line(text, markers)
  for line in ("\n" .. tostring(text or "") .. "\n"):gmatch("\n([^\n]*)") do
    if markers[line] then return true end
  end
  return false
end
local SEARCH_MARKERS = { ["<<<SEARCH"] = true, ["==="] = true, [">>>"] = true }
local REPLACE_MARKERS = { ["<<<SEARCH"] = true, [">>>"] = true }

-- Change blocks the format cannot carry are left out and named, never silently dropped.
local function left_out_note(n, why)
  return ("%d change block%s %s %s left out: %s, so make %s by hand.\n"):format(n, n == 1 and "" or "s",
    why, n == 1 and "was" or "were", n == 1 and "it cannot be applied safely" or "they cannot be applied safely",
    n == 1 and "that change" or "those changes")
end

local function modify_body(op)
  local parts = {}
  if not blank(op.description) then parts[#parts + 1] = block(op.description, 5) end
  local empty, marked = 0, 0
  for _, b in ipairs(op.blocks or {}) do
    if blank(b.search) then
      empty = empty + 1
    elseif has_marker_line(b.search, SEARCH_MARKERS) or has_marker_line(b.replace, REPLACE_MARKERS) then
      marked = marked + 1
    else
      parts[#parts + 1] = sr_block(b)
    end
  end
  if empty > 0 then parts[#parts + 1] = left_out_note(empty, "with an empty SEARCH") end
  if marked > 0 then parts[#parts + 1] = left_out_note(marked, "whose text holds a marker line (<<<SEARCH, === or >>>)") end
  if #parts == 0 then
    parts[1] = "The panel gave neither a description nor change blocks for this file.\n"
  end
  return parts
end

local function new_body(op)
  local parts = {}
  if not blank(op.description) then parts[#parts + 1] = block(op.description, 5) end
  if op.content == nil or op.content == "" then
    parts[#parts + 1] = "The panel did not provide this file's content.\n"
  else
    parts[#parts + 1] = md.fence(op.content, lang_of(op))
  end
  return parts
end

local function delete_body(op)
  local why = op.rationale or op.description
  if blank(why) then return { "The panel gave no rationale for deleting this file.\n" } end
  return { "Rationale: " .. md.escape_inline(why) .. "\n" }
end

local BODIES = { MODIFY = modify_body, NEW = new_body, DELETE = delete_body }

-- A step heading's path as the runbook reader reads it back: bare when it is one plain
-- word, else a code span (a space, backslash or backtick, or a leading [, * or <, would
-- end the path early or read as markup).
local function heading_path(path)
  path = tostring(path):gsub("[\r\n]", "")
  if path:find("[%s\\`]") or path:find("^[%[%*<]") then return md.code(path) end
  return path
end

local function step(op)
  local kind = tostring(op.op or ""):upper()
  local body = BODIES[kind]
  if not body then error(("runbook template: unknown change op '%s' for '%s'"):format(tostring(op.op), tostring(op.path)), 0) end
  local parts = { ("#### [%s] %s\n"):format(kind, heading_path(op.path)) }
  for _, p in ipairs(body(op)) do parts[#parts + 1] = p end
  return table.concat(parts, "\n")
end

-- The component heading of a group: its name, else the top directory of its first path.
local function component_name(group)
  if not blank(group.component) then return group.component end
  local first = group.ops and group.ops[1]
  local top = first and tostring(first.path or ""):match("^([^/]+)/")
  return top or "Repository root"
end

local function proposed_changes(changes)
  local parts = {}
  for _, group in ipairs(changes or {}) do
    parts[#parts + 1] = md.heading(3, component_name(group))
    if #(group.ops or {}) == 0 then parts[#parts + 1] = "No file changes in this component.\n" end
    for _, op in ipairs(group.ops or {}) do parts[#parts + 1] = step(op) end
  end
  if #parts == 0 then
    return { "No file changes were proposed: the panel found nothing in the repository to add, modify or delete for this story.\n" }
  end
  return parts
end

-- ---- Context Used ------------------------------------------------------------------------

local function why_text(why)
  if type(why) == "string" then return md.escape_inline(why) end
  if type(why) ~= "table" then return "selected" end
  if why.always then return "always applies" end
  if why.glob then
    local s = "glob " .. md.code(why.glob)
    if why.path then s = s .. " matches " .. md.code(why.path) end
    return s
  end
  return "selected"
end

local function listed(title, items, none, line)
  if #items == 0 then return title .. ": " .. none .. "\n" end
  local lines = {}
  for _, it in ipairs(items) do lines[#lines + 1] = line(it) end
  return title .. ":\n\n" .. md.bullets(lines)
end

local function context_used(p)
  local parts = {}
  if not blank(p.provider) then
    local s = "Provider: " .. md.code(p.provider)
    if not blank(p.model) then s = s .. ", model " .. md.code(p.model) end
    parts[#parts + 1] = s .. ".\n"
  end
  parts[#parts + 1] = listed("Rules sent to the panel", p.rules or {}, "none matched this story.", function(r)
    return md.code(r.relpath) .. ": " .. why_text(r.why)
  end)
  if p.broken_rules and #p.broken_rules > 0 then
    -- a rule that could not be read may have been an alwaysApply one: the reader must see it
    parts[#parts + 1] = listed("Rules skipped, never reviewed (fix them and run again)", p.broken_rules, "", function(r)
      return md.code(r.relpath) .. ": " .. md.escape_inline(r.reason or "could not be read")
    end)
  end
  parts[#parts + 1] = listed("ADRs", p.adrs or {}, "none in force.", function(a)
    local s = md.code(a.relpath or a.id)
    if not blank(a.status) then s = s .. " (" .. md.escape_inline(a.status) .. ")" end
    if not blank(a.title) then s = s .. ": " .. md.escape_inline(a.title) end
    return s
  end)
  parts[#parts + 1] = listed("ADRs left out", p.excluded_adrs or {}, "none.", function(a)
    return md.code(a.relpath or a.id) .. (blank(a.status) and "" or (": " .. md.escape_inline(a.status)))
  end)
  parts[#parts + 1] = listed("Cut to fit the token budget", p.cut or {}, "nothing.", function(c)
    return md.code(type(c) == "table" and (c.relpath or c.path) or c)
  end)
  local kinds = {}
  for kind, n in pairs(p.redactions or {}) do
    if n and n > 0 then kinds[#kinds + 1] = kind end
  end
  table.sort(kinds)
  if #kinds == 0 then
    parts[#parts + 1] = "Redactions: no secrets were found in what was sent.\n"
  else
    local counts = {}
    for i, kind in ipairs(kinds) do counts[i] = md.escape_inline(kind) .. " " .. tostring(p.redactions[kind]) end
    parts[#parts + 1] = "Redactions before anything was sent: " .. table.concat(counts, ", ") .. ".\n"
  end
  return parts
end

local function gate_report(problems)
  local lines = {}
  for _, p in ipairs(problems) do
    lines[#lines + 1] = (p.line and ("line " .. tostring(p.line) .. ": ") or "") .. md.escape_inline(p.message)
  end
  return "These gate problems remain; fix them before accepting this runbook:\n\n" .. md.bullets(lines)
end

-- ---- The document ------------------------------------------------------------------------

local function render(doc)
  assert(type(doc) == "table", "render: doc must be a table")
  local parts = {}
  local function add(...) for _, s in ipairs({ ... }) do parts[#parts + 1] = s end end
  local function add_all(list) for _, s in ipairs(list) do parts[#parts + 1] = s end end

  add(("# %s: %s\n"):format(doc.id or "UNKNOWN", md.escape_inline(blank(doc.title) and "Untitled story" or doc.title)))
  add("Status: " .. (blank(doc.status) and "PROPOSED" or tostring(doc.status)) .. "\n")
  add(md.heading(2, "Goal Description"),
    body_or(doc.goal, "The panel wrote no goal description; the story states the intent of this change.", 3))
  add(md.heading(2, "Compliance Checklist"), compliance_checklist(doc.panel or {}))
  add(md.heading(2, "Panel Review Findings"), panel_findings(doc.panel or {}))
  for _, group in ipairs(GROUPS) do add_all(group_sections(doc, group)) end
  add(md.heading(2, "Proposed Changes"))
  add_all(proposed_changes(doc.changes))
  add(md.heading(2, "Verification Plan"),
    body_or(doc.verification, "The panel wrote no verification plan: verify against the story's acceptance criteria before accepting.", 3))
  add(md.heading(2, "Rollback Plan"),
    body_or(doc.rollback, "The panel wrote no rollback plan: revert the commit that applies this runbook.", 3))
  add(md.heading(2, "Context Used"))
  add_all(context_used(doc.provenance or {}))
  if doc.gate_report and #doc.gate_report > 0 then
    add(md.heading(2, "Gate Report"), gate_report(doc.gate_report))
  end
  return table.concat(parts, "\n")
end

return { api = 1, render = render }
