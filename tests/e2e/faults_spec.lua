-- Faults, end to end with the real binary and tests/servers/llm_server.py on loopback: a
-- model server that refuses, rate-limits, errs, hangs, drops, garbles, says nothing or says
-- too much; a disk that is read-only or full; two runs on one story at once; SIGINT and
-- SIGTERM in the middle of a run. Each run either succeeds through the retry policy or
-- fails with one clear line and a non-zero status, and never loses the previous runbook,
-- leaves half a file or a temporary file behind, or interleaves two runbooks.
-- providers_e2e_spec covers garbage twice, a refused key, the cache, a deadline and a signal
-- with no runbook yet; this file covers what it leaves out.
local t = require("testutil")

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"
local KEY = "sk-test-faults-5e1f"
local VALGRIND = os.getenv("AGENT_VALGRIND") == "1"

-- Two team personas with one checklist item each, the same one, so a single scripted reply
-- is a complete review from either.
local ITEM = "Retries are bounded and idempotent"
local PERSONA = "return { api = 1, id = %q, checklist = { %q } }\n"
local REVIEW = { verdict = "APPROVE", summary = "Reviewed.", items = {},
                 checklist = { { item = ITEM, status = "met", note = "The story bounds them." } }, sections = {} }
local SYNTHESIS = { goal = "Make POST /orders idempotent.", verification = "pytest", rollback = "Switch it off." }

