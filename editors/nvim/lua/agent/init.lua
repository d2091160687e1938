-- agent.nvim: run agent asynchronously and bring its results into the editor.
--   :AgentRunbook <ID>   writes the runbook, opens it, persona progress as notifications,
--                        problems in the quickfix list
--   :AgentPanel <ID>     the review alone: findings per persona in the quickfix list
--   :AgentCheck [path]   gate problems of a runbook in the quickfix list
-- Options: vim.g.agent_bin (default "agent"), vim.g.agent_args (extra flags, e.g.
-- {"--provider", "openai"}), vim.g.agent_open ("split" | "edit" | "vsplit", default "split").
local M = {}

local function notify(msg, level)
  vim.notify("agent: " .. msg, level or vim.log.levels.INFO)
end

local function root()
  local found = vim.fn.finddir(".agent", vim.fn.getcwd() .. ";")
  if found == "" then return nil end
  return vim.fn.fnamemodify(found, ":p:h:h")
end

-- Runs agent with args; calls done(code, json_or_nil, stderr_lines). Progress lines on
-- stderr are forwarded to on_line as they arrive.
local function run(args, on_line, done)
  local cmd = { vim.g.agent_bin or "agent" }
  vim.list_extend(cmd, args)
  vim.list_extend(cmd, vim.g.agent_args or {})
  local stdout, stderr = {}, {}
  local partial = ""
  local job = vim.fn.jobstart(cmd, {
    cwd = root() or vim.fn.getcwd(),
    stdout_buffered = true,
    on_stdout = function(_, data) stdout = data end,
    on_stderr = function(_, data)
      data[1] = partial .. data[1]
      partial = table.remove(data)
      for _, line in ipairs(data) do
        if line ~= "" then
          stderr[#stderr + 1] = line
          if on_line then on_line(line) end
        end
      end
    end,
    on_exit = function(_, code)
      if partial ~= "" then stderr[#stderr + 1] = partial end
      local text = table.concat(stdout, "\n")
      local ok, decoded = pcall(vim.fn.json_decode, text)
      vim.schedule(function() done(code, ok and type(decoded) == "table" and decoded or nil, stderr) end)
    end,
  })
  if job <= 0 then notify("cannot run " .. cmd[1] .. " (set vim.g.agent_bin)", vim.log.levels.ERROR) end
  return job
end

-- stderr lines "path:line: message" become quickfix entries; others are plain text items.
local function to_quickfix(lines, title)
  local items = {}
  for _, line in ipairs(lines) do
    local file, lnum, msg = line:match("^([^:%s][^:]*):(%d+):%s*(.*)$")
    if file then
      items[#items + 1] = { filename = file, lnum = tonumber(lnum), text = msg }
    else
      items[#items + 1] = { text = line }
    end
  end
  vim.fn.setqflist({}, " ", { title = title, items = items })
  return #items
end

local function open(path)
  vim.cmd((vim.g.agent_open or "split") .. " " .. vim.fn.fnameescape(path))
end

-- Story ids for completion: the file names under .agent/cache/stories/*/.
function M.story_ids(prefix)
  local r = root()
  if not r then return {} end
  local ids = {}
  for _, f in ipairs(vim.fn.glob(r .. "/.agent/cache/stories/*/*.md", false, true)) do
    local id = vim.fn.fnamemodify(f, ":t"):match("^(%a[%w]*%-%d+)")
    if id and id:upper():find((prefix or ""):upper(), 1, true) == 1 then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return ids
end

function M.runbook(id, opts)
  local args = { "new-runbook", id, "--json" }
  if opts and opts.force then args[#args + 1] = "--force" end
  notify("writing the runbook of " .. id .. "…")
  return run(args, function(line)
    if line:match("^agent new%-runbook: ") then notify(line:gsub("^agent new%-runbook: ", ""), vim.log.levels.INFO) end
  end, function(code, result, stderr)
    M.last = { code = code, result = result, stderr = stderr }
    if result and result.path and code ~= 1 and code ~= 2 then
      open(result.path)
      local problems = 0
      if code ~= 0 then problems = to_quickfix(stderr, "agent new-runbook " .. id) end
      notify(("runbook %s (exit %d)%s"):format(result.path, code, problems > 0 and "; see the quickfix list" or ""),
        code == 0 and vim.log.levels.INFO or vim.log.levels.WARN)
    else
      to_quickfix(stderr, "agent new-runbook " .. id)
      notify(stderr[#stderr] or ("failed with exit status " .. code), vim.log.levels.ERROR)
      vim.cmd("copen")
    end
  end)
end

function M.panel(id)
  notify("panel review of " .. id .. "…")
  return run({ "panel", id, "--json" }, nil, function(code, result, stderr)
    M.last = { code = code, result = result, stderr = stderr }
    if not result then
      to_quickfix(stderr, "agent panel " .. id)
      notify(stderr[#stderr] or ("failed with exit status " .. code), vim.log.levels.ERROR)
      return vim.cmd("copen")
    end
    local items = {}
    for _, p in ipairs(result.personas or {}) do
      items[#items + 1] = { text = ("%s: %s %s"):format(p.name or p.id, p.verdict or p.status or "?", p.summary or p.error or "") }
      for _, it in ipairs(p.items or {}) do
        items[#items + 1] = { text = ("  [%s] %s%s"):format(it.severity or "info", it.text or "", it.rule and (" (" .. it.rule .. ")") or "") }
      end
    end
    vim.fn.setqflist({}, " ", { title = "agent panel " .. id, items = items })
    vim.cmd("copen")
  end)
end

function M.check(path)
  return run({ "check-runbook", path }, nil, function(code, _, stderr)
    M.last = { code = code, stderr = stderr }
    local n = to_quickfix(stderr, "agent check-runbook")
    if code == 0 then notify("runbook passes every gate") else notify(n .. " problem(s)", vim.log.levels.WARN) vim.cmd("copen") end
  end)
end

return M
