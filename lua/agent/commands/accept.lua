-- agent accept <ID|PATH>: the team's sign-off. Flips a PROPOSED runbook to ACCEPTED, in the
-- status form it already has, but only when every gate passes and no persona blocked it or
-- went unreviewed (unless --force says the team overrides the panel); the write is atomic.
local check = require("agent.commands.check_runbook")
local cli = require("agent.cli")
local fs = require("agent.fs")
local json = require("agent.json")
local log = require("agent.log")
local paths = require("agent.paths")
local runbook = require("agent.runbook")

local LOCK_WAIT_MS = 30000 -- how long to wait for a new-runbook run on the same story

-- Refuses a runbook (or its lock) a planted symlink would place outside the repository:
-- accept rewrites the one and may create the other.
local function stay_inside(ctx, where, path)
  local ok, why = paths.check_inside(ctx.root, path)
  if not ok then cli.fail(cli.EXIT.fail, ("%s: %s; refusing to write there"):format(where.display, why)) end
end

-- The lock new-runbook holds while it writes this runbook, so accept never reads half a run.
local function lock(ctx, where)
  if not fs.lock then return nil end
  local lock_path = runbook.lock_path(where.path)
  if not lock_path then return nil end
  stay_inside(ctx, where, lock_path)
  local handle, err = fs.lock(lock_path, { wait = true, timeout_ms = LOCK_WAIT_MS })
  if not handle then cli.fail(cli.EXIT.fail, ("accept: %s"):format(err)) end
  return handle
end

local function refuse_state(where, parsed)
  if not parsed.status then
    cli.fail(cli.EXIT.fail, ("%s: no status line ('Status: PROPOSED' or '## State' then PROPOSED); not accepted"):format(where.display))
  end
  if parsed.status == "ACCEPTED" then
    cli.fail(cli.EXIT.fail, ("%s: already ACCEPTED; nothing to do"):format(where.display))
  end
  if parsed.status ~= "PROPOSED" then
    cli.fail(cli.EXIT.fail, ("%s: status is %s; only a PROPOSED runbook can be accepted"):format(where.display, parsed.status_raw))
  end
end

-- The personas whose Compliance Checklist line keeps the runbook from acceptance: those
-- without a usable review (or a line in no known form) and those that BLOCK.
local function held_back(parsed)
  local unreviewed, blocked = {}, {}
  for _, v in ipairs(runbook.verdicts(parsed)) do
    if v.verdict == "BLOCK" then blocked[#blocked + 1] = v.name
    elseif v.verdict == "NONE" or v.verdict == "UNKNOWN" then unreviewed[#unreviewed + 1] = v.name end
  end
  return unreviewed, blocked
end

-- Refuses, naming the personas, unless --force: no usable review (5) before BLOCK (6), the
-- precedence new-runbook's exit statuses follow.
local function refuse_verdicts(where, parsed, force)
  local unreviewed, blocked = held_back(parsed)
  if #unreviewed + #blocked == 0 then return end
  local parts = {}
  if #unreviewed > 0 then parts[#parts + 1] = "no usable review from " .. table.concat(unreviewed, ", ") end
  if #blocked > 0 then parts[#parts + 1] = "BLOCK from " .. table.concat(blocked, ", ") end
  local why = table.concat(parts, "; ")
  if force then
    log.warn(("%s: accepted over the panel (--force): %s"):format(where.display, why))
    return
  end
  cli.fail(#unreviewed > 0 and cli.EXIT.incomplete or cli.EXIT.blocked,
    ("%s: not accepted: %s (pass --force to accept it anyway)"):format(where.display, why))
end

return {
  name = "accept",
  order = 21,
  summary = "Mark a PROPOSED runbook ACCEPTED, if every gate passes",
  usage = "agent accept <ID|PATH> [--force] [--json]",
  args = { { name = "ID|PATH", required = true, complete = "runbook" } },
  flags = {
    { name = "force", type = "boolean", help = "accept even though a persona BLOCKs or gave no usable review" },
  },
  help = [[Runs the gates of 'agent check-runbook' and, when the runbook passes, changes its status
from PROPOSED to ACCEPTED where it stands ('Status: PROPOSED' or '## State' then PROPOSED),
leaving every other byte alone. A runbook in any other state is refused, and so is one whose
Compliance Checklist shows a persona without a usable review or with a BLOCK verdict, unless
--force (the personas are named either way).

Exit status: 0 accepted, 5 a persona gave no usable review, 6 a persona BLOCKs, 4 gate
problems (the runbook is left as it was in each case), 1 missing, unreadable or not PROPOSED.

Examples:
  agent accept INFRA-012]],
  run = function(opts, ctx)
    local where = check.locate(ctx, opts.args[1])
    stay_inside(ctx, where, where.path)
    local held <close> = lock(ctx, where) -- luacheck: ignore 211 (held until run returns)
    local text = check.read(where)
    local parsed, problems = check.check(ctx, where, text)
    refuse_state(where, parsed)
    refuse_verdicts(where, parsed, opts.force)
    if #problems > 0 then
      check.print_problems(where, problems)
      cli.fail(cli.EXIT.gate, ("%s: not accepted: %d gate problem%s (see 'agent check-runbook')")
        :format(where.display, #problems, #problems == 1 and "" or "s"))
    end
    local updated, err = runbook.set_status(text, "ACCEPTED")
    if not updated then cli.fail(cli.EXIT.fail, ("%s: %s"):format(where.display, err)) end
    local ok, werr = fs.write(where.path, updated)
    if not ok then cli.fail(cli.EXIT.fail, ("accept: %s"):format(werr)) end
    if ctx.json then
      io.stdout:write(json.encode({ path = where.display, id = parsed.id or json.null, status = "ACCEPTED", previous = parsed.status }), "\n")
    else
      io.stdout:write(where.display, "\n")
    end
    log.info(("%s: ACCEPTED"):format(where.display))
    return cli.EXIT.ok
  end,
}
