-- The runbook gates: what must hold before a runbook is written or accepted. check() returns
-- every problem with the runbook line it concerns; an empty list means the runbook passes.
-- docs/runbook-format.md lists each gate.
--
-- The steps are checked as an implementer would apply them, in order, against a virtual copy
-- of the repository: a SEARCH is matched against the file as earlier blocks and steps left
-- it, a [NEW] file exists for the steps after it, a [DELETE]d one does not. Each file is read
-- at most once.
local fs = require("agent.fs")
local paths = require("agent.paths")
local runbook = require("agent.runbook")
local text_mod = require("agent.text")

local M = {}

local trim = text_mod.trim

-- Section titles compare without case and with runs of spaces folded.
local function norm(title) return trim(title):gsub("%s+", " "):lower() end

-- ---- Structure: title, status, sections --------------------------------------------------

local function check_title(p, add)
  local line = p.title_line and p.lines[p.title_line]
  if not line then
    add(1, "missing title line '# <ID>: <Title>'")
  elseif not line:match("^#%s+[%a][%w_]*%-%d+%s*:%s*%S") then
    add(p.title_line, ("title must read '# <ID>: <Title>', found '%s'"):format(trim(line)))
  end
end

local VALID_STATE = {}
for _, s in ipairs(runbook.STATES) do VALID_STATE[s] = true end

local function check_status(p, add)
  if not p.status then
    add((p.title_line or 0) + 1, "missing status: put a line 'Status: PROPOSED' under the title")
  elseif not VALID_STATE[p.status] then
    add(p.status_line, ("status '%s' is not one of %s"):format(p.status_raw, table.concat(runbook.STATES, ", ")))
  end
end

-- The first heading of `level` titled `title` whose line is in (from_line, to_line].
local function find_heading(sections, level, title, from_line, to_line)
  local want = norm(title)
  for _, s in ipairs(sections) do
    if s.level == level and s.line > from_line and s.line <= to_line and norm(s.title) == want then return s end
  end
end

