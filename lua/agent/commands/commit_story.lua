-- agent commit-story <ID>: the team's word that a story is ready for a runbook. Moves it to
-- COMMITTED once every required section (the story template's `required`) holds more than
-- the template's placeholders; the state keeps the form the file uses (`## State` then the
-- value, or `State:`/`Status:`) and every other byte stays as it was. The write is atomic.
local cli = require("agent.cli")
local fs = require("agent.fs")
local json = require("agent.json")
local log = require("agent.log")
local markdown = require("agent.markdown")
local new_story = require("agent.commands.new_story")
local story = require("agent.story")
local text_mod = require("agent.text")

local DEFAULT_REQUIRED = { "Problem Statement", "User Story", "Acceptance Criteria", "Test Strategy", "Rollback Plan" }

local M = {
  name = "commit-story",
  order = 6,
  summary = "Mark a story COMMITTED once its required sections are filled",
  usage = "agent commit-story <ID> [--json]",
  args = { { name = "ID", required = true, complete = "story" } },
  help = [[Checks that the story's required sections (Problem Statement, User Story, Acceptance
Criteria, Test Strategy, Rollback Plan; a team's story template may name others) exist and
hold more than the template's placeholder text and HTML comments, and that no line of them
still holds one of the template's <placeholders>, then sets its state to
COMMITTED where the state stands ('## State' then the value, 'State: X' or 'Status: X'). A
story without a state line gets '## State' / COMMITTED under its title. Only the state
changes; the file is replaced atomically.

Each problem is one line on stderr, 'path:line: message'.

Exit status: 0 committed, 4 a required section is missing or unfilled (nothing written),
1 no such story, already COMMITTED or cannot write, 2 bad ID, 3 the template script failed.

Examples:
  agent commit-story INFRA-015
  agent commit-story INFRA-015 --json]],
}

-- ---- Sections ----------------------------------------------------------------------------

local function norm_title(title)
  return title:lower():gsub("%s+", " "):gsub("^ ", ""):gsub("[ :]+$", "")
end

-- Level-2 sections of a markdown text by normalised title (the first of a title wins):
-- { [title] = {title=, line=, text=} }.
local function sections(text)
  local doc = markdown.parse(text)
  local out = {}
  for _, h in ipairs(doc and doc.headings or {}) do
    local key = norm_title(h.title)
    if h.level == 2 and not out[key] then
      out[key] = { title = h.title, line = h.line, body_line = h.body_line, text = h.text or "" }
    end
  end
  return out
end

-- The non-blank lines of a section's text once HTML comments are gone, trimmed, each with
-- its offset from the section's first body line: { {text=, at=} }. A comment's line breaks
-- stay, so the offsets still count the file's lines.
local function content_lines(text)
  local lines = {}
  local bare = text:gsub("<!%-%-.-%-%->", function(c) return (c:gsub("[^\n]", "")) end)
  for n, line in text_mod.lines(bare) do
    local trimmed = text_mod.trim(line)
    if trimmed ~= "" then lines[#lines + 1] = { text = trimmed, at = n - 1 } end
  end
  return lines
end

-- The template's `<role>`-style placeholders, as a set.
local function placeholder_tokens(template)
  local tokens = {}
  for _, t in pairs(template) do
    for _, l in ipairs(content_lines(t.text)) do
      for _, hit in ipairs(text_mod.angle_placeholders(l.text)) do tokens[hit] = true end
    end
  end
  return tokens
end

-- A problem per line of section s that still holds one of the template's placeholders (a
-- line whose other half was filled in is as unfinished as an untouched one).
local function placeholder_problems(s, lines, tokens, problems)
  for _, l in ipairs(lines) do
    for _, hit in ipairs(text_mod.angle_placeholders(l.text)) do
      if tokens[hit] then
        problems[#problems + 1] = { line = (s.body_line or s.line + 1) + l.at,
          message = ("section '%s' still holds the template's placeholder '%s'"):format(s.title, hit) }
      end
    end
  end
end

