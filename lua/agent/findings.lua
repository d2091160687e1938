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
  -- worst first, in the order given within a severity (table.sort is not stable)
  local at = {}
  for i, it in ipairs(items) do at[it] = i end
  table.sort(items, function(a, b)
    local ra, rb = SEVERITY_RANK[a.severity], SEVERITY_RANK[b.severity]
    if ra ~= rb then return ra < rb end
    return at[a] < at[b]
  end)
  return items
end

-- The key an entry names an item by: case, punctuation, spacing and a leading number or
-- bullet ("1.", "-", "[x]") aside.
local function item_key(s)
  s = s:gsub("^%s*[-*+]%s+", ""):gsub("^%s*%[[ xX]%]%s+", ""):gsub("^%s*%d+[.)]%s+", "")
  return norm_key(s)
end

-- Entries for the items a review did not assess (strict: none may be left).
local NOT_ASSESSED = "the review did not assess this item"
local UNASSESSED_SHOWN = 5

local function unassessed_reason(missing)
  local shown = {}
  for i = 1, math.min(#missing, UNASSESSED_SHOWN) do shown[i] = '"' .. missing[i] .. '"' end
  local more = #missing > UNASSESSED_SHOWN and (" and %d more"):format(#missing - UNASSESSED_SHOWN) or ""
  return ("the checklist does not assess %s%s: give one entry per item of your checklist, its \"item\" copied verbatim")
    :format(table.concat(shown, ", "), more)
end

-- The given checklist entries: {item=, status=, note=} with status nil when it is not one of
-- the words, or nil, reason for an entry that is no object (or names no item, when strict).
local function given_entries(raw, strict)
  local given = {}
  for i = 1, raw and #raw or 0 do
    local c = raw[i]
    if type(c) == "string" then c = { item = c } end -- an item named, but not judged
    if type(c) ~= "table" then return nil, ("checklist[%d] must be an object"):format(i) end
    local item = opt_string(c.item) or opt_string(c.text) or ""
    local status = STATUS_WORDS[(opt_string(c.status) or ""):lower()]
    if strict and item == "" then return nil, ("checklist[%d] names no item: copy the item's text into \"item\""):format(i) end
    if strict and not status then
      return nil, ("checklist entry \"%s\" needs a status: met, partial, missing or n/a"):format(item)
    end
    given[#given + 1] = { item = item, status = status, note = opt_string(c.note) }
  end
  return given
end

-- Pairs the reply's checklist with the persona's by the text each entry names, never by
-- position: an entry is about the item it names. An item no entry names is "missing"
-- (silence is not approval); with opts.complete (a model's review) it makes the whole review
-- unusable instead, and the reason names the items. Entries naming no item of the persona's
-- are kept after its own.
local function normalize_checklist(raw, persona, complete)
  if raw == cjson.null then raw = nil end
  if raw ~= nil and type(raw) ~= "table" then return nil, "'checklist' must be an array" end
  local given, gerr = given_entries(raw, complete)
  if not given then return nil, gerr end
  local by_key = {}
  for j, g in ipairs(given) do
    local key = item_key(g.item)
    if key ~= "" and not by_key[key] then by_key[key] = j end
  end
  local out, used, missing = {}, {}, {}
  for _, raw_item in ipairs(persona and persona.checklist or {}) do
    local text = require("agent.judge").item(raw_item).text
    local j = by_key[item_key(text)]
    local g = j and not used[j] and given[j]
    if g then
      used[j] = true
      out[#out + 1] = { item = text, status = g.status or "missing", note = g.status and g.note or "no status given" }
    else
      missing[#missing + 1] = text
      out[#out + 1] = { item = text, status = "missing", note = NOT_ASSESSED }
    end
  end
  if complete and #missing > 0 then return nil, unassessed_reason(missing) end
  for j, g in ipairs(given) do
    if not used[j] and g.item ~= "" then out[#out + 1] = { item = g.item, status = g.status or "missing", note = g.note } end
  end
  return out
end

-- The verdict a review may keep, one rule for model and offline reviews alike: a blocker
-- nobody may approve past (BLOCK), and an approval with a checklist item missing is a
-- request for changes.
function M.settle_verdict(verdict, items, checklist)
  if verdict ~= "APPROVE" then return verdict end
  for _, it in ipairs(items or {}) do
    if it.severity == "blocker" then return "BLOCK" end
  end
  for _, c in ipairs(checklist or {}) do
    if c.status == "missing" then return "CHANGES" end
  end
  return verdict
end

local function owned_set(persona)
  local set = {}
  for _, f in ipairs(persona and persona.owns or {}) do set[f] = true end
  return set
end

-- findings.normalize(f, persona [, {complete=}]) -> findings | nil, reason
-- Validates and normalises findings (a parsed model reply, or what a script's review or
-- offline returned) into the contract's shape; the reason goes back to the model on the one
-- retry. complete: every item of the persona's checklist must be assessed by name (a model's
-- review); without it an item left out is "missing".
function M.normalize(f, persona, opts)
  if type(f) ~= "table" then return nil, "the reply is not a JSON object" end
  local verdict = VERDICT_WORDS[(opt_string(f.verdict) or ""):upper():gsub("[%s%-]+", "_")]
  if not verdict then
    return nil, ("'verdict' must be \"APPROVE\", \"CHANGES\" or \"BLOCK\" (got %s)"):format(
      f.verdict == nil and "nothing" or ("'" .. tostring(opt_string(f.verdict) or f.verdict) .. "'"))
  end
  local items, ierr = normalize_items(f.items or f.findings)
  if not items then return nil, ierr end
  local checklist, cerr = normalize_checklist(f.checklist, persona, opts and opts.complete)
  if not checklist then return nil, cerr end
  local sections, owned = {}, owned_set(persona)
  if f.sections ~= nil and f.sections ~= cjson.null then
    if type(f.sections) ~= "table" then return nil, "'sections' must be an object of field -> markdown" end
    for field, text in pairs(f.sections) do
      local s = opt_string(text)
      if type(field) == "string" and s and (owned[field] or next(owned) == nil) then sections[field] = s end
    end
  end
  verdict = M.settle_verdict(verdict, items, checklist)
  return { verdict = verdict, summary = opt_string(f.summary) or "", items = items, checklist = checklist, sections = sections }
end

return M
