-- The runbook reader: parses a runbook's markdown into its title, status, sections and
-- machine-executable steps, and rewrites its status. docs/runbook-format.md is the format.
--
-- Structure comes from agent.markdown (cmark), so fences are matched by length as CommonMark
-- does: a [NEW] markdown file holding ``` blocks and `## headings` inside a longer fence
-- stays one step. Heading lines are read from the source, not from cmark's plain text, so
-- a path like `src/__init__.py` keeps its underscores. Nothing here touches the disk.
local markdown = require("agent.markdown")
local text_mod = require("agent.text")

local M = {}

-- Where runbooks live, from the repository root: <RUNBOOKS_DIR>/<SCOPE>/<ID>-runbook.md.
M.RUNBOOKS_DIR = ".agent/cache/runbooks"

-- lock_path(path) -> the lock file of the runbook at path (<dir>/<ID>-runbook.md ->
-- <dir>/.<ID>.lock), held by new-runbook while it writes the runbook and by accept while it
-- rewrites it; nil for a path not named that way.
function M.lock_path(path)
  local dir, id = path:match("^(.*)/([^/]+)%-runbook%.md$")
  return dir and (dir .. "/." .. id .. ".lock") or nil
end

-- The contract's sections in order (docs/internals.md, "the runbook document"), each with
-- its required subsections. The template renders exactly these; the gates require them.
M.SECTIONS = {
  { title = "Goal Description" },
  { title = "Compliance Checklist" },
  { title = "Panel Review Findings" },
  { title = "Component Specification & Interface",
    children = { "API Definition", "Data Models", "Dependency Injection", "State Management" } },
  { title = "Implementation Guardrails",
    children = { "Tech Stack Standards", "Error Handling Strategy", "Security Requirements" } },
  { title = "Logic & Design Patterns",
    children = { "Architectural Pattern", "Concurrency & Scaling", "Idempotency" } },
  { title = "Quality & Observability",
    children = { "Testing Requirements", "Logging Schema", "Metrics & Health Checks" } },
  { title = "Deployment & Lifecycle",
    children = { "CI/CD Pipeline", "Infrastructure as Code", "Documentation" } },
  { title = "Proposed Changes" },
  { title = "Verification Plan" },
  { title = "Rollback Plan" },
  { title = "Context Used" },
}

-- States a runbook may be in. PROPOSED is written by new-runbook, ACCEPTED by accept; the
-- others are set by teams (and seen in trees migrated from other tools).
M.STATES = { "PROPOSED", "ACCEPTED", "IMPLEMENTED", "COMMITTED", "REJECTED", "SUPERSEDED" }

M.OPS = { MODIFY = true, NEW = true, DELETE = true }

-- ---- Lines -------------------------------------------------------------------------------

-- The source split into lines as cmark counts them (agent.text.split_lines).
local split_lines = text_mod.split_lines

-- in_code[n] is true for every source line that belongs to a code block.
local function code_mask(blocks)
  local mask = {}
  for _, b in ipairs(blocks) do
    for n = b.line, b.end_line do mask[n] = true end
  end
  return mask
end

-- The line of source where a code block's text starts: fenced blocks open on their own line.
local function text_start(block)
  return block.fence ~= "" and block.line + 1 or block.line
end

local trim = text_mod.trim

-- ---- Status ------------------------------------------------------------------------------

-- The status word at the start of s, and where it starts: "**PROPOSED**" and "`PROPOSED`"
-- give PROPOSED; a corrupted "COMMITTED-021-021" is kept whole so it can be named.
local function status_word(s)
  local lead, word = s:match("^([%s%*_`]*)([%w_%-]+)")
  if not word then return nil end
  return word, #lead + 1
end

-- The line form: `Status: X`, `**Status**: X`, `**Status:** X`, `State: X`.
local function status_from_line(line)
  local value, at = text_mod.status_value(line)
  if not value then return nil end
  local word, col = status_word(value)
  if not word then return nil end
  return word, at + col - 1
end

local function is_status_heading(h)
  local t = h.title:lower():gsub("[%s:]+$", "")
  return t == "state" or t == "status"
end

