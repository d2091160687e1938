-- The benchmark driver: each benchmark measures agent against a reference in the same run
-- and prints one line per figure:  name  value unit  reference  ratio  target  met|missed
-- Wall times are hyperfine medians (-N: no shell between hyperfine and the program). Nothing
-- here is a timed assertion: CI runs `--smoke` (tiny inputs, few runs) to prove that every
-- benchmark still runs and still computes the right thing; bench/README.md records figures.
-- A benchmark fails only when its workload does (a non-zero exit, a wrong count), never
-- because it was slow.
--
-- usage: agent lua bench/bench.lua [--smoke] [--only NAME[,NAME]] [--out DIR] [--latency-ms L]
-- NAME: host, walk_select, context, panel, yaml, markdown (in that order by default).
local fs = require("agent.fs")
local sys = require("agent.sys")
local cjson = require("cjson")

local SRC = ((fs.realpath(arg[0]) or arg[0]):match("^(.*)/bench/[^/]*$")) or "."
local ORDER = { "host", "walk_select", "context", "panel", "yaml", "markdown" }

local function parse_args(argv)
  local opts = { smoke = false, only = nil, out = SRC .. "/bench/out", latency_ms = nil }
  local i = 1
  local function value(flag)
    i = i + 1
    return argv[i] or error(flag .. " needs a value", 0)
  end
  while argv[i] do
    local a = argv[i]
    if a == "--smoke" then
      opts.smoke = true
    elseif a == "--only" then
      opts.only = {}
      for n in value(a):gmatch("[^,]+") do opts.only[n] = true end
    elseif a == "--out" then
      opts.out = value(a)
    elseif a == "--latency-ms" then
      opts.latency_ms = tonumber(value(a)) or error("--latency-ms needs a number of milliseconds", 0)
    else
      error(("unknown argument '%s' (usage: bench.lua [--smoke] [--only NAME,...] [--out DIR] [--latency-ms L])")
        :format(a), 0)
    end
    i = i + 1
  end
  for name in pairs(opts.only or {}) do
    local known = false
    for _, n in ipairs(ORDER) do known = known or n == name end
    if not known then error(("--only: no benchmark '%s' (known: %s)"):format(name, table.concat(ORDER, ", ")), 0) end
  end
  return opts
end

local opts = parse_args(arg)

-- Sizes: the issue's figures in a full run; just enough to exercise every path in smoke.
local SIZE = opts.smoke and {
  runs = 2, version_runs = 3, runbook_runs = 2, tree = { 2000, 100, 30, 10, 10 }, doc_bytes = 50 * 1024,
  latency_ms = opts.latency_ms or 20, panel_runs = 1, panels = { 6, 12 },
} or {
  runs = 10, version_runs = 50, runbook_runs = 20, tree = { 100000, 5000, 300, 200, 50 }, doc_bytes = 5 * 1024 * 1024,
  latency_ms = opts.latency_ms or 300, panel_runs = 10, panels = { 6, 12, 24 },
}

-- ---- Processes -------------------------------------------------------------------------------

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  local ok, _, code = os.execute(cmd)
  if not ok then error(("command failed (exit %s): %s"):format(tostring(code), cmd), 0) end
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function have(tool)
  return os.execute("command -v " .. q(tool) .. " >/dev/null 2>&1") == true
end

local AGENT = capture("readlink -f /proc/" .. sys.pid() .. "/exe"):gsub("%s+$", "")
local BUILD = AGENT:match("^(.*)/bin/[^/]+$") or "."

