-- agent.nvim: run agent asynchronously and bring its results into the editor.
--   :AgentRunbook <ID>   writes the runbook and opens it; persona progress as notifications;
--                        gate problems, incomplete reviews and errors in the quickfix list
--   :AgentPanel <ID>     the review alone: findings per persona in the quickfix list
--   :AgentCheck [path]   gate problems of a runbook in the quickfix list, with file and line
-- It reads the CLI's machine interface only: the one JSON document --json prints on stdout
-- (docs/json.md) and the JSON log lines --log-format json writes on stderr (docs/usage.md).
-- Options: vim.g.agent_bin (default "agent"), vim.g.agent_args (extra flags, e.g.
-- {"--provider", "openai"}), vim.g.agent_open ("split" | "edit" | "vsplit", default "split").
local M = {}

-- The last run of each command, for :lua print(vim.inspect(require("agent").last)) and tests:
-- {command=, code=, doc=, events=, text=}.
M.last = nil

local levels = vim.log.levels

local function notify(msg, level)
  vim.notify("agent: " .. msg, level or levels.INFO)
end

-- JSON null arrives as vim.NIL: treat it as absent.
local function value(v)
  if v == vim.NIL then return nil end
  return v
end

local function decode(text)
  local ok, v = pcall(vim.fn.json_decode, text)
  if ok and type(v) == "table" then return v end
  return nil
end

-- The repository root: the nearest directory holding .agent/, from the working directory up.
local function root()
  local found = vim.fn.finddir(".agent", vim.fn.getcwd() .. ";")
  if found == "" then return nil end
  return vim.fn.fnamemodify(found, ":p:h:h")
end

local function absolute(path, dir)
  if path:sub(1, 1) == "/" then return path end
  return (dir or vim.fn.getcwd()) .. "/" .. path
end