-- Finds the status: the first `## State` / `## Status` heading with its value on a later
-- line, or the first status line before the first section, whichever comes first.
local function find_status(headings, lines, in_code)
  local first_h2
  for _, h in ipairs(headings) do
    if h.level == 2 and not is_status_heading(h) then first_h2 = h.line break end
  end
  local found
  for n = 1, (first_h2 or #lines + 1) - 1 do
    if not in_code[n] then
      local word, col = status_from_line(lines[n])
      if word then found = { word = word, line = n, col = col, form = "line" } break end
    end
  end
  for _, h in ipairs(headings) do
    if found and h.line > found.line then break end
    if is_status_heading(h) then
      for n = h.line + 1, h.end_line do
        -- the value is the first line with text (a setext heading's underline is not)
        if not in_code[n] and lines[n]:find("%S") and not lines[n]:match("^%s*[=-]+%s*$") then
          local word, col = status_word(lines[n])
          if word then found = { word = word, line = n, col = col, form = "heading", heading_line = h.line } end
          break
        end
      end
      if found and found.form == "heading" then break end
    end
  end
  return found
end

-- ---- Step headings -----------------------------------------------------------------------

-- The text of an ATX heading's source line without its markers.
local function heading_text(line)
  local s = line:gsub("^%s*#+%s*", ""):gsub("%s+#+%s*$", "")
  return trim(s)
end

local function unescape(s) return (s:gsub("\\(%p)", "%1")) end

-- The path of a step heading in any of the forms other tools write:
-- `path`, [text](path), **path**, path\_with\_escapes, ./path, path <!-- annotation -->.
local function heading_path(rest)
  rest = trim(rest:gsub("<!%-%-.-%-%->", ""))
  local link = rest:match("^%[[^%]]*%]%(%s*<?([^%s>)]+)>?[^)]*%)")
  local code = rest:match("^(`+)")
  local path
  if link then
    path = unescape(link)
  elseif code then
    path = rest:match("^" .. code .. "%s*(.-)%s*" .. code .. "%f[^`]")
  else
    local bold = rest:match("^%*%*(.-)%*%*")
    path = unescape(bold or rest:match("^%S*"))
  end
  path = path and path:gsub("^%./", "")
  return path ~= "" and path or nil
end

-- The operation and path of a step heading, or nil when the heading is no step.
-- Returns the bracketed word as written and the path (nil when missing).
local function parse_step_heading(line)
  local word, rest = heading_text(line):match("^%[(%a+)%]%s*(.*)$")
  if not word then return nil end
  return word, heading_path(rest)
end

-- ---- SEARCH/REPLACE blocks ---------------------------------------------------------------

-- Reads the SEARCH/REPLACE blocks of one code block. Marker lines are exactly `<<<SEARCH`,
-- `===` and `>>>`; the text between them keeps every line verbatim (no final newline: the
-- marker line that follows ends it). Malformed markers become problems with their lines.
local function parse_sr(block, blocks, problem)
  local cur, buf -- the open block, and the lines of its current part
  local n = text_start(block) - 1
  for _, line in text_mod.lines(block.text) do
    n = n + 1
    if line == "<<<SEARCH" then
      if cur then problem(cur.line, "SEARCH/REPLACE block is not closed by '>>>' before the next '<<<SEARCH'") end
      cur, buf = { line = n }, {}
    elseif not cur then
      if line == "===" or line == ">>>" then
        problem(n, ("'%s' without an open '<<<SEARCH' block"):format(line))
      end
    elseif line == "===" and cur.search == nil then
      cur.search, buf = table.concat(buf, "\n"), {}
    elseif line == ">>>" and cur.search == nil then
      problem(n, "'>>>' before '===': the block has no REPLACE part")
      cur = nil
    elseif line == ">>>" then
      cur.replace = table.concat(buf, "\n")
      blocks[#blocks + 1] = cur
      cur = nil
    else
      buf[#buf + 1] = line
    end
  end
  if cur then problem(cur.line, "SEARCH/REPLACE block is not closed by '>>>'") end
end

-- Whether a code block holds SEARCH/REPLACE blocks (a `<<<SEARCH` line).
local function has_markers(text)
  return ("\n" .. text):find("\n<<<SEARCH\r?\n") ~= nil
end

-- ---- Steps -------------------------------------------------------------------------------

-- Source lines first..last outside the skipped ranges (sorted {from, to} pairs: what the
-- step's blocks, content or rationale took), trimmed of blank edges.
local function prose(lines, first, last, skip)
  local out, n, k = {}, first, 1
  while n <= last do
    local r = skip[k]
    if r and n >= r[1] then
      n = math.max(n, r[2] + 1)
      k = k + 1
    else
      out[#out + 1] = lines[n]
      n = n + 1
    end
  end
  local s = trim(table.concat(out, "\n"))
  return s ~= "" and s or nil
end

-- The component of each heading: the title of its nearest enclosing heading when that is
-- below level 2 (`### Orders service` over `#### [MODIFY] ...`). One pass with a stack.
local function components(headings)
  local out, stack = {}, {}
  for i, h in ipairs(headings) do
    while #stack > 0 and stack[#stack].level >= h.level do stack[#stack] = nil end
    local parent = stack[#stack]
    out[i] = parent and parent.level > 2 and parent.title or nil
    stack[#stack + 1] = h
  end
  return out
end

-- The code blocks opening on lines first+1..last. Blocks come in document order, so a
-- binary search finds the first one: a runbook with thousands of steps stays linear.
local function blocks_within(code_blocks, first, last)
  local lo, hi = 1, #code_blocks + 1
  while lo < hi do
    local mid = (lo + hi) // 2
    if code_blocks[mid].line > first then hi = mid else lo = mid + 1 end
  end
  local out = {}
  for i = lo, #code_blocks do
    local b = code_blocks[i]
    if b.line > last then break end
    out[#out + 1] = b
  end
  return out
end

-- Each filler takes the step's code blocks and adds to `skip` the line ranges it consumed,
-- in order, so the rest of the step body becomes its description.
local function fill_modify(step, blocks, lines, skip, problem)
  step.blocks = {}
  for _, b in ipairs(blocks) do
    if has_markers(b.text) then
      parse_sr(b, step.blocks, problem)
      skip[#skip + 1] = { b.line, b.end_line }
    end
  end
  step.description = prose(lines, step.line + 1, step.end_line, skip)
end

local function fill_new(step, blocks, lines, skip, problem)
  local b = blocks[1]
  if b then
    step.content, step.content_line, step.lang = b.text, text_start(b), b.lang
    skip[#skip + 1] = { b.line, b.end_line }
  end
  -- The file is one fence ending the step. Anything after it is what an inner fence closing
  -- the outer one early leaves behind (the defect of writers that reuse ``` for both).
  local after
  for n = b and b.end_line + 1 or step.end_line + 1, step.end_line do
    if lines[n]:find("%S") then after = n break end
  end
  if #blocks > 1 or after then
    problem(b.end_line, ("[NEW] %s: the file's fence closes at line %d but the step goes on at line %d; an inner fence may have closed it early (make the outer fence longer than any backtick run in the file)")
      :format(step.path or "?", b.end_line, after or blocks[2].line))
  end
  step.description = prose(lines, step.line + 1, step.end_line, skip)
end

local function fill_delete(step, lines, skip, in_code)
  for n = step.line + 1, step.end_line do
    local why = not in_code[n] and lines[n]:match("^[%s%-%*]*[%*_]*[Rr]ationale[%*_]*%s*:[%*_]*%s*(.-)%s*$")
    if why then
      step.rationale, step.rationale_line = why ~= "" and why or nil, n
      skip[#skip + 1] = { n, n }
      break
    end
  end
  step.description = prose(lines, step.line + 1, step.end_line, skip)
end

local function read_steps(p, lines, in_code, code_blocks, problem)
  local steps, component_of = {}, components(p.headings)
  for i, h in ipairs(p.headings) do
    local word, path = parse_step_heading(lines[h.line] or "")
    local op = word and word:upper()
    if op and M.OPS[op] then
      local step = { op = op, path = path, line = h.line, end_line = h.end_line, component = component_of[i] }
      if not path then problem(h.line, ("[%s] step has no path"):format(op)) end
      local skip = {}
      local blocks = blocks_within(code_blocks, h.line, h.end_line)
      if op == "MODIFY" then fill_modify(step, blocks, lines, skip, problem)
      elseif op == "NEW" then fill_new(step, blocks, lines, skip, problem)
      else fill_delete(step, lines, skip, in_code) end
      steps[#steps + 1] = step
    elseif word and h.level >= 3 and word == op and path and path:find("[/.]") then
      problem(h.line, ("unknown operation [%s]: steps are [MODIFY], [NEW] or [DELETE]"):format(op))
    end
  end
  return steps
end

-- ---- parse -------------------------------------------------------------------------------

local function read_title(p, parsed)
  local h = p.headings[1]
  if not h or h.level ~= 1 then return end
  parsed.title_line = h.line
  local id, title = h.title:match("^%s*([%a][%w_]*%-%d+)%s*:%s*(.-)%s*$")
  parsed.id = id or h.title:match("%f[%w]([%u][%u%d_]*%-%d+)%f[^%w]")
  parsed.title = title or h.title
end

-- What parse and summary share: the markdown, the source lines, the code mask, and parsed
-- with its title and status. nil, message when the markdown cannot be parsed.
local function read_head(text)
  local md, err = markdown.parse(text)
  if not md then return nil, err end
  local lines = split_lines(text)
  -- cmark and split_lines count lines alike; should a line cmark names lie past the end,
  -- it reads as empty rather than as an error
  for _, node in ipairs(md.headings) do for n = #lines + 1, node.end_line do lines[n] = "" end end
  for _, node in ipairs(md.code_blocks) do for n = #lines + 1, node.end_line do lines[n] = "" end end
  local in_code = code_mask(md.code_blocks)
  local parsed = {}
  read_title(md, parsed)
  local st = find_status(md.headings, lines, in_code)
  if st then
    parsed.status, parsed.status_raw, parsed.status_line = st.word:upper(), st.word, st.line
    parsed.status_col, parsed.status_form = st.col, st.form
  end
  return parsed, md, lines, in_code
end

-- summary(text) -> {id, title, title_line, status, status_raw, status_line, status_col,
-- status_form} | nil, message: what parse says of the title and status, without the steps
-- (about half of parse's time), for listings and shell completion.
function M.summary(text)
  assert(type(text) == "string", "runbook.summary: text must be a string")
  return (read_head(text))
end

-- parse(text) -> parsed | nil, message. parsed = {id, title, title_line, status, status_line,
-- status_form = "line"|"heading", sections = {{title, level, line, end_line}}, steps = {...},
-- problems = {{line, message}}, lines = {source lines}, code_blocks = {agent.markdown blocks}}.
-- docs/runbook-format.md describes steps.
function M.parse(text)
  assert(type(text) == "string", "runbook.parse: text must be a string")
  local parsed, md, lines, in_code = read_head(text)
  if not parsed then return nil, md end
  parsed.sections, parsed.problems, parsed.lines, parsed.code_blocks = {}, {}, lines, md.code_blocks
  local function problem(line, message) parsed.problems[#parsed.problems + 1] = { line = line, message = message } end
  for _, h in ipairs(md.headings) do
    parsed.sections[#parsed.sections + 1] = { title = h.title, level = h.level, line = h.line, end_line = h.end_line }
  end
  parsed.steps = read_steps(md, lines, in_code, md.code_blocks, problem)
  for n, line in ipairs(lines) do
    if not in_code[n] and line == "<<<SEARCH" then
      problem(n, "'<<<SEARCH' outside a code fence: put each SEARCH/REPLACE block inside a fence")
    end
  end
  return parsed
end

-- ---- Panel verdicts -----------------------------------------------------------------------

-- The verdict a Compliance Checklist line states: the template's "label: APPROVE", "label:
-- CHANGES requested", "label: BLOCK", or "label: <reason>; not approved" for a persona
-- without a usable review (templates/runbook.lua writes each).
local function line_verdict(rest)
  if rest:match(";%s*not approved%.?%s*$") then return "NONE" end
  local word = rest:match(":%s*%**(%u+)[%w ]*%**%s*%.?%s*$")
  if word == "APPROVE" or word == "CHANGES" or word == "BLOCK" then return word end
  return "UNKNOWN"
end

-- The persona a checklist line names: its bold label (**@Security**), else the text before
-- the first colon, markdown escapes undone.
local function line_persona(rest)
  local name = rest:match("^%*%*(.-)%*%*") or rest:match("^([^:]+):") or rest
  return trim(unescape(name))
end

-- verdicts(parsed) -> {{name, verdict, line}}: one row per task-list line of the Compliance
-- Checklist, verdict "APPROVE", "CHANGES", "BLOCK", "NONE" (no usable review) or "UNKNOWN"
-- (a line in no form the template writes). Empty when the section is missing or lists no
-- persona.
function M.verdicts(parsed)
  local section -- a heading's end_line is its section's last line
  for _, s in ipairs(parsed.sections) do
    if s.level == 2 and s.title == "Compliance Checklist" then section = s break end
  end
  if not section then return {} end
  local in_code, rows = code_mask(parsed.code_blocks), {}
  for n = section.line + 1, section.end_line do
    local rest = not in_code[n] and parsed.lines[n]:match("^%s*[-*+]%s+%[[ xX]%]%s+(.-)%s*$")
    if rest then
      rows[#rows + 1] = { name = line_persona(rest), verdict = line_verdict(rest), line = n }
    end
  end
  return rows
end

-- set_status(text, new_status) -> text | nil, message. Rewrites the status value where it
-- stands, keeping its form (`Status: X` or `## State` then X), the rest of the line and the
-- line endings.
function M.set_status(text, new_status)
  assert(type(new_status) == "string" and new_status:match("^[%u][%u_]*$"), "set_status: status must be an upper-case word")
  local parsed, err = M.parse(text)
  if not parsed then return nil, err end
  if not parsed.status_line then return nil, "set status: no 'Status:' line or '## State' section found" end
  local at = text_mod.line_span(text, parsed.status_line) + parsed.status_col - 1
  return text:sub(1, at - 1) .. new_status .. text:sub(at + #parsed.status_raw)
end

return M
