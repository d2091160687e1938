-- agent check-runbook <ID|PATH>: the runbook gates alone, on a runbook written by agent, by
-- hand or by another tool (both status forms). One line per problem, `path:line: message`,
-- on stderr; exit 0 when clean, 4 on problems, 1 when the runbook cannot be found or read.
local cli = require("agent.cli")
local fs = require("agent.fs")
local gates = require("agent.gates")
local json = require("agent.json")
local log = require("agent.log")
local runbook = require("agent.runbook")

local M = {
  name = "check-runbook",
  order = 20,
  summary = "Check a runbook against the repository (sections, status, placeholders, steps)",
  usage = "agent check-runbook <ID|PATH> [--json]",
  args = { { name = "ID|PATH", required = true, complete = "runbook" } },
  help = [[Runs every runbook gate (docs/runbook-format.md): the sections in order, a valid status,
no unfilled placeholder, safe repo-relative paths, each [MODIFY] SEARCH found exactly once in
the file as the earlier steps leave it, each [NEW] path absent, each [DELETE] path present with
a rationale, no unclosed fence.

An ID is looked up as .agent/cache/runbooks/<SCOPE>/<ID>-runbook.md; anything with a '/' or
ending in .md is a path.

Exit status: 0 clean, 4 problems found, 1 runbook missing or unreadable.

Examples:
  agent check-runbook INFRA-012
  agent check-runbook .agent/cache/runbooks/INFRA/INFRA-012-runbook.md --json]],
}

local function is_path(arg) return arg:find("/", 1, true) ~= nil or arg:lower():match("%.md$") ~= nil end

-- The runbook file of an ID: <SCOPE>/<ID>-runbook.md with SCOPE the ID's prefix, else the
-- same name (any case) in any scope folder, since SCOPE is the story's folder.
local function find_by_id(root, id)
  local dir = root .. "/" .. runbook.RUNBOOKS_DIR
  local want = id:upper() .. "-runbook.md"
  local scope = id:match("^([^-]+)"):upper()
  if fs.exists(dir .. "/" .. scope .. "/" .. want) then return scope .. "/" .. want end
  for _, folder in ipairs(fs.list(dir) or {}) do
    for _, name in ipairs(fs.list(dir .. "/" .. folder) or {}) do
      if name:upper() == want:upper() then return folder .. "/" .. name end
    end
  end
  return nil, ("no runbook for %s (looked for .agent/cache/runbooks/%s/%s; run 'agent new-runbook %s')"):format(id, scope, want, id)
end

-- Resolves ID|PATH to { path = absolute or as given, display = what messages show, id = }.
-- Fails (exit 1) when there is no such runbook.
function M.locate(ctx, arg)
  if is_path(arg) then
    if not fs.exists(arg) then cli.fail(cli.EXIT.fail, ("%s: no such runbook"):format(arg)) end
    return { path = arg, display = arg }
  end
  if not arg:match("^[%a][%w_]*%-%d+$") then
    cli.usage_error(("'%s' is neither a story ID (like INFRA-012) nor a path to a runbook"):format(arg))
  end
  local rel, err = find_by_id(ctx.root, arg)
  if not rel then cli.fail(cli.EXIT.fail, err) end
  local display = runbook.RUNBOOKS_DIR .. "/" .. rel
  return { path = ctx.root .. "/" .. display, display = display, id = arg:upper() }
end

-- Reads the runbook text, or fails (exit 1) naming the file and the reason.
function M.read(where)
  local text, err = fs.read(where.path)
  if not text then cli.fail(cli.EXIT.fail, ("cannot read runbook: %s"):format(err)) end
  return text
end

-- Parses and checks: parsed, problems. A text the markdown parser refuses (over its size
-- cap) is as unusable as an unreadable file: exit 1.
function M.check(ctx, where, text)
  local parsed, err = runbook.parse(text)
  if not parsed then cli.fail(cli.EXIT.fail, ("cannot parse runbook %s: %s"):format(where.display, err)) end
  return parsed, gates.check(parsed, ctx.root)
end

-- Writes each problem as `path:line: message` on stderr.
function M.print_problems(where, problems)
  for _, p in ipairs(problems) do
    io.stderr:write(("%s:%d: %s\n"):format(where.display, p.line, p.message))
  end
end

local function summary(where, parsed, problems)
  local list = {}
  for i, p in ipairs(problems) do list[i] = { line = p.line, message = p.message } end
  return {
    path = where.display,
    id = parsed.id or json.null,
    status = parsed.status or json.null,
    status_form = parsed.status_form or json.null,
    steps = #parsed.steps,
    problems = json.array(list),
  }
end

function M.run(opts, ctx)
  local where = M.locate(ctx, opts.args[1])
  local parsed, problems = M.check(ctx, where, M.read(where))
  if ctx.json then
    io.stdout:write(json.encode(summary(where, parsed, problems)), "\n")
  else
    M.print_problems(where, problems)
  end
  if #problems > 0 then
    log.info(("%s: %d problem%s"):format(where.display, #problems, #problems == 1 and "" or "s"))
    return cli.EXIT.gate
  end
  log.info(("%s: ok (%d step%s checked)"):format(where.display, #parsed.steps, #parsed.steps == 1 and "" or "s"))
  return cli.EXIT.ok
end

return M