-- Runs `agent ARGS --json --log-format json` from the repository root. Each JSON log line
-- goes to on_event(record) as it arrives; stderr lines that are not JSON are kept as text.
-- done(run) gets run = {command=, code=, doc= (the stdout document or nil), events=, text=,
-- dir=}. Returns the job id, or nil when agent cannot be started.
local function run(command, args, on_event, done)
  local dir = root() or vim.fn.getcwd()
  local cmd = { vim.g.agent_bin or "agent", command }
  vim.list_extend(cmd, args)
  vim.list_extend(cmd, { "--json", "--log-format", "json" })
  vim.list_extend(cmd, vim.g.agent_args or {})
  local result = { command = command, events = {}, text = {}, dir = dir }
  local stdout, partial = {}, ""
  local function take(line)
    if line == "" then return end
    local rec = line:sub(1, 1) == "{" and decode(line) or nil
    if rec and rec.event then
      result.events[#result.events + 1] = rec
      if on_event then on_event(rec) end
    else
      result.text[#result.text + 1] = line
    end
  end
  local ok, job = pcall(vim.fn.jobstart, cmd, {
    cwd = dir,
    stdout_buffered = true,
    on_stdout = function(_, data) stdout = data end,
    on_stderr = function(_, data)
      data[1] = partial .. data[1]
      partial = table.remove(data)
      for _, line in ipairs(data) do take(line) end
    end,
    on_exit = function(_, code)
      take(partial)
      result.code = code
      result.doc = decode(table.concat(stdout, "\n"))
      vim.schedule(function()
        M.last = result
        done(result)
      end)
    end,
  })
  if not ok or job <= 0 then
    notify(("cannot run %s (set vim.g.agent_bin)"):format(cmd[1]), levels.ERROR)
    return nil
  end
  return job
end

local function set_quickfix(title, items)
  vim.fn.setqflist({}, " ", { title = title, items = items })
  return #items
end

-- Warnings and errors from the log, and stderr text, as quickfix items.
local function log_items(r)
  local items = {}
  for _, rec in ipairs(r.events) do
    if (rec.level == "warn" or rec.level == "error") and value(rec.msg) then
      items[#items + 1] = { text = rec.msg, type = rec.level == "error" and "E" or "W" }
    end
  end
  for _, line in ipairs(r.text) do items[#items + 1] = { text = line } end
  return items
end

-- A run that failed before the command could print its own document: the error document's
-- message (docs/json.md) in the quickfix list, opened, and as a notification. say(msg), when
-- given, puts the CLI's advice in the editor's terms (a flag the user types as a command's !).
local function failed(title, r, say)
  local err = r.doc and value(r.doc.error)
  local msg = err and err.message or ("failed with exit status " .. tostring(r.code))
  if say then msg = say(msg) end
  local items = { { text = msg, type = "E" } }
  for _, it in ipairs(log_items(r)) do
    if it.text ~= msg and it.text ~= "agent: " .. msg then items[#items + 1] = it end
  end
  set_quickfix(title, items)
  vim.cmd("copen")
  notify(msg, levels.ERROR)
end

local function open(path)
  vim.cmd((vim.g.agent_open or "split") .. " " .. vim.fn.fnameescape(path))
end

-- Story IDs for completion: those `command` takes (default "panel": any), as the shell
-- completion gets them from `agent __complete` (new-runbook offers COMMITTED stories only,
-- commit-story the others), matched without regard to case.
function M.story_ids(prefix, command)
  local r = root()
  if not r then return {} end
  -- an agent that cannot be run completes nothing; the command itself says why when run
  local ok, lines = pcall(vim.fn.systemlist,
    { vim.g.agent_bin or "agent", "__complete", "--", command or "panel", "--root", r, "" })
  if not ok or vim.v.shell_error ~= 0 then return {} end
  local ids = {}
  for _, line in ipairs(lines) do
    local id = line:match("^[^\t]+")
    if id and id:upper():find((prefix or ""):upper(), 1, true) == 1 then ids[#ids + 1] = id end
  end
  return ids
end

-- Persona progress: one notification per persona as it finishes.
local function progress(rec)
  if rec.event == "persona" and value(rec.msg) then
    notify(rec.msg, rec.status == "ok" and levels.INFO or levels.WARN)
  end
end

-- ---- :AgentRunbook -----------------------------------------------------------------------

-- What needs attention in a written runbook: personas without a usable review (exit 3 or 5)
-- and personas that BLOCK (exit 6; accept refuses the runbook), both errors; gate problems at
-- their line; warnings.
local function runbook_items(doc, r)
  local items = {}
  for _, p in ipairs(doc.personas or {}) do
    if p.status ~= "ok" then
      items[#items + 1] = { text = ("%s: %s: %s"):format(p.name or p.id, p.status, value(p.error) or ""), type = "E" }
    elseif p.verdict == "BLOCK" then
      items[#items + 1] = { text = ("%s: BLOCK: %s"):format(p.name or p.id, value(p.summary) or ""), type = "E" }
    end
  end
  for _, g in ipairs(doc.gate_problems or {}) do
    items[#items + 1] = { filename = doc.path, lnum = g.line, text = g.message, type = "E" }
  end
  vim.list_extend(items, log_items(r))
  return items
end

-- new-runbook refuses to replace a runbook unless given --force, which the plugin passes for
-- :AgentRunbook!: name the command, not the flag.
local function runbook_advice(msg)
  return (msg:gsub("pass %-%-force to replace it", "run :AgentRunbook! to replace it"))
end

function M.runbook(id, opts)
  local args = { id }
  if opts and opts.force then args[#args + 1] = "--force" end
  local title = "agent new-runbook " .. id
  notify("writing the runbook of " .. id .. "…")
  return run("new-runbook", args, progress, function(r)
    local path = r.doc and value(r.doc.path)
    if not path then return failed(title, r, runbook_advice) end
    open(path)
    local n = set_quickfix(title, runbook_items(r.doc, r))
    notify(("wrote %s (exit %d)%s"):format(value(r.doc.relpath) or path, r.code, n > 0 and "; see the quickfix list" or ""),
      r.code == 0 and levels.INFO or levels.WARN)
  end)
end

-- ---- :AgentPanel -------------------------------------------------------------------------

-- Quickfix types as a reader of the list weighs them: what stops the runbook (a BLOCK, a
-- persona without a usable review, a blocker) is an error, what must change a warning, the
-- rest information.
local VERDICT_TYPE = { APPROVE = "I", CHANGES = "W", BLOCK = "E" }
local SEVERITY_TYPE = { blocker = "E", major = "W", minor = "I", info = "I" }

local function finding_items(doc, dir)
  local items = {}
  for _, p in ipairs(doc.personas or {}) do
    local ok = p.status == "ok"
    local head = ok and p.verdict or ("no usable review (" .. tostring(value(p.error) or p.status) .. ")")
    items[#items + 1] = { text = ("%s: %s. %s"):format(p.name or p.id, head, value(p.summary) or ""),
                          type = ok and VERDICT_TYPE[p.verdict] or "E" }
    for _, it in ipairs(p.items or {}) do
      local rule = value(it.rule)
      local item = { text = ("  [%s] %s"):format(it.severity or "info", it.text or ""),
                     type = SEVERITY_TYPE[it.severity] or "I" }
      -- a finding that cites a file of the repository jumps to it
      if rule and vim.fn.filereadable(absolute(rule, dir)) == 1 then item.filename = absolute(rule, dir) end
      items[#items + 1] = item
    end
  end
  return items
end

function M.panel(id)
  local title = "agent panel " .. id
  notify("panel review of " .. id .. "…")
  return run("panel", { id }, progress, function(r)
    if not r.doc or value(r.doc.error) then return failed(title, r) end
    set_quickfix(title, finding_items(r.doc, r.dir))
    vim.cmd("copen")
  end)
end

-- ---- :AgentCheck -------------------------------------------------------------------------

function M.check(target)
  local title = "agent check-runbook " .. target
  -- a path is the user's, relative to the editor's directory; agent runs from the root
  if target:find("/", 1, true) or target:lower():match("%.md$") then target = vim.fn.fnamemodify(target, ":p") end
  return run("check-runbook", { target }, nil, function(r)
    if not r.doc or value(r.doc.error) then return failed(title, r) end
    local file = absolute(r.doc.path, r.dir)
    local items = {}
    for _, p in ipairs(r.doc.problems or {}) do
      items[#items + 1] = { filename = file, lnum = p.line, text = p.message, type = "E" }
    end
    set_quickfix(title, items)
    if #items == 0 then
      notify("the runbook passes every gate")
    else
      notify(("%d problem%s"):format(#items, #items == 1 and "" or "s"), levels.WARN)
      vim.cmd("copen")
    end
  end)
end

return M
