-- A team roster (.agent/etc/agents.yaml, the `team:` format teams bring from the tool they
-- migrate from) turned into personas. A member whose role names a persona extends it (its
-- governance_checks join the checklist; its instruction and responsibilities join the
-- prompt); any other role becomes a generic persona built here, one script for all of them.
local api = require("agent.script_api")
local judge = require("agent.judge")
local yaml = require("agent.yaml")
local fs = require("agent.fs")

local M = {}

M.RELPATH = ".agent/etc/agents.yaml"
-- A roster file larger than this is refused: it is configuration, not data.
local ROSTER_MAX_BYTES = 1024 * 1024

local function strings(v, where, warnings)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  local out = {}
  if type(v) ~= "table" then
    warnings[#warnings + 1] = ("%s: expected a list of strings; ignored"):format(where)
    return out
  end
  for _, s in ipairs(v) do
    if type(s) == "string" and s:match("%S") then out[#out + 1] = s end
  end
  return out
end

-- The keys a roster and its members may carry; any other is a warning (a misspelt
-- governance_checks would otherwise leave a reviewer with nothing to check, silently).
local TOP_KEYS = { team = true }
local MEMBER_KEYS = { role = true, name = true, description = true, responsibilities = true,
                      governance_checks = true, instruction = true }

local function sorted_keys(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ", ")
end

local function warn_unknown(t, known, where, warnings)
  local bad = {}
  for k in pairs(t) do
    if not known[k] then bad[#bad + 1] = tostring(k) end
  end
  table.sort(bad)
  for _, k in ipairs(bad) do
    warnings[#warnings + 1] = ("%s: unknown key '%s' ignored (known: %s)"):format(where, k, sorted_keys(known))
  end
end

-- The 1-based line of the roster text that sets `role: <role>` (nil when not found), so a
-- message can point at the member as file:line.
local function role_line(text, role)
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local v = line:match("^[%s-]*role:%s*[\"']?([%w_-]+)[\"']?%s*$")
    if v and v:lower() == role then return n end
  end
  return nil
end

-- "file:line: team[i] (role 'x')" or, without a line, "file: team[i] (role 'x')".
local function member_where(member)
  local at = member.line and (M.RELPATH .. ":" .. member.line) or M.RELPATH
  return ("%s: team[%d] (role '%s')"):format(at, member.index, member.role)
end

-- Reads the roster of the repo at root. Returns members (possibly empty), warnings; or nil
-- and a message naming the file when it cannot be used at all.
-- member = {role=, name=, description=, responsibilities={}, governance_checks={}, instruction=}
function M.load(root)
  local path = root .. "/" .. M.RELPATH
  if not fs.exists(path) then return {}, {} end
  local text, err = fs.read(path, ROSTER_MAX_BYTES)
  if not text then return nil, ("%s: %s"):format(M.RELPATH, err) end
  local data, yerr = yaml.decode(text)
  if data == nil then return nil, ("%s: %s"):format(M.RELPATH, yerr) end
  if data == yaml.null then return {}, {} end
  if type(data) ~= "table" or (data.team ~= nil and type(data.team) ~= "table") then
    return nil, ("%s: expected a mapping with a 'team:' list of members"):format(M.RELPATH)
  end
  local members, warnings, seen = {}, {}, {}
  warn_unknown(data, TOP_KEYS, M.RELPATH, warnings)
  for i, e in ipairs(data.team or {}) do
    local where = ("%s: team[%d]"):format(M.RELPATH, i)
    local role = type(e) == "table" and type(e.role) == "string" and e.role:lower() or nil
    if not role or not role:match("^[a-z][a-z0-9_-]*$") then
      warnings[#warnings + 1] = where .. ": needs a 'role' of letters, digits, '-' or '_'; member skipped"
    elseif seen[role] then
      warnings[#warnings + 1] = ("%s: role '%s' is listed twice; the later entry is skipped"):format(where, role)
    else
      seen[role] = true
      local line = role_line(text, role)
      warn_unknown(e, MEMBER_KEYS, member_where({ line = line, index = i, role = role }), warnings)
      members[#members + 1] = {
        role = role, index = i, line = line,
        name = type(e.name) == "string" and e.name or nil,
        description = type(e.description) == "string" and e.description or nil,
        responsibilities = strings(e.responsibilities, where .. ".responsibilities", warnings),
        governance_checks = strings(e.governance_checks, where .. ".governance_checks", warnings),
        instruction = type(e.instruction) == "string" and e.instruction or nil,
      }
    end
  end
  return members, warnings
end

-- A persona's handle from its id or role: "data-steward" -> "@DataSteward".
local function handle(role)
  return "@" .. role:gsub("[-_](%w)", string.upper):gsub("^%l", string.upper)
end
M.handle = handle

local function focus_of(member)
  if member.description and #member.responsibilities > 0 then
    return member.description:gsub("%.?%s*$", "") .. "; priorities: " .. table.concat(member.responsibilities, "; ")
  end
  return member.description or table.concat(member.responsibilities, "; ")
end

-- The generic persona of a roster member, or nil and a file:line message when the member
-- lists nothing to check: a reviewer with an empty checklist would approve everything. Its
-- checklist is the member's governance checks (its responsibilities when it lists none),
-- judged offline like any free-text item.
function M.persona(member)
  local checklist = #member.governance_checks > 0 and member.governance_checks or member.responsibilities
  if #checklist == 0 then
    return nil, ("%s: no governance_checks (or responsibilities) to review against, and no persona script '%s.lua' to extend; "
      .. "a reviewer with nothing to check would approve everything"):format(member_where(member), member.role)
  end
  return {
    api = api.API_VERSION,
    id = member.role,
    role = member.role,
    name = handle(member.role),
    title = member.name or handle(member.role):sub(2),
    focus = focus_of(member),
    checklist = checklist,
    responsibilities = member.responsibilities,
    instructions = member.instruction and { member.instruction } or {},
    owns = {},
    sections = {},
    origin = "roster",
    -- no prompt, review or offline: the panel's defaults (the default prompt, the
    -- normaliser, the offline judge of its checklist) are what it would call
  }
end

-- What a roster member adds to a persona's system prompt.
local function roster_text(member)
  local parts = {}
  if #member.responsibilities > 0 then
    local lines = {}
    for _, r in ipairs(member.responsibilities) do lines[#lines + 1] = "- " .. r end
    parts[#parts + 1] = "Your team also gives you these responsibilities:\n" .. table.concat(lines, "\n")
  end
  if member.instruction then parts[#parts + 1] = "Team instruction: " .. member.instruction end
  return table.concat(parts, "\n\n")
end

-- A copy of persona extended by a roster member: the member's governance checks join the
-- checklist (duplicates dropped) and its responsibilities and instruction are appended to
-- whatever system prompt the persona builds.
function M.extend(persona, member)
  local p = {}
  for k, v in pairs(persona) do p[k] = v end
  local checklist, seen = {}, {}
  for _, item in ipairs(persona.checklist or {}) do
    checklist[#checklist + 1] = item
    seen[judge.item(item).text:lower()] = true
  end
  for _, check in ipairs(member.governance_checks) do
    if not seen[check:lower()] then checklist[#checklist + 1] = check end
  end
  p.checklist = checklist
  if member.name then p.title = member.name end
  p.roster = member.role
  local extra = roster_text(member)
  local inner = persona.prompt
  if extra ~= "" then
    p.prompt = function(ctx)
      local pr = inner and inner(ctx) or api.prompt(ctx)
      if type(pr) ~= "table" or type(pr.system) ~= "string" then return pr end
      return { system = pr.system .. "\n\n" .. extra, user = pr.user }
    end
  end
  return p
end

return M