-- Problems of the required sections: { {line=, message=} } (line nil for a missing section).
-- A section is unfilled when nothing is left of it but comments and lines of the template's
-- own placeholder for that section; any line still holding one of the template's
-- `<placeholder>`s is reported at its own line.
function M.check_sections(text, template_text, required)
  local have, template = sections(text), sections(template_text)
  local tokens = placeholder_tokens(template)
  local problems = {}
  for _, title in ipairs(required) do
    local s = have[norm_title(title)]
    if not s then
      problems[#problems + 1] = { message = ("missing section '## %s'"):format(title) }
    else
      local placeholder = {}
      local t = template[norm_title(title)]
      for _, l in ipairs(t and content_lines(t.text) or {}) do placeholder[l.text] = true end
      local lines, own = content_lines(s.text), 0
      for _, l in ipairs(lines) do if not placeholder[l.text] then own = own + 1 end end
      if #lines == 0 then
        problems[#problems + 1] = { line = s.line, message = ("section '%s' is empty"):format(s.title) }
      elseif own == 0 then
        problems[#problems + 1] = { line = s.line,
          message = ("section '%s' still holds the template's placeholder text"):format(s.title) }
      else
        placeholder_problems(s, lines, tokens, problems)
      end
    end
  end
  return problems
end

-- ---- The state line ----------------------------------------------------------------------

-- Whether a state line is the `State: X` / `Status: X` form (else the value under a heading).
local function field_form(line)
  return text_mod.status_value(line) ~= nil
end

-- The text with the state token on its line replaced by COMMITTED: text, form.
local function replace_state(raw, state, line_no)
  local s, e = text_mod.line_span(raw, line_no)
  local line = s and raw:sub(s, e)
  local form = line and field_form(line) and "field" or "heading"
  local from = form == "field" and line:find(":", 1, true) or 1
  local at = line and line:find(state, from, true)
  if not at then return nil end
  local pos = s + at - 1
  return raw:sub(1, pos - 1) .. "COMMITTED" .. raw:sub(pos + #state), form
end

-- A story without a state: `## State` / COMMITTED under its title (the first `# ` line), or
-- at the top when it has none, in the file's own line endings.
local function insert_state(raw)
  local nl = raw:find("\r\n", 1, true) and "\r\n" or "\n"
  local block = "## State" .. nl .. nl .. "COMMITTED" .. nl
  for n, line in text_mod.lines(raw) do
    if line:match("^#%s") then
      local _, e = text_mod.line_span(raw, n)
      local at = e + 1
      local ending = raw:sub(at, at + 1) == "\r\n" and 2 or (at <= #raw and 1 or 0)
      at = at + ending
      local lead = ending == 0 and nl or ""
      return raw:sub(1, at - 1) .. lead .. nl .. block .. raw:sub(at), "inserted"
    end
  end
  local top = raw:sub(1, 3) == text_mod.BOM and 4 or 1
  return raw:sub(1, top - 1) .. block .. nl .. raw:sub(top), "inserted"
end

-- ---- The command -------------------------------------------------------------------------

local function find(ctx, id)
  local ok, why = story.validate_id(id)
  if not ok then cli.usage_error(why) end
  local s, err = story.find(ctx.root, id, ctx.config)
  if not s then cli.fail(cli.EXIT.fail, err) end
  if s.state and s.state:upper() == "COMMITTED" then
    cli.fail(cli.EXIT.fail, ("%s: story %s is already COMMITTED; nothing to do"):format(s.relpath, s.id))
  end
  return s
end

local function required_of(tpl)
  if type(tpl.required) ~= "table" or #tpl.required == 0 then return DEFAULT_REQUIRED end
  local out = {}
  for i, title in ipairs(tpl.required) do out[i] = tostring(title) end
  return out
end

local function report(ctx, s, problems, form)
  if ctx.json then
    local list = json.array({})
    for i, p in ipairs(problems) do list[i] = { line = p.line or json.null, message = p.message } end
    io.stdout:write(json.encode({ id = s.id, path = s.relpath, previous = s.state or json.null,
      state = #problems == 0 and "COMMITTED" or (s.state or json.null), state_form = form or json.null,
      problems = list }), "\n")
  elseif #problems == 0 then
    io.stdout:write(s.relpath, "\n")
  end
  for _, p in ipairs(problems) do
    io.stderr:write(("%s:%s%s\n"):format(s.relpath, p.line and (p.line .. ": ") or " ", p.message))
  end
end

function M.run(opts, ctx)
  local s = find(ctx, opts.args[1])
  local tpl, file = new_story.template(ctx.root)
  local placeholder = new_story.render(ctx.root, tpl, file, { id = s.id, title = s.title, scope = s.scope, state = "DRAFT" })
  local problems = M.check_sections(s.text, placeholder, required_of(tpl))
  if #problems > 0 then
    report(ctx, s, problems)
    log.info(("%s: not committed: %d section%s to fill"):format(s.relpath, #problems, #problems == 1 and "" or "s"))
    return cli.EXIT.gate
  end
  local raw, err = fs.read(s.path)
  if not raw then cli.fail(cli.EXIT.fail, "commit-story: " .. err) end
  local updated, form
  if s.state then updated, form = replace_state(raw, s.state, s.state_line) else updated, form = insert_state(raw) end
  if not updated or story.read_state(updated) ~= "COMMITTED" then
    cli.fail(cli.EXIT.fail, ("%s:%s: cannot rewrite the state line; set it to COMMITTED by hand")
      :format(s.relpath, tostring(s.state_line or 1)))
  end
  local ok, werr = fs.write(s.path, updated)
  if not ok then cli.fail(cli.EXIT.fail, "commit-story: " .. werr) end
  report(ctx, s, problems, form)
  log.info(("%s: %s -> COMMITTED"):format(s.id, s.state or "no state"))
  return cli.EXIT.ok
end

return M
