-- The offline judge: a persona's checklist judged against the story and the governance
-- documents sent to it, deterministically and without a model. Each item is "met" (a story
-- line quoted), "partial" (only a rule, ADR or instruction speaks to it, quoted with its
-- path), "n/a" (none of its `applies` words occur) or "missing". offline() turns that into
-- findings, with the sections the persona owns built from the evidence.
local text_mod = require("agent.text")

local M = {}

-- Quotes longer than this are cut: a checklist note is evidence, not a copy of the story.
local QUOTE_MAX = 200
-- Lines quoted per source in an offline section.
local QUOTES_PER_SECTION = 3

-- Words too common to be evidence when a checklist item is a bare string.
local STOPWORDS = {}
for w in ([[this that with from have does there their what when where which will would
  should could must been being into than then they them these those your about also each
  only other some such more most every any are is the and for not was were you its can
  how why who all new has had our out use used using]]):gmatch("%a+") do
  STOPWORDS[w] = true
end

local trim = text_mod.trim

-- ---- Text helpers ------------------------------------------------------------------------

-- A Lua pattern matching `word` case-insensitively (against lower-cased text) at word edges:
-- "log" finds "log" and "Log:" but not "login"; "/healthz" finds "GET /healthz".
local function word_pattern(word)
  local w = word:lower()
  local pat = w:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("%s+", "%%s+")
  local pre = w:sub(1, 1):match("%w") and "%f[%w_]" or ""
  local post = w:sub(-1):match("%w") and "%f[^%w_]" or ""
  return pre .. pat .. post
end

-- One line as a short quote: markup stripped, whitespace collapsed, cut at QUOTE_MAX.
function M.quote(line)
  local s = line:gsub("^%s*[-*+]%s+%[[ xX]%]%s*", ""):gsub("^%s*[-*+>]%s+", ""):gsub("^%s*%d+[.)]%s+", "")
  s = trim(s:gsub("%s+", " "))
  if #s > QUOTE_MAX then
    local cut = s:sub(1, QUOTE_MAX):gsub("[\128-\191]+$", ""):gsub("[\192-\255]$", "")
    s = cut .. "..."
  end
  return s
end

local function is_state_heading(title)
  local t = title:lower()
  return t == "state" or t == "status"
end

-- Whether a line states a document's state ("Status: X", "**State:** X"): never evidence.
local function is_state_line(line)
  return text_mod.status_value(line) ~= nil
end

-- Whether a line starts a block of its own (a list item, a table row, a quote) rather than
-- continuing the paragraph or item above it.
local function starts_block(line)
  return line:match("^%s*[-*+]%s") or line:match("^%s*%d+[.)]%s") or line:match("^%s*|") or line:match("^%s*>")
end

-- A redaction marker ([REDACTED:GITHUB_TOKEN]) stands for a secret the document leaked, so
-- its words ("redacted", "token") must not read as the document addressing secrets: each is
-- shown as [***], which no evidence word matches.
local function unmarked(line)
  if not line:find("[REDACTED:", 1, true) then return line end
  return (line:gsub("%[REDACTED:[%u%d_]+%]", "[***]"))
end

-- The units that hold no template placeholder: "As a **<role>**, I want ..." is a line
-- nobody wrote, so it is evidence of nothing.
local function without_placeholders(units)
  local out = {}
  for _, u in ipairs(units) do
    if not u.text:find("<", 1, true) or #text_mod.angle_placeholders(u.text) == 0 then out[#out + 1] = u end
  end
  return out
end