-- Times each command with hyperfine -N, which runs it without a shell (so a command is
-- words, no redirections) and discards its output. Returns, per command, {median=, cpu=}
-- in ms: the median wall time, and the mean user + system CPU time, which a busy machine
-- disturbs less. A command that exits non-zero fails the benchmark (a figure of a failing run
-- would mean nothing); hyperfine's warnings are shown only then.
local function hyperfine(cmds, runs, warmup)
  local json, log = os.tmpname(), os.tmpname()
  warmup = opts.smoke and 0 or warmup -- smoke proves the commands run; it times nothing worth warming
  local parts = { "hyperfine -N --style none --runs", runs, "--warmup", warmup, "--export-json", q(json) }
  for _, c in ipairs(cmds) do parts[#parts + 1] = q(c) end
  local ok, err = pcall(sh, table.concat(parts, " ") .. " >" .. q(log) .. " 2>&1")
  local data = ok and cjson.decode(assert(fs.read(json)))
  local said = fs.read(log) or ""
  os.remove(json)
  os.remove(log)
  if not ok then error(err .. "\n" .. said, 0) end
  local times = {}
  for i, r in ipairs(data.results) do times[i] = { median = r.median * 1000, cpu = (r.user + r.system) * 1000 } end
  return times
end

-- Runs cmd once; returns its stdout, or raises with its stderr when it exits non-zero.
local function run_checked(cmd)
  local err = os.tmpname()
  local p = assert(io.popen(cmd .. " 2>" .. q(err)))
  local out = p:read("a")
  local ok, _, code = p:close()
  local msg = fs.read(err) or ""
  os.remove(err)
  if not ok then
    error(("exit %s from: %s\n%s"):format(tostring(code), cmd, msg:sub(1, 2000)), 0)
  end
  return out
end

-- ---- Output ----------------------------------------------------------------------------------

-- One figure. ratio: value over the reference (or over the limit, for absolute targets);
-- limit: the ratio the target allows (nil: no target).
local function report(name, value, unit, reference, ratio, limit)
  local verdict = limit and ratio and (ratio <= limit and "met" or "missed") or ""
  print(("%-32s %9.2f %-3s  %-28s %-11s %-13s %s"):format(name, value, unit, reference or "-",
    ratio and ("ratio=%.2f"):format(ratio) or "-", limit and ("target<=%.2f"):format(limit) or "-", verdict))
  io.stdout:flush()
end

local function slurp(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Where the figures come from: the machine, and how busy it was.
local function machine()
  local cpu = (slurp("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"
  local kb = tonumber((slurp("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")) or 0
  local load = (slurp("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)") or "?"
  print(("# %s, %s mode"):format(os.date("!%Y-%m-%d %H:%M UTC"), opts.smoke and "smoke" or "full"))
  local os_name = (slurp("/etc/os-release") or ""):match('PRETTY_NAME="([^"\n]*)"') or "?"
  print(("# %s, %s cores, %.1f GiB RAM, %s, %s"):format(cpu, capture("nproc"):gsub("%s+$", ""), kb / 1048576,
    os_name, capture("uname -srm"):gsub("%s+$", "")))
  local git = "git -C " .. q(SRC)
  local commit = capture(git .. " rev-parse --short HEAD 2>/dev/null"):gsub("%s+$", "")
  local dirty = capture(git .. " status --porcelain --untracked-files=no 2>/dev/null") ~= ""
  print(("# agent %s (commit %s%s); load average %s"):format(AGENT, commit ~= "" and commit or "?",
    dirty and " with uncommitted changes" or "", load))
end

-- ---- Inputs (generated once per size, cached under the output directory) ---------------------
-- The names carry the generator's version (tree-v2, doc-v1): bump it when gen_repo.lua or
-- gen_docs.lua changes what it writes, so a stale cached input is never measured.

local function tree(files, dirs, rules, adrs, named)
  local dir = ("%s/tree-v2-%d-%d-%d-%d-%d"):format(opts.out, files, dirs, rules, adrs, named)
  if not fs.exists(dir .. "/.agent/cache/stories/BENCH/BENCH-001-synthetic.md") then
    sh(("%s lua %s %s %d %d %d %d %d >/dev/null"):format(q(AGENT), q(SRC .. "/bench/gen_repo.lua"), q(dir),
      files, dirs, rules, adrs, named))
  end
  return dir
end

local function document(kind, bytes)
  local path = ("%s/doc-v1-%d.%s"):format(opts.out, bytes, kind == "yaml" and "yaml" or "md")
  if not fs.exists(path) then
    sh(("%s lua %s %s %s %d >/dev/null"):format(q(AGENT), q(SRC .. "/bench/gen_docs.lua"), kind, q(path), bytes))
  end
  return path
end

-- A directory under the output directory that a run rewrites. Smoke runs (scripts/test.sh
-- makes one) get their own, so a smoke run cannot recreate the repository or the server log
-- of a full run it overlaps (one full run's panel failed with exit 70 that way or otherwise:
-- it did not happen again).
local function scratch(name)
  return opts.out .. "/" .. name .. (opts.smoke and "-smoke" or "")
end

-- A fresh copy of rules-examples (the demo repository) under the output directory.
local function example_repo(name)
  local dir = scratch(name)
  sh(("rm -rf %s && mkdir -p %s && cp -R %s/. %s"):format(q(dir), q(dir), q(SRC .. "/rules-examples"), q(dir)))
  return dir
end

local function field(out, key)
  return tonumber(out:match(key .. "=(%d+)"))
end

-- The peak RSS a workload printed (its VmHWM), against the 64 MB target.
local function report_rss(name, out)
  local kb = field(out, "peak_rss_kb") or error(name .. ": the workload printed no peak_rss_kb: " .. out, 0)
  report(name .. " peak RSS", kb / 1024, "MB", "target 64 MB", kb / 1024 / 64, 1)
end

-- Times ours against a reference command in one hyperfine run and reports the wall-time
-- ratio against the target, then the CPU-time ratio (no target: it shows how much of a
-- wall-time gap is the reference's threads, or other load on the machine).
local function compare(name, ours, ref_name, ref_cmd, limit)
  local m = hyperfine({ ref_cmd, ours }, SIZE.runs, 2)
  report(name, m[2].median, "ms", ("%s %.2f ms"):format(ref_name, m[1].median), m[2].median / m[1].median, limit)
  report(name .. " (CPU)", m[2].cpu, "ms", ("%s %.2f ms"):format(ref_name, m[1].cpu), m[2].cpu / m[1].cpu, nil)
end

-- ---- 1. Host overhead ------------------------------------------------------------------------

local BENCH = {}

function BENCH.host()
  local lua = have("lua5.4") and "lua5.4 -e ''" or nil
  local cmds = { AGENT .. " --version", lua }
  local m = hyperfine(cmds, SIZE.version_runs, 5)
  report("agent --version", m[1].median, "ms", lua and ("lua5.4 -e '' %.2f ms"):format(m[2].median), m[1].median / 5, 1)
  local repo = example_repo("rules-examples")
  local offline = ("%s new-runbook INFRA-012 --dry-run --provider offline --root %s"):format(AGENT, repo)
  run_checked(offline .. " >/dev/null")
  m = hyperfine({ offline }, SIZE.runbook_runs, 3)
  report("new-runbook offline", m[1].median, "ms", "target 50 ms", m[1].median / 50, 1)
end

-- ---- 2. walk + select against fd (issue 2) ---------------------------------------------------

function BENCH.walk_select()
  local root = tree(table.unpack(SIZE.tree))
  local ours = ("%s lua %s %s"):format(AGENT, SRC .. "/bench/walk_select.lua", root)
  local fd = "fdfind --no-ignore --hidden --type f . " .. root
  local out = run_checked(ours)
  local listed = select(2, run_checked(fd):gsub("\n", ""))
  if field(out, "files") ~= listed then
    error(("walk listed %s files where fd listed %d: the two do not measure the same work"):format(
      tostring(field(out, "files")), listed), 0)
  end
  compare("walk+select", ours, "fd", fd, 1.5)
  report_rss("walk+select", out)
end

-- ---- 3. Context and prompts on a large repository --------------------------------------------

function BENCH.context()
  local root = tree(table.unpack(SIZE.tree))
  local ours = ("%s lua %s %s BENCH-001"):format(AGENT, SRC .. "/bench/context_prompts.lua", root)
  local fd = "fdfind --no-ignore --hidden --type f . " .. root
  local out = run_checked(ours)
  if field(out, "prompts") ~= field(out, "personas") or (field(out, "prompt_bytes") or 0) == 0 then
    error("context_prompts.lua built no prompts: " .. out, 0)
  end
  compare("context+prompts", ours, "fd", fd, 2)
  report_rss("context+prompts", out)
end

-- ---- 4. Panel latency against the test LLM server --------------------------------------------

local SYNTHESIS_REPLY = {
  goal = "Make POST /orders idempotent with an Idempotency-Key header.",
  spec = { api = "POST /orders accepts an optional `Idempotency-Key` header." },
  changes = { { component = "src", ops = {
    { op = "NEW", path = "src/orders/idempotency.py", content = '"""Idempotency keys."""\n' },
  } } },
  verification = "pytest tests/test_orders.py covers every acceptance criterion.",
  rollback = "Set ORDERS_IDEMPOTENCY=off and restart.",
}

-- The `agent personas ...` JSON of a repository.
local function personas_json(root, args)
  return cjson.decode(capture(("NO_COLOR=1 %s personas %s --json --root %s"):format(AGENT, args, q(root))))
end

-- One approving review per persona of root's panel, matched by the "You are @Name (" its
-- prompt opens with: a review must assess every checklist item by name, or the panel retries
-- it (and the run would make more calls than personas + 1).
local function review_rules(root)
  local rules = {}
  for _, p in ipairs(personas_json(root, "list")) do
    if p.on_panel then
      local checklist = {}
      for i, c in ipairs(personas_json(root, "show " .. q(p.id)).checklist) do
        checklist[i] = { item = c.text, status = "met", note = "Covered by the story." }
      end
      rules[#rules + 1] = { match = "You are " .. p.name .. " (", reply = { verdict = "APPROVE",
        summary = "Reviewed against the rules in context.", items = {}, checklist = checklist, sections = {} } }
    end
  end
  return rules
end

-- Starts tests/servers/llm_server.py answering every call after latency_ms, the synthesis and
-- each persona of `rules` (review_rules). Returns {url=, log=, stop=function}; the caller must
-- stop it.
local function start_server(dir, latency_ms, rules)
  local scenario = dir .. "/scenario.json"
  table.insert(rules, 1, { match = "You write the implementation runbook", reply = SYNTHESIS_REPLY })
  assert(fs.write(scenario, cjson.encode(rules)))
  local port_file, log = dir .. "/port", dir .. "/requests.jsonl"
  os.remove(port_file)
  os.remove(log) -- the server appends every request, prompt and all, to it
  local pid = capture(("python3 %s --port-file %s --latency-ms %d --scenario %s --log %s >%s 2>&1 & echo $!"):format(
    q(SRC .. "/tests/servers/llm_server.py"), q(port_file), latency_ms, q(scenario), q(log),
    q(dir .. "/server.out"))):match("%d+")
  local server = { log = log }
  function server.stop() os.execute("kill " .. pid .. " 2>/dev/null") end
  for _ = 1, 1000 do -- up to 10 s for python to start on a slow machine
    local port = (fs.read(port_file) or ""):match("^(%d+)%s*$")
    if port then
      server.url = "http://127.0.0.1:" .. port
      return server
    end
    sys.sleep(10)
  end
  server.stop()
  error("the test LLM server did not start: " .. (fs.read(dir .. "/server.out") or ""), 0)
end

local DEFAULT_JOBS = 8 -- panel.jobs when neither the config nor --jobs sets it
local BUILTIN_PERSONAS = { "architect", "security", "qa", "docs", "compliance", "observability" }

-- A copy of rules-examples whose panel is the six built-ins plus n - 6 generated personas.
local function panel_repo(n)
  local root = example_repo("panel-" .. n)
  local ids = { table.unpack(BUILTIN_PERSONAS) }
  assert(fs.mkdir_p(root .. "/.agent/personas"))
  for i = #ids + 1, n do
    local id = ("bench%02d"):format(i)
    ids[#ids + 1] = id
    assert(fs.write(("%s/.agent/personas/%s.lua"):format(root, id), ([[
return {
  api = 1, id = "%s", title = "Generated reviewer %d", focus = "one more point of view",
  checklist = { "The change names the tests that prove it", "The rollback is one step" },
}
]]):format(id, i)))
  end
  assert(fs.write(root .. "/.agent/etc/agent.yaml", ("agent:\n  provider: openai\n  models:\n    openai: bench-model\n"
    .. "panel:\n  personas: [%s]\n"):format(table.concat(ids, ", "))))
  return root
end

local function count_lines(path)
  local text = fs.read(path) or ""
  return select(2, text:gsub("\n", ""))
end

-- One new-runbook configuration: checked once (exit 0, exactly one call per persona plus the
-- synthesis: no retry, no repair), then timed. Returns the median in ms.
local function panel_run(server, root, n, jobs)
  local cmd = table.concat({
    "env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy",
    "NO_COLOR=1 OPENAI_API_KEY=bench-key OPENAI_BASE_URL=" .. server.url .. "/v1",
    AGENT, "new-runbook INFRA-012 --force --fresh --root", root, "--jobs", jobs }, " ")
  local before = count_lines(server.log)
  run_checked(cmd .. " >/dev/null")
  local calls = count_lines(server.log) - before
  if calls ~= n + 1 then
    error(("new-runbook with %d personas made %d model calls, not %d (a retry or a repair): see %s")
      :format(n, calls, n + 1, server.log), 0)
  end
  return hyperfine({ cmd }, SIZE.panel_runs, 1)[1].median
end

function BENCH.panel()
  local L = SIZE.latency_ms
  local dir = scratch("llm-server")
  assert(fs.mkdir_p(dir))
  local roots = {}
  for _, n in ipairs(SIZE.panels) do roots[n] = panel_repo(n) end
  -- the largest panel holds every persona of the smaller ones
  local server = start_server(dir, L, review_rules(roots[SIZE.panels[#SIZE.panels]]))
  local ok, err = pcall(function()
    local ref = ("2L = %d ms"):format(2 * L)
    local limit = (2 * L + 100) / (2 * L)
    local base
    for _, n in ipairs(SIZE.panels) do
      local root = roots[n]
      local t = panel_run(server, root, n, n)
      local ratio = t / (2 * L)
      base = base or ratio
      report(("new-runbook %d personas"):format(n), t, "ms", ref, ratio, n == 6 and limit or base * 1.10)
      if n == 6 then
        local seq = panel_run(server, root, n, 1)
        report("new-runbook 6 personas --jobs 1", seq, "ms", ref, seq / (2 * L), nil)
      end
    end
    -- The default panel.jobs (8) runs a larger panel in waves: one more L per wave.
    local n = SIZE.panels[#SIZE.panels]
    local waves = panel_run(server, roots[n], n, DEFAULT_JOBS)
    report(("new-runbook %d personas --jobs %d"):format(n, DEFAULT_JOBS), waves, "ms", ref, waves / (2 * L), nil)
  end)
  server.stop()
  if not ok then error(err, 0) end
end

-- ---- 5. Primitive throughput -----------------------------------------------------------------

function BENCH.yaml()
  local path = document("yaml", SIZE.doc_bytes)
  local ref = BUILD .. "/bench/yaml_parse"
  if not fs.exists(ref) then error(ref .. " is missing: build the project (bench/CMakeLists.txt builds it)", 0) end
  local ours = ("%s lua %s %s"):format(AGENT, SRC .. "/bench/yaml_decode.lua", path)
  local ref_cmd = ref .. " " .. path
  if (field(run_checked(ours), "services") or 0) == 0 or (field(run_checked(ref_cmd), "events") or 0) == 0 then
    error("the YAML workloads parsed nothing", 0)
  end
  compare(("yaml.decode %.2f MB"):format(SIZE.doc_bytes / 1048576), ours, "libyaml loop", ref_cmd, 3)
end

function BENCH.markdown()
  local path = document("markdown", SIZE.doc_bytes)
  local ours = ("%s lua %s %s"):format(AGENT, SRC .. "/bench/markdown_parse.lua", path)
  local ref_cmd = "cmark " .. path
  if (field(run_checked(ours), "headings") or 0) == 0 then error("the markdown workload found no headings", 0) end
  compare(("markdown.parse %.2f MB"):format(SIZE.doc_bytes / 1048576), ours, "cmark", ref_cmd, 2)
end

-- ---- Main ------------------------------------------------------------------------------------

local NEEDS = { host = { "hyperfine" }, walk_select = { "hyperfine", "fdfind" }, context = { "hyperfine", "fdfind" },
  panel = { "hyperfine", "python3" }, yaml = { "hyperfine" }, markdown = { "hyperfine", "cmark" } }

local function main()
  assert(fs.mkdir_p(opts.out))
  machine()
  local failed = {}
  for _, name in ipairs(ORDER) do
    if not opts.only or opts.only[name] then
      local missing = {}
      for _, tool in ipairs(NEEDS[name]) do
        if not have(tool) then missing[#missing + 1] = tool end
      end
      if #missing > 0 then
        print(("%-32s skipped: %s not installed (scripts/deps.sh test)"):format(name, table.concat(missing, ", ")))
      else
        local ok, err = pcall(BENCH[name])
        if not ok then
          failed[#failed + 1] = name
          io.stderr:write(("bench %s: %s\n"):format(name, tostring(err)))
        end
      end
    end
  end
  print(("# load average %s"):format((slurp("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)") or "?"))
  if #failed > 0 then
    io.stderr:write(("bench: %d benchmark%s failed: %s\n"):format(#failed, #failed == 1 and "" or "s",
      table.concat(failed, ", ")))
    return 1
  end
  return 0
end

return main()
