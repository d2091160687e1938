-- The Neovim plugin (editors/nvim), headless in Debian's nvim (0.7 and later) with the real
-- agent binary on a copy of rules-examples: :AgentRunbook writes and opens the runbook, a
-- missing story puts the CLI's error in the quickfix list and an existing runbook points at
-- :AgentRunbook!, :AgentPanel lists every persona typed by weight (blocker E, major W, minor I),
-- :AgentCheck lists a broken runbook's problems at their file and line, persona progress
-- arrives as notifications. A driver inside nvim records what the editor shows as JSON.
local t = require("testutil")
local json = require("agent").json

local ID = "INFRA-012"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"

local have_nvim = t.sh("command -v nvim >/dev/null 2>&1")

-- Runs inside nvim: the command from AGENT_NVIM_CMD, a wait for the job, then the editor's
-- state (current buffer, quickfix list, notifications) written to AGENT_NVIM_REPORT.
local DRIVER = [[
local notes = {}
vim.notify = function(msg, level) notes[#notes + 1] = { msg = msg, level = level } end
local agent = require("agent")
vim.cmd(vim.env.AGENT_NVIM_CMD)
local done = vim.wait(120000, function() return agent.last ~= nil end, 20)
local qf = {}
for _, it in ipairs(vim.fn.getqflist()) do
  qf[#qf + 1] = { file = it.bufnr > 0 and vim.api.nvim_buf_get_name(it.bufnr) or "", lnum = it.lnum,
                  text = it.text, type = it.type }
end
local wins = {}
for _, w in ipairs(vim.api.nvim_list_wins()) do
  wins[#wins + 1] = vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(w))
end
local report = {
  done = done, code = agent.last and agent.last.code or -1, notes = notes, qf = qf, windows = wins,
  qf_title = vim.fn.getqflist({ title = 1 }).title, completion = agent.story_ids("inf"),
  completion_runbook = vim.fn.getcompletion("AgentRunbook inf", "cmdline"),
  completion_panel = vim.fn.getcompletion("AgentPanel I", "cmdline"),
  completion_nobin = (function()
    local bin = vim.g.agent_bin
    vim.g.agent_bin = "/nonexistent/agent"
    local ok, ids = pcall(vim.fn.getcompletion, "AgentPanel I", "cmdline")
    vim.g.agent_bin = bin
    return ok and ids or "raised: " .. tostring(ids)
  end)(),
  buffer = vim.api.nvim_buf_get_name(0), buffer_lines = vim.api.nvim_buf_line_count(0),
}
local f = assert(io.open(vim.env.AGENT_NVIM_REPORT, "w"))
f:write(vim.fn.json_encode(report))
f:close()
vim.cmd("qall!")
]]

local repo = t.example_repo

-- Runs an Ex command in headless nvim from cwd; returns the driver's report.
local function nvim(cwd, command)
  local dir = t.tmpdir()
  local driver = t.write(dir .. "/driver.lua", DRIVER)
  local report = dir .. "/report.json"
  local cmd = table.concat({
    "cd " .. t.q(cwd) .. " &&",
    "AGENT_NVIM_CMD=" .. t.q(command), "AGENT_NVIM_REPORT=" .. t.q(report),
    -- nvim is not instrumented: under scripts/test.sh --asan it runs without the preloaded
    -- runtime, and the agent it starts gets AGENT_ASAN_OPTIONS (leak checks on)
    os.getenv("AGENT_ASAN_OPTIONS") and ("env -u LD_PRELOAD ASAN_OPTIONS=" .. t.q(os.getenv("AGENT_ASAN_OPTIONS"))) or "",
    "timeout 180 nvim --headless -u NONE -i NONE",
    "--cmd " .. t.q("set rtp+=" .. t.src .. "/editors/nvim"),
    "--cmd " .. t.q("let g:agent_bin = '" .. t.bin .. "'"),
    "-c 'runtime plugin/agent.lua'",
    "-c " .. t.q("luafile " .. driver),
    "</dev/null >" .. t.q(dir .. "/out") .. " 2>&1",
  }, " ")
  t.sh(cmd)
  local text = t.read(report)
  assert(text, "nvim wrote no report: " .. (t.read(dir .. "/out") or ""))
  local r = assert(json.decode(text))
  assert.is_true(r.done, "the agent job did not finish")
  return r
end

local function notes_text(r)
  local out = {}
  for _, n in ipairs(r.notes) do out[#out + 1] = n.msg end
  return table.concat(out, "\n")
end

describe("the Neovim plugin, headless", function()
  after_each(t.cleanup)

  if not have_nvim then
    it("needs nvim", function() pending("nvim is not installed") end)
    return
  end

  it(":AgentRunbook writes the runbook, opens it, and notifies each persona's verdict", function()
    local root = repo()
    local r = nvim(root .. "/src/orders", "AgentRunbook " .. ID)
    assert.are.equal(0, r.code)
    local path = root .. "/" .. RUNBOOK
    assert.are.equal(path, r.buffer)
    assert.are.equal(2, #r.windows) -- opened in a split
    local text = assert(t.read(path))
    assert.matches("^# INFRA%-012: ", text)
    local lines = select(2, text:gsub("\n", "\n"))
    assert.are.equal(lines, r.buffer_lines)
    local notes = notes_text(r)
    assert.matches("agent: @Security: APPROVE", notes)
    assert.matches("agent: @Architect: ", notes)
    assert.matches("agent: wrote " .. RUNBOOK:gsub("%p", "%%%0") .. " %(exit 0%)", notes)
    assert.are.same({ "INFRA-012", "INFRA-013", "INFRA-014" }, r.completion)
    -- as on the shell: :AgentRunbook offers the COMMITTED story only, :AgentPanel any
    assert.are.same({ "INFRA-012" }, r.completion_runbook)
    assert.are.same({ "INFRA-012", "INFRA-013", "INFRA-014" }, r.completion_panel)
    assert.are.same({}, r.completion_nobin) -- no agent to run: nothing, and no error
  end)

  it(":AgentRunbook on a missing story puts the error in the quickfix list", function()
    local root = repo()
    local r = nvim(root, "AgentRunbook INFRA-999")
    assert.are.equal(1, r.code)
    assert.are.equal("agent new-runbook INFRA-999", r.qf_title)
    assert.is_true(#r.qf >= 1)
    assert.matches("^story 'INFRA%-999' not found", r.qf[1].text)
    assert.are.equal("E", r.qf[1].type)
    assert.is_nil(t.read(root .. "/.agent/cache/runbooks/INFRA/INFRA-999-runbook.md"))
    assert.matches("agent: story 'INFRA%-999' not found", notes_text(r))
  end)

  it(":AgentPanel lists every persona with its verdict", function()
    local root = repo()
    local r = nvim(root, "AgentPanel " .. ID)
    assert.are.equal(0, r.code)
    local cli = json.decode(t.run({ "panel", ID, "--json" }, { cwd = root }).stdout)
    local heads = {}
    for _, it in ipairs(r.qf) do
      if not it.text:match("^%s") then heads[#heads + 1] = it.text end
    end
    assert.are.equal(#cli.personas, #heads)
    for i, p in ipairs(cli.personas) do
      assert.are.equal(("%s: %s."):format(p.name, p.verdict), heads[i]:sub(1, #p.name + #p.verdict + 3))
    end
    -- findings that cite a repository file jump to it
    local cited = 0
    for _, it in ipairs(r.qf) do
      if it.file ~= "" then
        cited = cited + 1
        assert.is_truthy(t.read(it.file), it.file)
      end
    end
    assert.is_true(cited > 0)
  end)

  -- A panel with a blocking persona (findings of every severity) and one whose script fails.
  local function troubled_repo()
    local root = repo()
    local copy_base = "local p = {}\nfor k, v in pairs(base()) do p[k] = v end\n"
    t.write(root .. "/.agent/personas/security.lua", copy_base .. [[
p.offline = function()
  return { verdict = "BLOCK", summary = "Secrets in the clear.", items = {
    { severity = "minor", text = "a minor one" }, { severity = "info", text = "an info one" },
    { severity = "blocker", text = "a blocker" }, { severity = "major", text = "a major one" } } }
end
return p
]])
    t.write(root .. "/.agent/personas/docs.lua", copy_base .. "p.offline = function() error('the docs review broke') end\nreturn p\n")
    return root
  end

  local function qf_type(r, pattern)
    for _, it in ipairs(r.qf) do
      if it.text:find(pattern) then return it.type end
    end
    error("no quickfix item matches " .. pattern)
  end

  it(":AgentPanel types each line by its weight: blocker, BLOCK and no review E, major and CHANGES W, the rest I", function()
    local root = troubled_repo()
    local r = nvim(root, "AgentPanel " .. ID)
    local want = {
      ["^@Security: BLOCK%."] = "E", ["^  %[blocker%] a blocker"] = "E", ["^  %[major%] a major one"] = "W",
      ["^  %[minor%] a minor one"] = "I", ["^  %[info%] an info one"] = "I",
      ["^@Docs: no usable review %(.*the docs review broke%)"] = "E",
      ["^@Compliance: CHANGES%."] = "W", ["^@QA: APPROVE%."] = "I",
    }
    for pattern, kind in pairs(want) do assert.are.equal(kind, qf_type(r, pattern), pattern) end
    -- and every other line of the list by the same rule
    local heads = { APPROVE = "I", CHANGES = "W", BLOCK = "E" }
    local sev = { blocker = "E", major = "W", minor = "I", info = "I" }
    for _, it in ipairs(r.qf) do
      local verdict = it.text:match("^@%w+: (%u+)%.")
      local severity = it.text:match("^  %[(%a+)%]")
      assert.are.equal(verdict and heads[verdict] or severity and sev[severity] or "E", it.type, it.text)
    end
  end)

  it(":AgentRunbook marks a persona without a usable review and a BLOCK as errors", function()
    local root = troubled_repo()
    local r = nvim(root, "AgentRunbook " .. ID)
    assert.are.equal(3, r.code)
    assert.are.equal("E", qf_type(r, "^@Docs: script_error: "))
    assert.are.equal("E", qf_type(r, "^@Security: BLOCK: "))
  end)

  it(":AgentRunbook on an existing runbook points at :AgentRunbook!, which replaces it", function()
    local root = repo()
    assert.are.equal(0, t.run({ "new-runbook", ID }, { cwd = root }).code)
    local r = nvim(root, "AgentRunbook " .. ID)
    assert.are.equal(1, r.code)
    assert.matches("already exists; it was left untouched %(run :AgentRunbook! to replace it;", r.qf[1].text)
    assert.are.equal("E", r.qf[1].type)
    assert.matches("run :AgentRunbook! to replace it", notes_text(r))
    assert.is_nil(notes_text(r):find("--force", 1, true))
    local again = nvim(root, "AgentRunbook! " .. ID)
    assert.are.equal(0, again.code)
    assert.truthy(t.read(root .. "/" .. RUNBOOK .. ".bak"))
  end)

  it(":AgentCheck on a broken runbook lists its problems with file and line", function()
    local root = repo()
    local path = t.write(root .. "/notes/broken-runbook.md", table.concat({
      "# INFRA-012: x", "", "Status: PROPOSED", "", "## Goal Description", "", "<placeholder>", "",
      "## Proposed Changes", "", "### src", "", "#### [DELETE] src/orders/nope.py", "",
    }, "\n"))
    local r = nvim(root .. "/notes", "AgentCheck broken-runbook.md")
    assert.are.equal(4, r.code)
    local cli = json.decode(t.run({ "check-runbook", path, "--json" }, { cwd = root }).stdout)
    assert.is_true(#cli.problems > 0)
    assert.are.equal(#cli.problems, #r.qf)
    for i, p in ipairs(cli.problems) do
      assert.are.same({ path, p.line, p.message }, { r.qf[i].file, r.qf[i].lnum, r.qf[i].text })
    end
    assert.matches(("agent: %d problems"):format(#cli.problems), notes_text(r))
  end)

  it(":AgentCheck by ID on a clean runbook reports that it passes", function()
    local root = repo()
    assert.are.equal(0, t.run({ "new-runbook", ID }, { cwd = root }).code)
    local r = nvim(root, "AgentCheck " .. ID)
    assert.are.equal(0, r.code)
    assert.are.same({}, r.qf)
    assert.matches("agent: the runbook passes every gate", notes_text(r))
  end)
end)