-- Every persona approves and the synthesis answers; `before` rules come first.
local function scenario(before)
  local rules = {}
  for _, r in ipairs(before or {}) do rules[#rules + 1] = r end
  rules[#rules + 1] = { match = "on a governance panel", reply = REVIEW }
  rules[#rules + 1] = { match = "You write the implementation runbook", reply = SYNTHESIS }
  return rules
end

local function start(rules)
  return t.llm_server(rules, { "--key", KEY })
end

local requests = t.requests

-- A copy of rules-examples with a panel of two, and the runbook an offline run writes.
local function repo()
  local root = t.example_repo()
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: offline\npanel:\n  personas: [alpha, beta]\n")
  for _, id in ipairs({ "alpha", "beta" }) do t.write(root .. "/.agent/personas/" .. id .. ".lua", PERSONA:format(id, ITEM)) end
  local r = t.run({ "new-runbook", ID }, { cwd = root })
  assert(r.code == 0, r.stderr)
  return root, t.read(root .. "/" .. RUNBOOK)
end

local function env_for(url)
  return { OPENAI_BASE_URL = url .. "/v1", OPENAI_API_KEY = KEY, NO_COLOR = "1", http_proxy = false,
           HTTP_PROXY = false, ANTHROPIC_API_KEY = false }
end

local function agent(root, url, args, opts)
  opts = opts or {}
  local argv = { "new-runbook", ID, "--provider", "openai" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  opts.cwd, opts.env = root, env_for(url)
  return t.run(argv, opts)
end

local function entries(dir)
  local list = {}
  for name in t.output("ls -A " .. t.q(dir) .. " 2>/dev/null"):gmatch("[^\n]+") do list[#list + 1] = name end
  return list
end

-- The runbooks folder holds the runbook, its lock and, when one was kept, the .bak: never a
-- temporary file.
local function no_leftovers(root, bak)
  local want = { ".INFRA-012.lock", "INFRA-012-runbook.md" }
  if bak then want[3] = "INFRA-012-runbook.md.bak" end
  assert.are.same(want, entries(root .. "/.agent/cache/runbooks/INFRA"))
end

-- One whole runbook: one title, every top-level section once, in order, and the gates pass.
local function one_runbook(root, text)
  local _, titles = text:gsub("\n# INFRA%-012: ", "")
  assert.are.equal(0, titles, "a second title inside the runbook")
  assert.matches("^# INFRA%-012: ", text)
  local pos = 1
  for _, h in ipairs({ "## Goal Description", "## Compliance Checklist", "## Proposed Changes", "## Rollback Plan", "## Context Used" }) do
    local at = text:find("\n" .. h .. "\n", pos, true)
    assert.is_truthy(at, "missing or out of order: " .. h)
    assert.is_nil(text:find("\n" .. h .. "\n", at + 1, true), "twice: " .. h)
    pos = at + 1
  end
  local check = t.run({ "check-runbook", ID }, { cwd = root })
  assert.are.equal(0, check.code, check.stderr)
end

local function clean_stderr(r)
  assert.is_nil(r.stderr:find("stack traceback", 1, true), r.stderr)
  assert.is_nil(r.stderr:find("internal error", 1, true), r.stderr)
  assert.is_nil(r.stderr:find(KEY, 1, true), "the key reached stderr")
end

describe("a model server that misbehaves", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  -- Failures: @Alpha gets no usable review, says why in one line, @Beta still reviews, the
  -- runbook is written whole (exit 5) and the previous one is kept byte for byte as .bak.
  local FAILURES = {
    { "hangs past --timeout", { behavior = "hang" }, "timed? ?out", { "--timeout", "1" } },
    { "drops every connection mid-reply", { behavior = "drop" }, "connection closed before the end of the body" },
    { "returns malformed JSON", { behavior = "malformed" }, "the reply is not valid JSON" },
    { "returns an empty reply", { behavior = "empty" }, "the reply body is empty" },
    { "returns a reply over the 32 MiB cap", { behavior = "huge", huge_mb = 40 }, "response body larger than max_bytes %(33554432 bytes%)" },
    { "answers 503 to every attempt", { status = 503 }, "HTTP 503: scripted status 503 %(after 4 attempts%)" },
  }
  for _, case in ipairs(FAILURES) do
    local name, rule, message, args = case[1], case[2], case[3], case[4]
    it(name .. ": one line names it, the others review, the previous runbook is kept", function()
      rule.match = "You are @Alpha"
      srv = start(scenario({ rule }))
      local root, previous = repo()
      local argv = { "--force" }
      for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
      local started = os.time()
      local r = agent(root, srv.url, argv)
      assert.are.equal(5, r.code, r.stderr)
      clean_stderr(r)
      local _, lines = r.stderr:gsub("@Alpha: NO USABLE REVIEW: openai: [^\n]*" .. message, "")
      assert.are.equal(1, lines, r.stderr)
      assert.matches("@Beta: APPROVE", r.stderr)
      assert.are.equal(previous, t.read(root .. "/" .. RUNBOOK .. ".bak"))
      local text = t.read(root .. "/" .. RUNBOOK)
      assert.matches("%[ %] %*%*@Alpha%*%* %([^\n]*%): no usable review: ", text)
      one_runbook(root, text)
      no_leftovers(root, true)
      assert.is_true(os.time() - started < (VALGRIND and 120 or 40), "the run took too long")
    end)
  end

  it("refuses the connection: the run stops with one line, no synthesis, the previous runbook untouched", function()
    srv = start(scenario())
    local url = srv.url
    srv.stop() -- nothing listens on its port now
    srv = nil
    local root, previous = repo()
    local r = agent(root, url, { "--force" })
    assert.are.equal(1, r.code, r.stderr) -- every persona failed alike (provider_failures_spec)
    clean_stderr(r)
    assert.matches("@Alpha: NO USABLE REVIEW: openai: [^\n]*refused", r.stderr)
    assert.matches("\nagent: openai: POST '[^']+': cannot connect: Connection refused %(after %d+ attempts%)\n$", r.stderr)
    assert.is_nil(r.stderr:find("synthesis", 1, true))
    assert.are.equal(previous, t.read(root .. "/" .. RUNBOOK))
    no_leftovers(root, false)
  end)

  it("waits out 429 with Retry-After three times, then succeeds", function()
    srv = start(scenario({ { match = "You are @Alpha", status = 429, retry_after = 1, times = 3 } }))
    local root = repo()
    local r = agent(root, srv.url, { "--force" })
    assert.are.equal(0, r.code, r.stderr)
    local asked = requests(srv, "You are @Alpha")
    assert.are.equal(4, #asked)
    for i = 2, 4 do
      assert.is_true(asked[i].time - asked[i - 1].time >= 0.95, "a retry came before Retry-After allowed")
    end
    assert.matches("%[x%] %*%*@Alpha%*%*", t.read(root .. "/" .. RUNBOOK))
    no_leftovers(root, true)
  end)

  it("retries a 500 and a dropped connection, then succeeds", function()
    srv = start(scenario({
      { match = "You are @Alpha", status = 500, times = 1 },
      { match = "You are @Beta", behavior = "drop", times = 1 },
    }))
    local root = repo()
    local r = agent(root, srv.url, { "--force" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(2, #requests(srv, "You are @Alpha"))
    assert.are.equal(2, #requests(srv, "You are @Beta"))
    local text = t.read(root .. "/" .. RUNBOOK)
    assert.matches("%[x%] %*%*@Alpha%*%*", text)
    assert.matches("%[x%] %*%*@Beta%*%*", text)
  end)
end)

-- ---- The disk ------------------------------------------------------------------------------

-- What this machine lets a test do to a folder: "mount" (a private mount namespace: bind
-- mounts and tmpfs, undone when the run exits), else "chattr" (immutable flags, as root),
-- else nothing. RLIMIT_FSIZE needs nothing and stands in for a full disk.
local function can(what)
  if what == "mount" then
    return os.execute("unshare -rm sh -c 'mount -t tmpfs -o size=64k tmpfs /mnt' >/dev/null 2>&1") == true
  end
  local dir = t.tmpdir()
  t.write(dir .. "/f", "x")
  local ok = os.execute("chattr +i " .. t.q(dir .. "/f") .. " >/dev/null 2>&1") == true
  if ok then os.execute("chattr -i " .. t.q(dir .. "/f")) end
  return ok
end

-- A prefix for t.run: the shell `script` runs in a private mount namespace with the folder
-- as $1, then the agent command line; `after` (shell) runs once it exits, whose status is
-- kept. The namespace (and any tmpfs) is gone afterwards, so `after` copies out what the
-- test must see.
local function in_namespace(dir, script, after)
  return { "unshare", "-rm", "sh", "-c", ('d="$1"; shift; %s || exit 90; "$@"; rc=$?; %s; exit $rc'):format(script, after or ":"),
           "sh", dir }
end

describe("a disk that refuses the write", function()
  after_each(t.cleanup)

  local function offline(root, args, prefix)
    local argv = { "new-runbook", ID, "--force" }
    for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
    return t.run(argv, { cwd = root, env = { NO_COLOR = "1" }, prefix = prefix })
  end

  it("leaves the previous runbook and nothing else when the runbooks folder is read-only", function()
    local root, previous = repo()
    local dir = root .. "/.agent/cache/runbooks/INFRA"
    local r, one_line
    if can("mount") then
      r = offline(root, nil, in_namespace(dir, 'mount --bind "$d" "$d" && mount -o remount,bind,ro "$d"'))
      one_line = true -- the lock file cannot even be opened: the run stops before the panel
    elseif can("chattr") then
      -- (no user namespace in a chroot) the lock file inside stays writable, so the panel
      -- reviews and its progress lines come before the failure
      os.execute("chattr +i " .. t.q(dir))
      r = offline(root)
      os.execute("chattr -i " .. t.q(dir))
    else
      pending("neither a private mount namespace nor chattr works here: no way to make a folder read-only as root")
      return
    end
    assert.are.equal(1, r.code, r.stderr)
    local line = (one_line and r.stderr:match("^agent: [^\n]*\n$") or r.stderr:match("\n(agent: [^\n]*\n)$")) or ""
    assert.is_truthy(line:find(": Read-only file system", 1, true) or line:find(": Operation not permitted", 1, true), r.stderr)
    assert.are.equal(previous, t.read(root .. "/" .. RUNBOOK))
    assert.are.same({ ".INFRA-012.lock", "INFRA-012-runbook.md" }, entries(dir))
  end)

  it("leaves the previous runbook whole when the runbook itself cannot be replaced", function()
    if not can("chattr") then
      pending("chattr +i does not work here")
      return
    end
    local root, previous = repo()
    local path = root .. "/" .. RUNBOOK
    os.execute("chattr +i " .. t.q(path))
    local ok, r = pcall(offline, root)
    os.execute("chattr -i " .. t.q(path))
    assert(ok, r)
    assert.are.equal(1, r.code, r.stderr)
    assert.matches("agent: cannot write [^\n]*INFRA%-012%-runbook%.md: Operation not permitted\n$", r.stderr)
    assert.are.equal(previous, t.read(path))
    assert.are.equal(previous, t.read(path .. ".bak"))
    no_leftovers(root, true)
  end)

  it("leaves the previous runbook whole and no temporary file when the disk fills up", function()
    local root, previous = repo()
    local dir = root .. "/.agent/cache/runbooks/INFRA"
    local r, listing, kept, fsize
    if can("mount") then
      -- a tmpfs over the folder with room for the .bak but not for the new runbook's temp file
      local saved, out = t.tmpdir(), t.tmpdir()
      assert(t.sh("cp -a " .. t.q(dir) .. "/. " .. t.q(saved)))
      local pages = math.ceil(#previous / 4096)
      local filler = (64 - pages - pages - pages // 2) * 4096
      r = offline(root, nil, in_namespace(dir,
        ('mount -t tmpfs -o size=256k tmpfs "$d" && cp -a %s/. "$d" && head -c %d /dev/zero >"$d/.filler"'):format(t.q(saved), filler),
        ('rm -f "$d/.filler"; ls -A "$d" >%s/listing; cp -a "$d"/. %s/'):format(t.q(out), t.q(out))))
      listing, kept = t.read(out .. "/listing"), out
    else
      -- (no user namespace in a chroot) RLIMIT_FSIZE below the runbook's size: its writes
      -- fail with EFBIG, "File too large" (SIGXFSZ ignored, as a shell can); ulimit -f counts
      -- blocks of 512 bytes in dash, 1024 in bash: a quarter or half of the size
      r = offline(root, nil, { "sh", "-c", ("trap '' XFSZ; ulimit -f %d; exec \"$@\""):format(#previous // 2048), "sh" })
      listing, kept, fsize = table.concat(entries(dir), "\n") .. "\n", dir, true
    end
    assert.are.equal(1, r.code, r.stderr)
    if fsize then
      assert.matches("agent: [^\n]*: [^\n]*File too large\n$", r.stderr)
    else
      assert.matches("agent: [^\n]*: [^\n]*%f[%w]([Nn]o space left on device)", r.stderr)
    end
    assert.are.equal(previous, t.read(kept .. "/INFRA-012-runbook.md"))
    assert.is_nil(listing:find("%.tmp"), "a temporary file was left: " .. listing)
    local bak = t.read(kept .. "/INFRA-012-runbook.md.bak")
    assert.is_true(bak == nil or bak == previous, "a half-written .bak")
  end)
end)

-- ---- Two runs at once ------------------------------------------------------------------------

local spawn, wait_for = t.spawn, t.wait_for

describe("runs on one story at once", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  it("take turns: the runbook is always exactly one of the runbooks they wrote", function()
    local root = repo()
    -- each run writes a different runbook (its --budget cuts a different amount of context)
    local budgets, expected = { "100000", "3000", "1500", "900" }, {}
    for _, b in ipairs(budgets) do
      local r = t.run({ "new-runbook", ID, "--dry-run", "--budget", b }, { cwd = root })
      assert.are.equal(0, r.code, r.stderr)
      assert.is_nil(expected[r.stdout], "two budgets gave the same runbook")
      expected[r.stdout] = b
    end
    local jobs = {}
    for i, b in ipairs(budgets) do jobs[i] = spawn(root, { "new-runbook", ID, "--force", "--budget", b }, { NO_COLOR = "1" }) end
    for _, job in ipairs(jobs) do
      local r = job.finish()
      assert.are.equal(0, r.code, r.stderr)
    end
    assert.is_truthy(expected[t.read(root .. "/" .. RUNBOOK)], "the runbook is not one run's runbook")
    assert.is_truthy(expected[t.read(root .. "/" .. RUNBOOK .. ".bak")], "the .bak is not one run's runbook")
    no_leftovers(root, true)
  end)

  it("fail clearly when one cannot wait as long as the other holds the story", function()
    srv = start(scenario({ { match = "on a governance panel", latency_ms = 4000, reply = REVIEW } }))
    local root = repo()
    local first = spawn(root, { "new-runbook", ID, "--provider", "openai", "--force" }, env_for(srv.url))
    wait_for(function() return #requests(srv) > 0 end, "the first run's requests")
    local second = agent(root, srv.url, { "--force", "--deadline", "1" })
    assert.are.equal(1, second.code, second.stderr)
    assert.matches("waiting for it to finish", second.stderr)
    assert.matches("\nagent: [^\n]*%.INFRA%-012%.lock[^\n]*still held after %d+ ms\n$", second.stderr)
    local r = first.finish()
    assert.are.equal(0, r.code, r.stderr)
    one_runbook(root, t.read(root .. "/" .. RUNBOOK))
    no_leftovers(root, true)
  end)
end)

-- ---- Signals ------------------------------------------------------------------------------

describe("a signal in the middle of a run", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  local function cache_entries(root)
    return #entries(root .. "/.agent/cache/panel/" .. ID)
  end

  it("SIGINT during the panel: 130 at once, replies kept, the old runbook untouched; the rerun pays only for the rest", function()
    srv = start(scenario({ { match = "You are @Beta", behavior = "hang" } }))
    local root, previous = repo()
    local job = spawn(root, { "new-runbook", ID, "--provider", "openai", "--force" }, env_for(srv.url))
    wait_for(function() return #requests(srv, "You are @Beta") > 0 and cache_entries(root) == 1 end, "@Beta's request and @Alpha's cached reply")
    local sent = os.time()
    os.execute("kill -INT " .. job.pid)
    local r = job.finish()
    assert.is_true(os.time() - sent <= (VALGRIND and 10 or 3), "the hung request was not cancelled at once")
    assert.are.equal(130, r.code, r.stderr)
    assert.matches("interrupted by SIGINT; replies received so far are cached", r.stderr)
    assert.are.equal(previous, t.read(root .. "/" .. RUNBOOK))
    no_leftovers(root, false)
    assert.are.equal(1, cache_entries(root))
    srv.stop()
    srv = start(scenario())
    local again = agent(root, srv.url, { "--force" })
    assert.are.equal(0, again.code, again.stderr)
    assert.matches("@Alpha: APPROVE %(cached%)", again.stderr)
    local asked = requests(srv)
    assert.are.equal(2, #asked, "only @Beta and the synthesis are asked again")
    assert.is_truthy(asked[1].prompt:find("You are @Beta", 1, true))
    assert.are.equal(previous, t.read(root .. "/" .. RUNBOOK .. ".bak"))
  end)

  it("SIGTERM during the synthesis: 143, both reviews kept, nothing written", function()
    srv = start(scenario({ { match = "You write the implementation runbook", behavior = "hang" } }))
    local root, previous = repo()
    local job = spawn(root, { "new-runbook", ID, "--provider", "openai", "--force" }, env_for(srv.url))
    wait_for(function() return #requests(srv, "You write the implementation runbook") > 0 end, "the synthesis request")
    os.execute("kill -TERM " .. job.pid)
    local r = job.finish()
    assert.are.equal(143, r.code, r.stderr)
    assert.matches("interrupted by SIGTERM", r.stderr)
    assert.are.equal(previous, t.read(root .. "/" .. RUNBOOK))
    no_leftovers(root, false)
    assert.are.equal(2, cache_entries(root))
  end)

  it("SIGINT while waiting for another run's lock: 130, and the other run finishes", function()
    srv = start(scenario({ { match = "on a governance panel", latency_ms = 3000, reply = REVIEW } }))
    local root = repo()
    local first = spawn(root, { "new-runbook", ID, "--provider", "openai", "--force" }, env_for(srv.url))
    wait_for(function() return #requests(srv) > 0 end, "the first run's requests")
    local second = spawn(root, { "new-runbook", ID, "--provider", "openai", "--force" }, env_for(srv.url))
    wait_for(function() return (t.read(second.dir .. "/err") or ""):find("waiting for it to finish", 1, true) end, "the second run to wait")
    os.execute("kill -INT " .. second.pid)
    local r2 = second.finish()
    assert.are.equal(130, r2.code, r2.stderr)
    assert.matches("interrupted", r2.stderr)
    local r1 = first.finish()
    assert.are.equal(0, r1.code, r1.stderr)
    one_runbook(root, t.read(root .. "/" .. RUNBOOK))
    no_leftovers(root, true)
  end)

  it("SIGINT while a walk job is waited for: the walk stops at its next folder, 130", function()
    -- 23 folders, each linking twice to the next: followed, that is 2^22 folders to enter,
    -- many seconds of walking; the job must stop within moments of the signal
    local dir = t.tmpdir()
    local cmds = {}
    for i = 0, 22 do cmds[#cmds + 1] = ("mkdir %s/d%d"):format(t.q(dir), i) end
    for i = 0, 21 do
      cmds[#cmds + 1] = ("ln -s ../d%d %s/d%d/a && ln -s ../d%d %s/d%d/b"):format(i + 1, t.q(dir), i, i + 1, t.q(dir), i)
    end
    assert.is_true(t.sh(table.concat(cmds, " && ")))
    t.write(dir .. "/walk.lua", ([[
      local fs = require("agent.fs")
      local job = fs.walk_start(%q, { follow = true })
      io.open(%q, "w"):close()
      local files, err = job:wait()
      print(files and ("finished: " .. #files) or err)
    ]]):format(dir .. "/d0", dir .. "/started"))
    local job = spawn(dir, { "lua", dir .. "/walk.lua" }, { NO_COLOR = "1" })
    wait_for(function() return t.read(dir .. "/started") ~= nil end, "the walk to start")
    os.execute("sleep 0.2; kill -INT " .. job.pid)
    local r = job.finish(VALGRIND and 60 or 10) -- uncancelled, the walk would take far longer
    assert.are.equal(130, r.code, r.stderr)
    assert.are.equal("walk '" .. dir .. "/d0': Operation canceled\n", r.stdout)
  end)
end)
