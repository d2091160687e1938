-- Helpers for specs: temporary directories, files, running the real agent binary, and
-- starting the loopback test servers (tests/servers/*.py). Environment set by ctest:
-- AGENT_BIN, AGENT_SRC, AGENT_BUILD, PYTHON (see tests/CMakeLists.txt).
local M = {}

M.src = os.getenv("AGENT_SRC") or "."
M.bin = os.getenv("AGENT_BIN") or (M.src .. "/build/bin/agent")
M.python = os.getenv("PYTHON") or "python3"

-- A setting of the build under test (AGENT_BUILD's CMakeCache.txt), such as AGENT_SANITIZE.
function M.cmake_cache(name)
  local cache = M.read((os.getenv("AGENT_BUILD") or "") .. "/CMakeCache.txt") or ""
  return cache:match("\n" .. name .. ":[%w]+=([^\n]*)")
end

-- Quotes one word for /bin/sh.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh(cmd)
  local ok, _, code = os.execute(cmd)
  return ok == true, code
end
M.sh = sh

-- Runs a shell command and returns all it wrote to stdout.
function M.output(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

-- This process's open descriptors, as "fd -> target" lines. The listing's own pipe shows up
-- (as one "pipe" either way); popen's other end may still be closing while the shell looks,
-- so entries gone by the time of readlink are left out.
function M.open_fds()
  local pid = require("agent").sys.pid()
  local s = M.output("cd /proc/" .. pid .. "/fd && for f in *; do t=$(readlink $f) && printf '%s -> %s\\n' $f \"$t\"; done")
  return (s:gsub("pipe:%[%d+%]", "pipe"))
end

-- Reads a whole file (nil when missing).
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Writes a file, creating its directory.
function M.write(path, data)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then sh("mkdir -p " .. M.q(dir)) end
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
  return path
end

local tmpdirs = {}
local servers = {} -- started by M.start_server, stopped by M.cleanup

-- A fresh temporary directory, removed by M.cleanup() (call it in teardown/finally).
function M.tmpdir()
  local p = io.popen("mktemp -d " .. M.q((os.getenv("TMPDIR") or "/tmp") .. "/agent-test.XXXXXX"))
  local dir = p:read("l")
  p:close()
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

-- Stops every server M.start_server started and removes every M.tmpdir().
function M.cleanup()
  for _, server in ipairs(servers) do server.stop() end
  servers = {}
  for _, d in ipairs(tmpdirs) do
    sh("chmod -R u+rwX " .. M.q(d) .. " 2>/dev/null; rm -rf " .. M.q(d))
  end
  tmpdirs = {}
end

-- Copies a directory's contents into dst (dst is created).
function M.copy_tree(src, dst)
  assert(sh("mkdir -p " .. M.q(dst) .. " && cp -R " .. M.q(src) .. "/. " .. M.q(dst)))
  return dst
end

-- A fresh copy of rules-examples/ (the example repository) in a temporary directory.
function M.example_repo()
  return M.copy_tree(M.src .. "/rules-examples", M.tmpdir() .. "/repo")
end

-- The shell command that runs the agent binary, without redirections. args: array of
-- words. opts: {cwd=, env={NAME=value|false}, timeout=seconds, prefix={word...} (a command
-- the binary runs under, such as unshare or strace; placed before valgrind), bin=,
-- plain=true (never under valgrind: a test's own set-up)}.
-- With AGENT_VALGRIND=1 the binary runs under valgrind memcheck and any error fails. Under
-- scripts/test.sh --asan the spec runner preloads libasan with leak checks off (lua5.4 is
-- not instrumented); the binary is, and gets AGENT_ASAN_OPTIONS (leak checks on) back.
function M.command(args, opts)
  opts = opts or {}
  local env = {}
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local asan = os.getenv("AGENT_ASAN_OPTIONS")
  if asan then env.LD_PRELOAD, env.ASAN_OPTIONS = false, asan end
  local parts = {}
  if opts.cwd then parts[#parts + 1] = "cd " .. M.q(opts.cwd) .. " &&" end
  parts[#parts + 1] = "env"
  -- env takes its -u options before any NAME=value, so the unsets go first
  for k, v in pairs(env) do
    if v == false then parts[#parts + 1] = "-u " .. k end
  end
  for k, v in pairs(env) do
    if v ~= false then parts[#parts + 1] = k .. "=" .. M.q(v) end
  end
  if opts.timeout then parts[#parts + 1] = "timeout -s TERM " .. tostring(opts.timeout) end
  for _, w in ipairs(opts.prefix or {}) do parts[#parts + 1] = M.q(w) end
  if os.getenv("AGENT_VALGRIND") == "1" and not opts.plain then
    parts[#parts + 1] = "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
  end
  parts[#parts + 1] = M.q(opts.bin or M.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = M.q(a) end
  return table.concat(parts, " ")
end

-- Runs the agent binary (M.command's args and opts, plus stdin=string). Returns
-- {code=, stdout=, stderr=}.
function M.run(args, opts)
  opts = opts or {}
  local dir = M.tmpdir()
  local parts = { M.command(args, opts) }
  if opts.stdin then
    M.write(dir .. "/stdin", opts.stdin)
    parts[#parts + 1] = "<" .. M.q(dir .. "/stdin")
  else
    parts[#parts + 1] = "</dev/null"
  end
  parts[#parts + 1] = ">" .. M.q(dir .. "/stdout") .. " 2>" .. M.q(dir .. "/stderr")
  local _, code = sh(table.concat(parts, " "))
  return { code = code, stdout = M.read(dir .. "/stdout") or "", stderr = M.read(dir .. "/stderr") or "" }
end

-- M.run in directory root (unless opts.cwd names another) with NO_COLOR=1, so messages are
-- matched without colour codes. opts and opts.env are M.run's; they are filled in place.
function M.agent(root, args, opts)
  opts = opts or {}
  opts.cwd = opts.cwd or root
  opts.env = opts.env or {}
  opts.env.NO_COLOR = "1"
  return M.run(args, opts)
end

-- Starts agent in the background. Returns {pid= (agent's own: env and valgrind exec it),
-- dir=, finish=function() -> {code, stdout, stderr}}.
function M.spawn(root, args, env)
  local dir = M.tmpdir()
  os.execute(("(%s </dev/null >%s/out 2>%s/err & echo $! >%s/pid; wait $!; echo $? >%s/code) &")
    :format(M.command(args, { cwd = root, env = env }), M.q(dir), M.q(dir), M.q(dir), M.q(dir)))
  local job = { dir = dir }
  for _ = 1, 200 do
    job.pid = (M.read(dir .. "/pid") or ""):match("^(%d+)\n")
    if job.pid then break end
    os.execute("sleep 0.05")
  end
  assert(job.pid, "agent did not start")
  function job.finish(limit_s)
    for _ = 1, (limit_s or 120) * 20 do
      local code = M.read(dir .. "/code")
      if code and code:match("%d") then
        return { code = tonumber(code), stdout = M.read(dir .. "/out"), stderr = M.read(dir .. "/err") }
      end
      os.execute("sleep 0.05")
    end
    error("agent did not finish: " .. (M.read(dir .. "/err") or ""))
  end
  return job
end

function M.wait_for(pred, what, limit_s)
  for _ = 1, (limit_s or 60) * 20 do
    if pred() then return end
    os.execute("sleep 0.05")
  end
  error("timed out waiting for " .. what)
end

-- Model server scenario rules (tests/servers/llm_server.py) under which every persona of the
-- panel at root answers with `findings` (verdict, summary, items, sections...) and every item
-- of its own checklist assessed by name, as a model that did its job does (a review that
-- leaves one out is no review). One rule per persona, matched by "You are <name> (" at the
-- start of its prompt; `status` overrides the "met" of every item. Reads the panel through
-- `agent personas`, so roster extensions count.
function M.review_rules(root, findings, status)
  local cjson = require("cjson")
  local function personas(args)
    local r = M.run(args, { cwd = root, env = { NO_COLOR = "1" }, plain = true })
    assert(r.code == 0, r.stderr)
    return cjson.decode(r.stdout)
  end
  local rules = {}
  for _, p in ipairs(personas({ "personas", "list", "--json" })) do
    if p.on_panel then
      local reply = {}
      for k, v in pairs(findings or {}) do reply[k] = v end
      reply.checklist = {}
      for i, c in ipairs(personas({ "personas", "show", p.id, "--json" }).checklist) do
        reply.checklist[i] = { item = c.text, status = status or "met", note = "Covered by the story." }
      end
      rules[#rules + 1] = { match = "You are " .. p.name .. " (", reply = reply }
    end
  end
  return rules
end

-- Starts a python server script from tests/servers/ on an ephemeral loopback port.
-- The script must accept --port-file PATH (it writes its port there once listening) and
-- any extra args. Returns {port=, url=, pid=, dir=, stop=function}; stop may be called more
-- than once, and M.cleanup() calls it for every server still running.
function M.start_server(script, args)
  local dir = M.tmpdir()
  local portfile = dir .. "/port"
  local cmd = { M.q(M.python), M.q(M.src .. "/tests/servers/" .. script), "--port-file", M.q(portfile) }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = M.q(a) end
  local p = io.popen(table.concat(cmd, " ") .. " >" .. M.q(dir .. "/server.log") .. " 2>&1 & echo $!")
  local pid = p:read("l")
  p:close()
  local port
  for _ = 1, 500 do
    local s = M.read(portfile)
    if s and s:match("^%d+%s*$") then port = tonumber(s) break end
    sh("sleep 0.01")
  end
  assert(port, "server " .. script .. " did not start: " .. (M.read(dir .. "/server.log") or ""))
  local server = { port = port, url = "http://127.0.0.1:" .. port, pid = pid, dir = dir }
  function server.stop()
    if server.stopped then return end
    server.stopped = true
    sh("kill " .. pid .. " 2>/dev/null; wait " .. pid .. " 2>/dev/null")
  end
  servers[#servers + 1] = server
  return server
end

-- Starts tests/servers/llm_server.py with its request log at srv.log: `rules` (when given)
-- are its scenario, `args` further arguments (such as {"--key", KEY}).
function M.llm_server(rules, args)
  local dir = M.tmpdir()
  local log = dir .. "/requests.jsonl"
  local argv = { "--log", log }
  if rules then
    argv[#argv + 1] = "--scenario"
    argv[#argv + 1] = M.write(dir .. "/scenario.json", require("cjson").encode(rules))
  end
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local srv = M.start_server("llm_server.py", argv)
  srv.log = log
  return srv
end

-- The requests an M.llm_server recorded, decoded; with `match`, those whose prompt holds it.
function M.requests(srv, match)
  local cjson = require("cjson")
  local out = {}
  for line in (M.read(srv.log) or ""):gmatch("[^\n]+") do
    local r = cjson.decode(line)
    if not match or r.prompt:find(match, 1, true) then out[#out + 1] = r end
  end
  return out
end

return M
