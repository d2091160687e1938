-- agent init [DIR]: scaffolds DIR/.agent/ from the example tree (rules-examples/.agent/): the
-- installed copy when there is one (bin/../share/agent), else the copy inside the binary, so
-- the binary alone can do it. It never overwrites: a file that exists is left as it is and
-- reported, whether it still matches the example or not.
local cli = require("agent.cli")
local fs = require("agent.fs")
local host = require("agent.host")
local json = require("agent.json")
local log = require("agent.log")
local paths = require("agent.paths")

local EXAMPLE = "rules-examples/.agent"

local M = {
  name = "init",
  order = 1,
  needs_repo = false,
  summary = "Create .agent/ (rules, ADRs, config, example stories) in a directory",
  usage = "agent init [DIR] [--json]",
  args = { { name = "DIR", complete = "dirs" } },
  help = [[Copies the example governance tree into DIR/.agent/ (DIR defaults to the current
directory and is created when missing): config (etc/agent.yaml, etc/agents.yaml), rules,
ADRs, compliance documents, per-role instructions and three example stories. Edit or
delete what does not fit your team.

A file that already exists is never overwritten: it is listed as kept, with whether it
still matches the example. Running init again is safe.

Exit status: 0 done (even when every file was kept), 1 a file or folder could not be
written (the others were still created).

Examples:
  agent init
  agent init ~/src/orders-service
  agent init . --json]],
}

-- The example files: { rel = "etc/agent.yaml", read = function() -> text | nil, err }, and
-- where they come from ("installed" and its path, or "builtin").
function M.example_files()
  local share = host.share_dir()
  local dir = share and (share .. "/" .. EXAMPLE)
  local st = dir and fs.stat(dir)
  if st and st.type == "directory" then
    local rels, errors = fs.walk(dir, { hidden = true })
    if rels and #errors == 0 then
      local files = {}
      for i, rel in ipairs(rels) do files[i] = { rel = rel, read = function() return fs.read(dir .. "/" .. rel) end } end
      return files, "installed", dir
    end
  end
  local files, prefix = {}, EXAMPLE .. "/"
  for i, path in ipairs(host.builtins(prefix)) do
    files[i] = { rel = path:sub(#prefix + 1), read = function() return host.builtin(path) end }
  end
  return files, "builtin"
end

-- Copies one example file unless its destination exists. Returns "created" | "kept", and
-- for kept whether the existing file equals the example; or nil, message.
local function place(file, dest)
  local st = fs.stat(dest, { follow = false })
  local data, err = file.read()
  if not data then return nil, err end
  if st then
    local current = st.type == "file" and fs.read(dest)
    return "kept", current == data
  end
  local dir = dest:match("^(.*)/[^/]+$")
  local ok, merr = fs.mkdir_p(dir)
  if not ok then return nil, ("cannot create the directory: %s"):format(paths.reason(merr)) end
  local written, werr = fs.write(dest, data)
  if not written then return nil, ("cannot write it: %s"):format(paths.reason(werr)) end
  return "created"
end

local function target(arg)
  local dir = arg or "."
  if dir == "" then cli.usage_error("DIR must not be empty (omit it for the current directory)") end
  local st = fs.stat(dir)
  if st and st.type ~= "directory" then
    cli.fail(cli.EXIT.fail, ("cannot set up '%s': it is a %s, not a directory"):format(dir, st.type))
  end
  local ok, err = fs.mkdir_p(dir)
  if not ok then cli.fail(cli.EXIT.fail, ("cannot create '%s': %s"):format(dir, paths.reason(err))) end
  return fs.realpath(dir) or dir
end

local function print_human(result)
  local out = {}
  for _, rel in ipairs(result.created) do out[#out + 1] = "created " .. rel end
  for _, k in ipairs(result.kept) do
    out[#out + 1] = ("kept    %s (exists; %s)"):format(k.path, k.same and "same as the example" or "differs from the example, left alone")
  end
  if #out > 0 then io.stdout:write(table.concat(out, "\n"), "\n") end
  for _, f in ipairs(result.failed) do io.stderr:write(("agent init: %s: %s\n"):format(f.path, f.error)) end
end

function M.run(opts, ctx)
  local dir = target(opts.args[1])
  local files, source, source_path = M.example_files()
  if #files == 0 then cli.fail(cli.EXIT.fail, "init: no example tree found (installed or built in): a broken build") end
  local result = { dir = dir, source = source, source_path = source_path,
                   created = json.array({}), kept = json.array({}), failed = json.array({}) }
  for _, file in ipairs(files) do
    local rel = ".agent/" .. file.rel
    local what, detail = place(file, dir .. "/" .. rel)
    if what == "created" then
      result.created[#result.created + 1] = rel
    elseif what == "kept" then
      result.kept[#result.kept + 1] = { path = rel, same = detail }
    else
      result.failed[#result.failed + 1] = { path = rel, error = detail }
    end
  end
  if ctx.json then io.stdout:write(json.encode(result), "\n") else print_human(result) end
  log.info(("%s/.agent: %d created, %d kept, %d failed (from the %s examples)")
    :format(dir, #result.created, #result.kept, #result.failed, source == "builtin" and "built-in" or "installed"))
  if #result.failed > 0 then return cli.EXIT.fail end
  if #result.created > 0 then log.info("next: agent new-story <SCOPE> \"<title>\" (or 'agent list stories' to see the examples)") end
  return cli.EXIT.ok
end

return M
