-- Repository paths in one place: whether a path lies inside the repository (on resolved
-- paths, so a symlink cannot lead a read or a write elsewhere), the check agent makes before
-- every write, and paths and messages made relative to the root, so runbooks and errors read
-- the same on every checkout.
local fs = require("agent.fs")

local M = {}

-- Whether the absolute, resolved path `real` is root itself or lies below it. Both must be
-- realpaths: no "..", no symlinks, no trailing slash.
function M.is_inside(root, real)
  return root == "/" or real == root or real:sub(1, #root + 1) == root .. "/"
end

-- paths.resolve_inside(root, path) -> real | nil, reason: path resolved (symlinks followed)
-- when that lies inside the repository at root. reason is "outside the repository" or the
-- realpath failure.
function M.resolve_inside(root, path)
  local real_root = fs.realpath(root) or root
  local real, err = fs.realpath(path)
  if not real then return nil, err end
  if not M.is_inside(real_root, real) then return nil, "outside the repository" end
  return real
end

-- paths.check_inside(root, path) -> true | nil, reason: whether a write to path stays in the
-- repository at root. The nearest existing ancestor of path (path itself included) is
-- resolved, symlinks and all, so a symlink a cloned repository plants at a file or a folder
-- cannot carry a write (or a read into a backup) elsewhere. A symlink to nothing is refused:
-- creating the file would create its target, wherever that is.
function M.check_inside(root, path)
  root = fs.realpath(root) or root
  local probe, below = path, ""
  while probe and probe ~= "" do
    local real = fs.realpath(probe)
    if real then
      if M.is_inside(root, real) then return true end
      return nil, ("it resolves to %s%s, outside the repository"):format(real, below)
    end
    local st = fs.stat(probe, { follow = false })
    if st and st.type == "link" then return nil, "it is a symlink to nothing" end
    local parent, name = probe:match("^(.*)/([^/]+)$")
    probe, below = parent, "/" .. name .. below
  end
  return true
end

-- path relative to root when it lies below it, else path unchanged.
function M.relative(root, path)
  if root and path:sub(1, #root + 1) == root .. "/" then return path:sub(#root + 2) end
  return path
end

-- A message with "<root>/" taken off every path it names (nil and non-strings unchanged): where
-- a path begins (the message's start, after a space, quote, bracket, '=', ':' or ','), never
-- inside one, so the root's name met again below it stays ("/S/.agent/stories/S/x.md").
function M.strip(root, msg)
  if not root or type(msg) ~= "string" then return msg end
  local out = (" " .. msg):gsub("([%s'\"`%(%[<=:,])" .. root:gsub("%p", "%%%0") .. "/", "%1")
  return out:sub(2)
end

-- The reason of an agent.fs message ("mkdir_p '/x': No such file or directory" -> "No such
-- file or directory"): a user message says what failed in its own words, not which primitive.
function M.reason(msg)
  return (tostring(msg):gsub("^[%w_.]+ '.-': ", "", 1))
end

-- The first max bytes of the file at path (all of it when shorter): text | nil, message.
-- agent.fs.read refuses a file over its cap; a truncated excerpt or a listing of titles
-- wants the file's head instead, and this is the one place that reads one.
function M.read_head(path, max)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read(max) or ""
  f:close()
  return data
end

return M