-- A function that takes the lines of prose in order and returns each without its HTML
-- comments (`<!-- ADR-NNN: ... -->`, the template's hints), which may span lines: a comment
-- is what a writer is told, never what they wrote.
local function comment_stripper()
  local open = false
  local function strip(line)
    local out, pos = {}, 1
    while pos <= #line do
      if open then
        local _, e = line:find("-->", pos, true)
        if not e then break end
        open, pos = false, e + 1
      else
        local s = line:find("<!--", pos, true)
        if not s then out[#out + 1] = line:sub(pos) break end
        out[#out + 1] = line:sub(pos, s - 1)
        open, pos = true, s + 4
      end
    end
    return table.concat(out)
  end
  return function(line)
    if not open and not line:find("<!--", 1, true) then return line end
    return (strip(line):gsub("(%S)%s%s+", "%1 "):gsub("%s+$", "")) -- "a <!-- b --> c" reads "a c"
  end
end

-- A document's units of text with the section each sits in: {text=, section=, line=}. A unit
-- is a paragraph or a list item with its wrapped lines joined, or one line of code. Headings,
-- fence markers, the H1 title and the state (section or line) are left out: they are never
-- evidence; nor are HTML comments, redaction markers (unmarked) or units holding a template
-- placeholder.
function M.story_lines(text)
  local out, section, fence, unit = {}, nil, text_mod.fences(), nil
  local uncomment = comment_stripper()
  local function close() unit = nil end
  for n, raw in text_mod.lines(text) do
    local where, line = fence(raw), unmarked(raw)
    if where == nil then line = uncomment(line) end
    if where == "open" or where == "close" then
      close()
    elseif where == "code" then
      if line:match("%S") then out[#out + 1] = { text = line, section = section, line = n } end
    elseif line:match("^#+%s") then
      close()
      local level = #line:match("^(#+)")
      section = level > 1 and trim(line:gsub("^#+%s*", ""):gsub("%s#+%s*$", "")) or nil
    elseif not line:match("%S") or (section and is_state_heading(section)) or is_state_line(line) then
      close()
    elseif unit and not starts_block(line) then
      unit.text = unit.text .. " " .. trim(line)
    else
      unit = { text = line, section = section, line = n }
      out[#out + 1] = unit
    end
  end
  return without_placeholders(out)
end

-- Sections of the story by title (case-insensitive): title -> {units...}.
local function story_sections(lines)
  local by, titles = {}, {}
  for _, l in ipairs(lines) do
    if l.section then
      local key = l.section:lower()
      if not by[key] then by[key] = {} titles[#titles + 1] = l.section end
      table.insert(by[key], l)
    end
  end
  return by, titles
end

-- ---- Checklist items ---------------------------------------------------------------------

-- The distinctive words of a free-text item ("No PII in logs" -> {"pii", "logs"}).
local function derived_words(text)
  local words, seen = {}, {}
  for w in text:lower():gmatch("[%w_/]+") do
    if #w >= 3 and not STOPWORDS[w] and not seen[w] and not w:match("^%d+$") then
      seen[w] = true
      words[#words + 1] = w
    end
  end
  return words
end

local function string_list(v, what)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  if type(v) ~= "table" then error(("checklist item field '%s' must be a list of strings"):format(what), 3) end
  local out = {}
  for i = 1, #v do
    if type(v[i]) ~= "string" then error(("checklist item field '%s' must be a list of strings"):format(what), 3) end
    out[i] = v[i]
  end
  return out
end

-- A checklist item in its full form. Items are either a string ("No PII in logs") or a table
-- { text=, field= (a runbook field it fills), evidence= {words}, sections= {story section
-- titles}, applies= {words}, guidance= }. A string's evidence is its distinctive words, and
-- a line must hold two of them (one when the item has only one) to count.
function M.item(v)
  if type(v) == "string" then v = { text = v } end
  if type(v) ~= "table" or type(v.text) ~= "string" then
    error("a checklist item must be a string or a table with a 'text' string", 2)
  end
  local item = {
    text = v.text, field = v.field, guidance = v.guidance,
    evidence = string_list(v.evidence, "evidence"), sections = string_list(v.sections, "sections"),
    applies = string_list(v.applies, "applies"), min_hits = 1,
  }
  if #item.evidence == 0 and #item.sections == 0 then
    item.evidence = derived_words(v.text)
    item.min_hits = math.min(2, math.max(1, #item.evidence))
    item.derived = true
  end
  return item
end

-- {plain=, pat=} of each evidence word met so far. A word's pair depends on the word alone,
-- and the judge asks for the same few words against every line of every document sent;
-- checklists are finite, so this stays small.
local compiled = {}

-- Each word as {plain = literal text every match holds, pat = its word-edge pattern}: the
-- plain test runs at memchr speed and rules out most text before the pattern runs.
local function patterns(words)
  local pats = {}
  for i, w in ipairs(words) do
    local p = compiled[w]
    if not p then
      -- the pattern lets any run of spaces stand for one: only its first word is literal
      p = { plain = w:lower():match("%S+") or "", pat = word_pattern(w) }
      compiled[w] = p
    end
    pats[i] = p
  end
  return pats
end

-- How many of the words occur in `low` (already lower-cased), stopping at `enough`. A match
-- of the pattern starts where its plain text does, so the pattern (which has no memchr fast
-- path) starts at the first plain hit: %f still sees the byte before it.
local function count_hits(low, pats, enough)
  local hits = 0
  for _, p in ipairs(pats) do
    local at = low:find(p.plain, 1, true)
    if at and low:find(p.pat, at) then
      hits = hits + 1
      if hits >= enough then break end
    end
  end
  return hits
end

-- A unit's (or a document's) lower-cased text, computed once: the judge reads every unit for
-- every checklist item.
local function lowered(unit)
  local low = unit.low
  if not low then
    low = unit.text:lower()
    unit.low = low
  end
  return low
end

local function document_low(lines)
  local low = lines.low
  if not low then
    local parts = {}
    for i, l in ipairs(lines) do parts[i] = lowered(l) end
    low = table.concat(parts, "\n")
    lines.low = low
  end
  return low
end

-- A unit's sentences: each ends at . ! or ? followed by a space ("app.py" and "0.7%" stay).
local function sentences(text)
  local out, start = {}, 1
  while true do
    local s, e = text:find("[.!?]%s+", start)
    if not s then
      out[#out + 1] = text:sub(start)
      return out
    end
    out[#out + 1] = text:sub(start, s)
    start = e + 1
  end
end

-- The sentence of a unit that holds the most of the words (the first such): what a note
-- quotes, rather than a whole paragraph or a line cut where the story happened to wrap.
local function best_sentence(text, pats)
  local best, best_hits = text, 0
  for _, sentence in ipairs(sentences(text)) do
    local hits = count_hits(sentence:lower(), pats, #pats)
    if hits > best_hits then best, best_hits = sentence, hits end
  end
  return best
end

-- The units (up to `max`) where at least min_hits of the words occur, each with `quote`, the
-- sentence to cite. A document holding fewer than min_hits of the words anywhere is skipped
-- whole.
local function find_lines(lines, words, min_hits, max)
  local pats = patterns(words)
  local found = {}
  if #pats == 0 or count_hits(document_low(lines), pats, min_hits) < min_hits then return found end
  for _, l in ipairs(lines) do
    if count_hits(lowered(l), pats, min_hits) >= min_hits and not l.text:find("```", 1, true) then
      found[#found + 1] = { text = l.text, section = l.section, line = l.line, quote = best_sentence(l.text, pats) }
      if #found >= max then break end
    end
  end
  return found
end

-- The units of each document the judge reads, kept per document table (weakly): every
-- persona of a panel judges the same story, rules and ADRs, the same tables (read-only views
-- included), and splitting them again for each took a quarter of an offline run. The text is
-- kept too, so a table whose text has changed is split afresh. The judge never hands these
-- units out: what it returns quotes them in new tables.
local units_memo = setmetatable({}, { __mode = "k" })

local function units_of(doc, field)
  local text = doc[field] or ""
  local per = units_memo[doc]
  if not per then
    per = {}
    units_memo[doc] = per
  end
  local hit = per[field]
  if not hit or hit.text ~= text then
    hit = { text = text, units = M.story_lines(text) }
    per[field] = hit
  end
  return hit.units
end

-- What the offline judge reads: the story's lines and the governance documents sent to this
-- persona (matched rules, accepted ADRs, its role's instructions, compliance documents).
function M.sources(ctx)
  local story = type(ctx.story) == "table" and units_of(ctx.story, "text") or M.story_lines("")
  local standards = {}
  local function add(list, field)
    for _, doc in ipairs(list or {}) do
      standards[#standards + 1] = { relpath = doc.relpath, lines = units_of(doc, field) }
    end
  end
  add(ctx.rules, "body")
  add(ctx.adrs, "text")
  add(ctx.instructions, "text")
  add(ctx.compliance, "text")
  local sections, titles = story_sections(story)
  return { story = story, sections = sections, titles = titles, standards = standards }
end

-- A story section that is itself the evidence: one the item names, or, for an item whose
-- evidence is its own words, a section whose title holds enough of them ("Are the
-- acceptance criteria testable?" is answered by a non-empty "Acceptance Criteria").
local function section_evidence(item, sources)
  local function first(key)
    local units = sources.sections[key]
    if units and #units > 0 then
      local u = units[1]
      return { { text = u.text, section = u.section, line = u.line, quote = u.text } }
    end
  end
  for _, title in ipairs(item.sections) do
    local hit = first(title:lower())
    if hit then return hit end
  end
  if item.derived then
    local pats = patterns(item.evidence)
    for _, title in ipairs(sources.titles) do
      if count_hits(title:lower(), pats, item.min_hits) >= item.min_hits then return first(title:lower()) end
    end
  end
end

-- Judges one item against the sources: "met" with the story quoted, "partial" when only the
-- governance documents speak to it (quoted with their path), "n/a" when none of its
-- `applies` words occur in the story, "missing" otherwise.
-- Returns {item=, status=, note=, story={line...}, standards={{relpath=, text=}...}}.
function M.judge_item(item, sources)
  local entry = { item = item.text, field = item.field, guidance = item.guidance, story = {}, standards = {} }
  if #item.applies > 0 and #find_lines(sources.story, item.applies, 1, 1) == 0 then
    entry.status = "n/a"
    entry.note = ("the story mentions none of: %s"):format(table.concat(item.applies, ", "))
    return entry
  end
  entry.story = section_evidence(item, sources) or find_lines(sources.story, item.evidence, item.min_hits, QUOTES_PER_SECTION)
  for _, doc in ipairs(sources.standards) do
    local hit = find_lines(doc.lines, item.evidence, item.min_hits, 1)[1]
    if hit then
      entry.standards[#entry.standards + 1] = { relpath = doc.relpath, text = hit.text, quote = hit.quote, line = hit.line }
      if #entry.standards >= QUOTES_PER_SECTION then break end
    end
  end
  if #entry.story > 0 then
    local l = entry.story[1]
    entry.status = "met"
    entry.note = ('story%s: "%s"'):format(l.section and (" (" .. l.section .. ")") or "", M.quote(l.quote or l.text))
  elseif #entry.standards > 0 then
    local s = entry.standards[1]
    entry.status = "partial"
    entry.note = ('not in the story; %s says: "%s"'):format(s.relpath, M.quote(s.quote or s.text))
  else
    entry.status = "missing"
    entry.note = "neither the story nor the rules, ADRs or instructions sent to the panel address it"
  end
  return entry
end

local function judge_all(checklist, sources)
  local out = {}
  for i, raw in ipairs(checklist or {}) do
    out[i] = M.judge_item(M.item(raw), sources)
  end
  return out
end

-- Judges a persona's whole checklist: array of judged entries (see judge_item).
function M.judge(ctx, checklist)
  return judge_all(checklist or ctx.persona.checklist, M.sources(ctx))
end

-- ---- Offline review ----------------------------------------------------------------------

-- A section title as words inside a sentence: lower-cased, but for acronyms (a word with two
-- capitals or more: "CI/CD Pipeline" -> "CI/CD pipeline", "API Definition" -> "API definition").
local function in_prose(title)
  return (title:gsub("%S+", function(word)
    local _, capitals = word:gsub("%u", "")
    return capitals >= 2 and word or word:lower()
  end))
end

local function section_markdown(entries, field_title)
  local guidance, story, standards, seen = {}, {}, {}, {}
  for _, e in ipairs(entries) do
    if e.guidance then guidance[#guidance + 1] = e.guidance end
    for _, l in ipairs(e.story) do
      local q = ('"%s"%s'):format(M.quote(l.quote or l.text), l.section and (" (story, " .. l.section .. ")") or " (story)")
      if not seen[q] and #story < QUOTES_PER_SECTION then seen[q] = true story[#story + 1] = "- " .. q end
    end
    for _, s in ipairs(e.standards) do
      local q = ('`%s`: "%s"'):format(s.relpath, M.quote(s.quote or s.text))
      if not seen[q] and #standards < QUOTES_PER_SECTION then seen[q] = true standards[#standards + 1] = "- " .. q end
    end
  end
  local out = {}
  local escape = text_mod.escape_braces -- quoted text is never a placeholder
  for i, q in ipairs(story) do story[i] = escape(q) end
  for i, q in ipairs(standards) do standards[i] = escape(q) end
  if #guidance > 0 then out[#out + 1] = "Required: " .. table.concat(guidance, " ") end
  if #story > 0 then
    out[#out + 1] = "What the story says:\n" .. table.concat(story, "\n")
  else
    out[#out + 1] = ("The story does not specify the %s; settle it before implementation."):format(in_prose(field_title))
  end
  if #standards > 0 then out[#out + 1] = "What the governance documents require:\n" .. table.concat(standards, "\n") end
  return table.concat(out, "\n\n")
end

-- Why the story itself gives this checklist nothing to approve, or nil. The governance
-- documents say what every change must do, not what this one does: a story with no sections,
-- or one that meets none of the items that apply to it, is not approved on their word alone.
function M.unsupported(sources, counts)
  if #sources.titles == 0 then
    return "The story has no sections ('## ' headings): there is nothing in it to review; write its sections "
      .. "(Problem Statement, User Story, Acceptance Criteria, ...) and run the panel again."
  end
  if counts.met == 0 and counts.partial + counts.missing > 0 then
    return "Nothing in the story meets any item of this checklist: the governance documents alone do not say "
      .. "what this change does."
  end
end

-- The default offline review: every checklist item judged against the story and the
-- governance documents, deterministically. A "missing" item is a CHANGES finding; an item
-- only the documents speak to is a minor finding citing them. Owned fields get sections
-- built from the evidence and the items' guidance.
function M.offline(ctx)
  local p = ctx.persona
  local sources = M.sources(ctx) -- read once: the checklist and the unsupported check share it
  local judged = judge_all(p.checklist, sources)
  local findings = { items = {}, checklist = {}, sections = {} }
  local counts = { met = 0, partial = 0, missing = 0, ["n/a"] = 0 }
  for _, e in ipairs(judged) do
    counts[e.status] = counts[e.status] + 1
    findings.checklist[#findings.checklist + 1] = { item = e.item, status = e.status, note = e.note }
    if e.status == "missing" then
      findings.items[#findings.items + 1] = {
        severity = "major",
        text = ("%s: not specified.%s"):format(e.item, e.guidance and (" " .. e.guidance) or ""),
      }
    elseif e.status == "partial" then
      findings.items[#findings.items + 1] = {
        severity = "minor", rule = e.standards[1].relpath,
        text = ("%s: the story is silent; follow %s."):format(e.item, e.standards[1].relpath),
      }
    end
  end
  local unsupported = M.unsupported(sources, counts)
  if unsupported then findings.items[#findings.items + 1] = { severity = "major", text = unsupported } end
  local by = require("agent.synthesis").BY_KEY
  for _, key in ipairs(p.owns or {}) do
    local mine = {}
    for _, e in ipairs(judged) do if e.field == key then mine[#mine + 1] = e end end
    local f = by[key]
    findings.sections[key] = section_markdown(mine, f and f.title or key)
  end
  -- the rule every review's verdict follows: a missing item means CHANGES
  findings.verdict = require("agent.findings").settle_verdict(unsupported and "CHANGES" or "APPROVE", findings.items,
    findings.checklist)
  findings.summary = ("Offline checklist review: %d met in the story, %d covered only by the governance documents, %d missing, %d not applicable.")
    :format(counts.met, counts.partial, counts.missing, counts["n/a"])
  return findings
end

return M
