-- Findings: a persona's review in the contract's shape (docs/internals.md, "persona
-- scripts"). normalize() validates a parsed model reply, or what a script's review or offline
-- returned, and normalises it: verdict words, item severities, checklist statuses paired
-- with the persona's own items, the sections the persona owns. What it refuses comes back as
-- the reason a model is asked to fix on its one retry.
local cjson = require("cjson")
local text_mod = require("agent.text")

local M = {}

local VERDICT_WORDS = {
  APPROVE = "APPROVE", APPROVED = "APPROVE",
  CHANGES = "CHANGES", REQUEST_CHANGES = "CHANGES", CHANGES_REQUESTED = "CHANGES",
  BLOCK = "BLOCK", BLOCKED = "BLOCK", REJECT = "BLOCK",
}
local SEVERITY_RANK = { blocker = 1, major = 2, minor = 3, info = 4 }
local STATUS_WORDS = {
  met = "met", partial = "partial", missing = "missing", ["n/a"] = "n/a",
  na = "n/a", ["not applicable"] = "n/a",
}

local function opt_string(v)
  if v == nil or v == cjson.null then return nil end
  if type(v) == "string" then
    v = text_mod.trim(v)
    return v ~= "" and v or nil
  end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  return nil
end

local function norm_key(s) return (s:lower():gsub("[%p%s]+", " "):gsub("^ ", ""):gsub(" $", "")) end

local function normalize_items(raw)
  if raw == nil or raw == cjson.null then return {} end
  if type(raw) ~= "table" then return nil, "'items' must be an array" end
  local items = {}
  for i = 1, #raw do
    local it = raw[i]
    if type(it) == "string" then it = { text = it } end
    if type(it) ~= "table" then return nil, ("items[%d] must be an object or a string"):format(i) end
    local text = opt_string(it.text) or opt_string(it.finding) or opt_string(it.description)
    if not text then return nil, ("items[%d] has no 'text'"):format(i) end
    local sev = (opt_string(it.severity) or "minor"):lower()
    if not SEVERITY_RANK[sev] then sev = sev == "critical" and "blocker" or sev == "high" and "major" or "minor" end
    items[#items + 1] = { severity = sev, text = text, rule = opt_string(it.rule) or opt_string(it.source) }
  end
  table.sort(items, function(a, b) return SEVERITY_RANK[a.severity] < SEVERITY_RANK[b.severity] end)
  return items
end

-- Pairs the reply's checklist with the persona's: equal text first, then the rest in order.
-- An item of the persona that the reply never assessed is "missing": silence is not approval.
local function normalize_checklist(raw, persona)
  if raw == cjson.null then raw = nil end
  if raw ~= nil and type(raw) ~= "table" then return nil, "'checklist' must be an array" end
  local given = {}
  for i = 1, raw and #raw or 0 do
    local c = raw[i]
    if type(c) == "string" then c = { item = c, status = "met" } end
    if type(c) ~= "table" then return nil, ("checklist[%d] must be an object"):format(i) end
    local status = STATUS_WORDS[(opt_string(c.status) or ""):lower()] or "missing"
    given[#given + 1] = { item = opt_string(c.item) or opt_string(c.text) or "", status = status, note = opt_string(c.note) }
  end
  local out, used = {}, {}
  local wanted = {}
  for i, raw_item in ipairs(persona and persona.checklist or {}) do wanted[i] = require("agent.judge").item(raw_item).text end
  local slot = {}
  for i, text in ipairs(wanted) do
    local key = norm_key(text)
    for j, g in ipairs(given) do
      if not used[j] and norm_key(g.item) == key then slot[i], used[j] = g, true break end
    end
  end
  local next_free = 1
  for i, text in ipairs(wanted) do
    if not slot[i] then
      while given[next_free] and used[next_free] do next_free = next_free + 1 end
      if given[next_free] then slot[i], used[next_free] = given[next_free], true end
    end
    local g = slot[i]
    if g then
      out[#out + 1] = { item = text, status = g.status, note = g.note }
    else
      out[#out + 1] = { item = text, status = "missing", note = "the review did not assess this item" }
    end
  end
  for j, g in ipairs(given) do
    if not used[j] and g.item ~= "" then out[#out + 1] = g end
  end
  return out
end

local function owned_set(persona)
  local set = {}
  for _, f in ipairs(persona and persona.owns or {}) do set[f] = true end
  return set
end

-- Validates and normalises findings (a parsed model reply, or what a script's review or
-- offline returned) into the contract's shape. Returns findings or nil, reason (the reason
-- goes back to the model on the one retry).
function M.normalize(f, persona)
  if type(f) ~= "table" then return nil, "the reply is not a JSON object" end
  local verdict = VERDICT_WORDS[(opt_string(f.verdict) or ""):upper():gsub("[%s%-]+", "_")]
  if not verdict then
    return nil, ("'verdict' must be \"APPROVE\", \"CHANGES\" or \"BLOCK\" (got %s)"):format(
      f.verdict == nil and "nothing" or ("'" .. tostring(opt_string(f.verdict) or f.verdict) .. "'"))
  end
  local items, ierr = normalize_items(f.items or f.findings)
  if not items then return nil, ierr end
  local checklist, cerr = normalize_checklist(f.checklist, persona)
  if not checklist then return nil, cerr end
  local sections, owned = {}, owned_set(persona)
  if f.sections ~= nil and f.sections ~= cjson.null then
    if type(f.sections) ~= "table" then return nil, "'sections' must be an object of field -> markdown" end
    for field, text in pairs(f.sections) do
      local s = opt_string(text)
      if type(field) == "string" and s and (owned[field] or next(owned) == nil) then sections[field] = s end
    end
  end
  -- a blocker nobody may approve past: the verdict follows the worst finding
  if verdict == "APPROVE" and items[1] and items[1].severity == "blocker" then verdict = "BLOCK" end
  return { verdict = verdict, summary = opt_string(f.summary) or "", items = items, checklist = checklist, sections = sections }
end

return M