-- Checks that each wanted heading exists in [from_line, to_line] and that they come in order.
-- Returns the headings found, by title.
local function check_order(p, level, titles, from_line, to_line, add)
  local found, last = {}, nil
  for _, title in ipairs(titles) do
    local h = find_heading(p.sections, level, title, from_line, to_line)
    found[title] = h
    if h and last and h.line < last.h.line then
      add(h.line, ("section '%s %s' is out of order: it belongs after '%s %s'"):format(("#"):rep(level), title, ("#"):rep(level), last.title))
    end
    if h and (not last or h.line > last.h.line) then last = { h = h, title = title } end
  end
  for i, title in ipairs(titles) do
    if not found[title] then
      -- reported at the heading it belongs before: the next one found, else the one after
      -- the enclosing range
      local at = math.max(1, math.min(to_line + 1, #p.lines))
      for j = i + 1, #titles do
        if found[titles[j]] then at = found[titles[j]].line break end
      end
      add(at, ("missing section '%s %s'"):format(("#"):rep(level), title))
    end
  end
  return found
end

-- The non-blank lines of the i-th section's own body (from its heading to the next heading
-- of any level), in order.
local function body_text_lines(p, i)
  local h, next_h = p.sections[i], p.sections[i + 1]
  local stop = next_h and math.min(h.end_line, next_h.line - 1) or h.end_line
  local out = {}
  for n = h.line + 1, stop do
    local line = p.lines[n] or ""
    if line:find("%S") then out[#out + 1] = line end
  end
  return out
end

local PLACEHOLDER_WORDS = { tbd = true, todo = true, fixme = true }

-- A required section with nothing under it (subsections included) is unfilled.
local function check_filled(p, h, title, add)
  for n = h.line + 1, h.end_line do
    if (p.lines[n] or ""):find("%S") then return end
  end
  add(h.line, ("section '%s' is empty"):format(title))
end

local function check_sections(p, add)
  local last_line = #p.lines
  local top = {}
  for _, s in ipairs(runbook.SECTIONS) do top[#top + 1] = s.title end
  local found = check_order(p, 2, top, 0, last_line, add)
  for _, s in ipairs(runbook.SECTIONS) do
    local h = found[s.title]
    if h and s.children then
      local kids = check_order(p, 3, s.children, h.line, h.end_line, add)
      for _, c in ipairs(s.children) do
        if kids[c] then check_filled(p, kids[c], c, add) end
      end
    elseif h then
      check_filled(p, h, s.title, add)
    end
  end
end

-- Any section whose whole body is TBD, TODO or FIXME (list marker and emphasis aside), or
-- whose text starts "TBD:" (how an offline runbook marks a section the story left it no
-- text for: it must be written before the runbook can be accepted).
local function check_placeholder_sections(p, add)
  for i, h in ipairs(p.sections) do
    local body = body_text_lines(p, i)
    local word = trim(#body == 1 and body[1] or ""):gsub("^[-*+]%s+", ""):gsub("[%*_%.:!]", "")
    local lead = trim(body[1] or ""):gsub("^[-*+]%s+", ""):gsub("^[%*_]+", ""):match("^(%a+)[%*_]*:")
    if PLACEHOLDER_WORDS[word:lower()] then
      add(h.line, ("section '%s' is a placeholder ('%s')"):format(h.title, word))
    elseif lead and PLACEHOLDER_WORDS[lead:lower()] then
      add(h.line, ("section '%s' is a placeholder: it starts '%s:' and must be written before acceptance")
        :format(h.title, lead))
    end
  end
end

-- ---- Structure: placeholders and fences --------------------------------------------------

-- Placeholder shapes left by templates: {panel_checks}, {{ x }}, <STORY-ID>, <Title>, ...
local PLACEHOLDERS = {
  "{{.-}}",
  "{[%a_][%w_]*_[%w_]*}",
  "<%u[%u%d_%-]+>",
  "<%s*Title%s*>",
  "%[Component%]",
}

-- The line as it renders, roughly: code spans dropped, backslash escapes undone. A brace
-- escaped as `\{` was written as text on purpose (story text quoted in the runbook is, by
-- text.escape_braces): it becomes a parenthesis, which no placeholder shape holds.
local function visible_text(line)
  return (line:gsub("(`+).-%1", ""):gsub("\\{", "("):gsub("\\}", ")"):gsub("\\(%p)", "%1"))
end

-- The Gate Report section quotes gate messages, which name the placeholders they found:
-- those quotes are not placeholders themselves.
local function gate_report_lines(p)
  local skip = {}
  for _, h in ipairs(p.sections) do
    if h.level == 2 and norm(h.title) == "gate report" then
      for n = h.line, h.end_line do skip[n] = true end
    end
  end
  return skip
end

-- Every placeholder on a line, in order of position: the runbook template's shapes and the
-- story template's `<role>`-style ones (which a story's text can carry into the runbook).
local function line_placeholders(line)
  local text, found = visible_text(line), {}
  for _, pat in ipairs(PLACEHOLDERS) do
    local init = 1
    while true do
      local s, e = text:find(pat, init)
      if not s then break end
      found[#found + 1] = { at = s, stop = e, hit = text:sub(s, e) }
      init = e + 1
    end
  end
  local init = 1
  for _, hit in ipairs(text_mod.angle_placeholders(line)) do
    local s = text:find(hit, init, true)
    if s then
      found[#found + 1] = { at = s, stop = s + #hit - 1, hit = hit }
      init = s + #hit
    end
  end
  table.sort(found, function(a, b) return a.at < b.at or (a.at == b.at and a.stop > b.stop) end)
  -- one report per span: `{{ panel_checks }}` holds a `{panel_checks}` of its own
  local out, reach = {}, 0
  for _, f in ipairs(found) do
    if f.at > reach then out[#out + 1] = f.hit reach = f.stop end
  end
  return out
end

local function check_placeholders(p, in_code, add)
  local quoted = gate_report_lines(p)
  for n, line in ipairs(p.lines) do
    if not in_code[n] and not quoted[n] and line:find("[{<%[]") then
      for _, hit in ipairs(line_placeholders(line)) do add(n, ("unfilled placeholder '%s'"):format(hit)) end
    end
  end
end

-- A line with its blockquote markers ("> ", up to three spaces before each) taken off.
local function unquote(line)
  local rest, n = line, 1
  while n > 0 do rest, n = rest:gsub("^ ? ? ?> ?", "", 1) end
  return rest
end

-- cmark closes a fence left open at the end of its container; the source shows it: the
-- block's last line is not a closing fence (text.closes_fence: at most three spaces in, a
-- run at least as long as the opening one). Indentation counts from the opening line's, as
-- the container (a list item) indents both.
local function check_fences(p, add)
  for _, b in ipairs(p.code_blocks) do
    if b.fence ~= "" then
      local opening = unquote(p.lines[b.line] or "")
      local closing = unquote(p.lines[b.end_line] or "")
      local shift = math.min(#closing:match("^ *"), #opening:match("^ *"))
      if b.end_line == b.line or not text_mod.closes_fence(closing:sub(shift + 1), b.fence:sub(1, 1), #b.fence) then
        add(b.line, ("code fence '%s' opened here is never closed"):format(b.fence))
      end
    end
  end
end

-- ---- Steps against the repository --------------------------------------------------------

-- Why a step path is not a safe, plain repo-relative path, or nil. Plain matters too: the
-- steps are simulated per path, so `src/./a.py` and `src/a.py` must not both name one file.
local function unsafe_path(path)
  if path:sub(1, 1) == "/" or path:sub(1, 1) == "~" then return "is absolute; paths are relative to the repository root" end
  if path:find(":", 1, true) then return "contains ':'" end
  if path:find("\\", 1, true) then return "contains '\\'; use '/'" end
  if path:sub(-1) == "/" then return "names a directory" end
  if path:find("//", 1, true) then return "contains '//'" end
  for part in path:gmatch("[^/]+") do
    if part == ".." then return "contains '..'" end
    if part == "." then return "contains a '.' component" end
    if part == ".git" then return "is inside .git/" end
  end
end

-- The repository as the steps leave it: path -> {exists=, dir=, text=, by=line}, read lazily.
local function virtual_repo(root_real)
  local files = {}
  local repo = {}

  -- Whether path, or its nearest existing ancestor, resolves inside the root, by the one
  -- rule every write follows (paths.check_inside: a dangling symlink is refused too, as
  -- applying the step would write through it). Asked once per path: the answer cannot
  -- change while the steps are only simulated.
  local inside = {}
  function repo.inside(path)
    if inside[path] == nil then inside[path] = paths.check_inside(root_real, root_real .. "/" .. path) == true end
    return inside[path]
  end

  function repo.get(path)
    local f = files[path]
    if f then return f end
    local abs = root_real .. "/" .. path
    local st = fs.stat(abs)
    if not st then
      f = { exists = false }
    elseif st.type == "directory" then
      f = { exists = true, dir = true }
    else
      local text, err = fs.read(abs)
      f = { exists = true, text = text and text_mod.normalize(text), error = err }
    end
    files[path] = f
    return f
  end

  function repo.set(path, f) files[path] = f end
  return repo
end

-- Start offsets of every occurrence of search in text that begins and ends on line
-- boundaries: a SEARCH is whole lines of the file.
local function occurrences(text, search)
  local found, init = {}, 1
  while true do
    local s, e = text:find(search, init, true)
    if not s then return found end
    local starts = s == 1 or text:byte(s - 1) == 10
    local ends = e == #text or text:byte(e + 1) == 10
    if starts and ends then found[#found + 1] = s end
    init = s + 1
  end
end

local function line_of(text, offset)
  local n = 1
  for _ in text:sub(1, offset - 1):gmatch("\n") do n = n + 1 end
  return n
end

local split = text_mod.split_lines

-- Character-bigram similarity (Dice coefficient) of two trimmed lines, 0..1.
local function similarity(a, b)
  if a == b then return 1 end
  if #a < 2 or #b < 2 then return 0 end
  local grams, total = {}, 0
  for i = 1, #a - 1 do local g = a:sub(i, i + 1) grams[g] = (grams[g] or 0) + 1 end
  for i = 1, #b - 1 do
    local g = b:sub(i, i + 1)
    if (grams[g] or 0) > 0 then grams[g] = grams[g] - 1 total = total + 1 end
  end
  return 2 * total / (#a + #b - 2)
end

-- Where a SEARCH that was not found comes closest, in words: the file line that starts
-- like it (whitespace aside) and agrees with it longest, else the most similar line.
local function closest(text, search)
  local file, want = split(text), split(search)
  local k0 = 1
  while want[k0] and not want[k0]:find("%S") do k0 = k0 + 1 end
  local first = trim(want[k0] or "")
  local best, agree
  for i, line in ipairs(file) do
    if trim(line) == first then
      local k = 0
      while want[k0 + k] and file[i + k] == want[k0 + k] do k = k + 1 end
      if not best or k > agree then best, agree = i, k end
    end
  end
  if best then
    local same = true
    for k = k0, #want do
      local line = file[best + k - k0]
      if not line or trim(line) ~= trim(want[k]) then same = false break end
    end
    if same and k0 + agree <= #want then
      return ("closest is line %d, which differs only in whitespace"):format(best)
    elseif k0 + agree > #want then
      return ("its text matches from line %d, but not the blank lines before it"):format(best)
    end
    return ("closest is line %d, which differs at SEARCH line %d"):format(best, k0 + agree)
  end
  local top, score = nil, 0.5
  for i, line in ipairs(file) do
    local s = similarity(first, trim(line))
    if s > score then top, score = i, s end
  end
  if top then return ("closest line is %d"):format(top) end
  return "no similar line in the file"
end

local function describe(step) return ("[%s] %s"):format(step.op, step.path) end

-- The problem of a step whose file does not exist (naming the step that deleted it).
local function missing_file(step, f)
  return ("%s: file does not exist%s"):format(describe(step), f.by and (" (deleted at line " .. f.by .. ")") or "")
end

local function check_blocks(step, f, add)
  local text = f.text
  for i, b in ipairs(step.blocks) do
    local label = #step.blocks > 1 and ("SEARCH block %d"):format(i) or "SEARCH block"
    local search = text_mod.normalize(b.search or "")
    local replace = text_mod.normalize(b.replace or "")
    if not search:find("%S") then
      add(b.line, ("%s: %s is empty; an empty SEARCH cannot be applied"):format(describe(step), label))
    else
      local at = occurrences(text, search)
      if #at == 0 then
        add(b.line, ("%s: %s not found in the file; %s"):format(describe(step), label, closest(text, search)))
      elseif #at > 1 then
        local where = {}
        for j = 1, math.min(#at, 5) do where[j] = tostring(line_of(text, at[j])) end
        add(b.line, ("%s: %s occurs %d times (lines %s%s); it must match exactly once")
          :format(describe(step), label, #at, table.concat(where, ", "), #at > 5 and ", ..." or ""))
      else
        local s, e = at[1], at[1] + #search - 1
        if replace == "" and text:byte(e + 1) == 10 then e = e + 1 end -- drop the emptied lines
        text = text:sub(1, s - 1) .. replace .. text:sub(e + 1)
      end
    end
  end
  f.text = text
end

local function check_modify(step, repo, add)
  local f = repo.get(step.path)
  if not f.exists then
    add(step.line, missing_file(step, f))
  elseif f.dir then
    add(step.line, ("%s: is a directory"):format(describe(step)))
  elseif not f.text then
    add(step.line, ("%s: %s"):format(describe(step), f.error or "cannot read the file"))
  elseif #step.blocks == 0 then
    if not step.description then
      add(step.line, ("%s: no SEARCH/REPLACE blocks and no description of the change"):format(describe(step)))
    end
  else
    check_blocks(step, f, add)
  end
end

local function check_new(step, repo, add)
  local f = repo.get(step.path)
  if f.exists then
    add(step.line, ("%s: already exists%s"):format(describe(step), f.by and (" (created at line " .. f.by .. ")") or ""))
  end
  if step.content == nil or step.content == "" then
    add(step.line, ("%s: no file content; a [NEW] step holds the whole file in a fence"):format(describe(step)))
  end
  repo.set(step.path, { exists = true, text = text_mod.normalize(step.content or ""), by = step.line })
end

local function check_delete(step, repo, add)
  local f = repo.get(step.path)
  if not f.exists then
    add(step.line, missing_file(step, f))
  end
  if not step.rationale then
    add(step.line, ("%s: no rationale; add a line 'Rationale: ...'"):format(describe(step)))
  end
  repo.set(step.path, { exists = false, by = step.line })
end

local CHECK_STEP = { MODIFY = check_modify, NEW = check_new, DELETE = check_delete }

local function check_steps(p, root, add)
  local root_real = fs.realpath(root)
  if not root_real then
    add(1, ("cannot check steps: repository root '%s' is not accessible"):format(root))
    return
  end
  local repo = virtual_repo(root_real)
  for _, step in ipairs(p.steps) do
    if step.path then
      local bad = unsafe_path(step.path)
      if bad then
        add(step.line, ("%s: path %s"):format(describe(step), bad))
      elseif not repo.inside(step.path) then
        add(step.line, ("%s: path resolves outside the repository"):format(describe(step)))
      else
        CHECK_STEP[step.op](step, repo, add)
      end
    end
  end
end

-- report_markdown(problems) -> the body of a runbook's Gate Report section: each problem
-- that remains, with its line, as a markdown list.
function M.report_markdown(problems)
  local md = require("agent.mdutil")
  local lines = {}
  for _, p in ipairs(problems) do
    lines[#lines + 1] = (p.line and ("line " .. tostring(p.line) .. ": ") or "") .. md.escape_inline(p.message)
  end
  return "These gate problems remain; fix them before accepting this runbook:\n\n" .. md.bullets(lines)
end

-- ---- check -------------------------------------------------------------------------------

-- check(text_or_parsed, root) -> problems: {{line=, message=}} sorted by line (ties keep the
-- order found). root is the repository the steps apply to.
function M.check(runbook_or_text, root)
  assert(type(root) == "string", "gates.check: root must be a string")
  local p = runbook_or_text
  if type(p) == "string" then
    local err
    p, err = runbook.parse(p)
    if not p then return { { line = 1, message = err } } end
  end
  assert(type(p) == "table" and p.lines and p.steps, "gates.check: expected runbook text or runbook.parse() output")
  local problems = {}
  local function add(line, message) problems[#problems + 1] = { line = line or 1, message = message, seq = #problems } end
  for _, pr in ipairs(p.problems) do add(pr.line, pr.message) end
  local in_code = {}
  for _, b in ipairs(p.code_blocks) do for n = b.line, b.end_line do in_code[n] = true end end
  check_title(p, add)
  check_status(p, add)
  check_sections(p, add)
  check_placeholder_sections(p, add)
  check_placeholders(p, in_code, add)
  check_fences(p, add)
  check_steps(p, root, add)
  table.sort(problems, function(a, b)
    if a.line ~= b.line then return a.line < b.line end
    return a.seq < b.seq
  end)
  for _, pr in ipairs(problems) do pr.seq = nil end
  return problems
end

return M
