-- Secrets, end to end: a fixture repository holding an AWS key pair, a GitHub token, an
-- OpenAI-style key, a PEM private key (in source, and as a .pem file), a JWT and a .env
-- file, every one named by the story (and some in the story, a rule and an ADR too). A run
-- with a model provider against tests/servers/llm_server.py: the server's log of everything
-- it received holds none of them, in any request of any persona or of the synthesis; stderr
-- and --json report how many were redacted, by kind; nothing leaks into stderr, the runbook
-- or the reply cache either.
local t = require("testutil")
local cjson = require("cjson")

local ID = "INFRA-012"
local STORY = ".agent/cache/stories/INFRA/INFRA-012-idempotent-order-creation.md"
local RUNBOOK = ".agent/cache/runbooks/INFRA/INFRA-012-runbook.md"
local KEY = "sk-test-secrets-3b8d" -- the provider key the run itself uses (it must reach the server)
-- The panel: two team personas with this one checklist item, which the scripted reply assesses.
local ITEM = "Secrets come from the vault, never from code"

-- Built from pieces, so that no scanner takes this file for a leak. Each value is the
-- secret; the pieces listed in MARKS must never appear in what the server received.
local S = {
  aws_id = "AKIA" .. "QYLPMN5HHHFPZAM2",
  aws_secret = "wJalrXUtnFEMI/K7MDENG" .. "/bPxRfiCYzEXAMPLEKE", -- 40 characters, as AWS issues them
  github = "gh" .. "p_" .. "Zx81QmVt0aLr3WcYh5KpNs2DfGjB7eTuIoPq",
  openai = "sk-" .. "proj-" .. "T3stK3yF0rRedacti0nOnly9f8e7d6c5b4a",
  jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" .. ".eyJzdWIiOiJvcmRlcnMtc3ZjIiwiaWF0IjoxNzAwMDAwMDAwfQ"
    .. ".Zm9yZ2VkLXNpZ25hdHVyZS1mb3ItdGVzdHMtb25seQ",
  pem_body = "MIIEowIBAAKCAQEAx3kZ9QvJ2pTn8rYcLm5Wq1sXb" .. "T7uHfGd4eKaP0oNiJyM6zRVlCwS",
  env_db = "Pg-" .. "s3cr3t-Passw0rd-71",
  env_stripe = "rk_live_" .. "51HxAbCdEfGhIjKlMnOpQrSt",
  pem_file = "Ym9ndXMta2V5LWZpbGUtY29udGVudA" .. "-never-read",
}

local PEM = "-----BEGIN RSA PRIVATE KEY-----\n" .. S.pem_body .. "\n" .. ("q8Zr0Lm3"):rep(8) .. "\n-----END RSA PRIVATE KEY-----\n"

local FILES = {
  ["deploy/aws-credentials.csv"] = "User name,Access key ID,Secret access key\nci-bot," .. S.aws_id .. "," .. S.aws_secret .. "\n",
  ["src/orders/github.py"] = 'GITHUB_WEBHOOK_NOTE = "rotate quarterly"\nCI_TOKEN = "' .. S.github .. '"\n',
  ["src/orders/llm.py"] = 'import os\n\nclient = OpenAI(api_key="' .. S.openai .. '")\n',
  ["src/orders/signing.py"] = 'SIGNING_KEY = """' .. PEM .. '"""\n',
  ["src/orders/auth_fixture.py"] = 'SAMPLE_BEARER = "Bearer ' .. S.jwt .. '"\n',
  [".env"] = "DATABASE_URL=postgres://orders:" .. S.env_db .. "@db:5432/orders\nexport STRIPE_KEY=" .. S.env_stripe .. "\nDEBUG=true\n",
  ["certs/orders.pem"] = "-----BEGIN PRIVATE KEY-----\n" .. S.pem_file .. "\n-----END PRIVATE KEY-----\n",
}

local NAMED = {}
for path in pairs(FILES) do NAMED[#NAMED + 1] = path end
table.sort(NAMED)

-- Distinctive pieces of each secret (a whole secret may be JSON-escaped on the wire; a
-- 16-character run of it is not, and is as damning).
local function marks()
  local out = {}
  for name, v in pairs(S) do
    for i = 1, #v - 15, 8 do
      local piece = v:sub(i, i + 15)
      if not piece:find("[/\\\"]") then out[#out + 1] = { name, piece } end
    end
  end
  return out
end

local function repo()
  local root = t.example_repo()
  for path, text in pairs(FILES) do t.write(root .. "/" .. path, text) end
  local story = root .. "/" .. STORY
  local lines = { "", "## Configuration", "", "The change touches these files:", "" }
  for _, p in ipairs(NAMED) do lines[#lines + 1] = "- `" .. p .. "`" end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "The CI bot authenticates with " .. S.github .. " today; it must move to the vault."
  t.write(story, t.read(story) .. table.concat(lines, "\n") .. "\n")
  local core = root .. "/.agent/rules/000-core.mdc"
  t.write(core, t.read(core) .. "\nThe staging key is " .. S.openai .. " (rotate it).\n")
  local adr = root .. "/.agent/adrs/ADR-002-sqlite-order-storage.md"
  t.write(adr, t.read(adr) .. "\nBackups are signed with:\n\n" .. PEM)
  t.write(root .. "/.agent/etc/agent.yaml", "agent:\n  provider: openai\npanel:\n  personas: [keys, logs]\n")
  for _, id in ipairs({ "keys", "logs" }) do
    t.write(root .. "/.agent/personas/" .. id .. ".lua", ("return { api = 1, id = %q, checklist = { %q } }\n"):format(id, ITEM))
  end
  return root
end

local function start()
  local rules = {
    { match = "on a governance panel", reply = { verdict = "APPROVE", summary = "Secrets come from the vault.", items = {},
      checklist = { { item = ITEM, status = "met", note = "The story moves the token to the vault." } } } },
    { match = "You write the implementation runbook", reply = { goal = "Idempotent orders.", verification = "pytest", rollback = "Revert." } },
  }
  return t.llm_server(rules, { "--key", KEY })
end

local function run(root, srv, args)
  local argv = { "new-runbook", ID }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return t.run(argv, { cwd = root, env = { OPENAI_BASE_URL = srv.url .. "/v1", OPENAI_API_KEY = KEY, NO_COLOR = "1",
    http_proxy = false, HTTP_PROXY = false } })
end

local function leaks(text)
  local found = {}
  for _, m in ipairs(marks()) do
    if text:find(m[2], 1, true) then found[m[1]] = true end
  end
  local names = {}
  for name in pairs(found) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function read_tree(dir)
  return t.output("find " .. t.q(dir) .. " -type f -exec cat {} + 2>/dev/null")
end

describe("secrets in the repository", function()
  local srv
  after_each(t.cleanup) -- stops srv too

  it("never reach the model server, and the run counts what it redacted by kind", function()
    local root = repo()
    assert.are.same({ "aws_id", "aws_secret", "env_db", "env_stripe", "github", "jwt", "openai", "pem_body", "pem_file" },
      leaks(read_tree(root))) -- the fixture holds every one, so their absence below means something
    srv = start()
    local r = run(root, srv, { "--json" })
    assert.are.equal(0, r.code, r.stderr)

    local log = assert(t.read(srv.log))
    local n, prompts = 0, {}
    for line in log:gmatch("[^\n]+") do
      n = n + 1
      prompts[#prompts + 1] = cjson.decode(line).prompt
    end
    assert.are.equal(3, n) -- two personas and the synthesis
    for _, prompt in ipairs(prompts) do
      assert.is_truthy(prompt:find("src/orders/llm.py", 1, true), "the named files were not sent at all")
      assert.is_truthy(prompt:find("[REDACTED:OPENAI_KEY]", 1, true))
      assert.is_truthy(prompt:find("certs/orders.pem", 1, true))
    end
    assert.are.same({}, leaks(log))

    local summary = cjson.decode(r.stdout)
    local line = r.stderr:match("redacted before sending: ([^\n]*)")
    assert.is_string(line, r.stderr)
    local counted = {}
    for kind, count in line:gmatch("(%u[%u_]*) (%d+)") do counted[kind] = tonumber(count) end
    assert.are.same(summary.redactions, counted)
    for _, kind in ipairs({ "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "OPENAI_KEY", "PRIVATE_KEY", "JWT", "ENV" }) do
      assert.is_true((counted[kind] or 0) >= 1, kind .. " not counted: " .. line)
    end

    assert.are.same({}, leaks(r.stderr))
    assert.are.same({}, leaks(r.stdout))
    assert.are.same({}, leaks(t.read(root .. "/" .. RUNBOOK)))
    assert.are.same({}, leaks(read_tree(root .. "/.agent/cache/panel")))
  end)

  it("stay redacted when the repository plants its own agent.redact module", function()
    local root = repo()
    t.write(root .. "/.agent/lua/agent/redact.lua", [[
local M = { KINDS = {} }
function M.text(s) return s, {} end
function M.env_file(s) return s, {} end
function M.is_env_path() return false end
function M.is_key_path() return false end
function M.merge_counts(a) return a end
return M
]])
    srv = start()
    local r = run(root, srv)
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({}, leaks(assert(t.read(srv.log))))
    assert.matches("redacted before sending: AWS_ACCESS_KEY 1", r.stderr)
  end)

  it("keep the key file withheld and the model's key out of every message", function()
    local root = repo()
    srv = start()
    local r = run(root, srv)
    assert.are.equal(0, r.code, r.stderr)
    for line in assert(t.read(srv.log)):gmatch("[^\n]+") do
      local req = cjson.decode(line)
      assert.is_nil(req.prompt:find("BEGIN PRIVATE KEY", 1, true))
      assert.matches("certs/orders%.pem[^\n]*\n[^\n]*its content is never sent", req.prompt)
      assert.are.equal("Bearer " .. KEY, req.headers.authorization)
    end
    assert.is_nil(r.stderr:find(KEY, 1, true))
    assert.is_nil(t.read(root .. "/" .. RUNBOOK):find(KEY, 1, true))
  end)
end)
