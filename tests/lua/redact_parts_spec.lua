-- redact.text_parts and what panel.ask builds on it: a text carrying a rendered context's
-- pieces is redacted exactly as redact.text redacts it whole (same bytes, same counts),
-- whatever a persona's prompt() put around, inside or instead of the context, and the
-- pieces the prompts share are redacted once per ask.
require("agent")
local redact = require("agent.redact")
local panel = require("agent.panel")
local context = require("agent.context")

local GH = "ghp_" .. ("Zy9Xw8Vu7T"):rep(3) .. "sR6qP5"
local AWS_ID = "AKIAIOSFODNN7EXAMPLE"
local PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"

-- Lines a context is made of: plain, with secrets of several kinds, with look-alikes.
local LINES = {
  "# Rules that always apply", "## .agent/rules/100-api.mdc", "Every endpoint is in openapi.yaml.",
  "password = hunter2", "token: " .. GH, "Contact ops@example.com from 10.0.0.7", "api_key=sk-" .. ("a1"):rep(12),
  "see [REDACTED:PASSWORD] above", "- `src/orders/api.py`", "db.password: 'p@ss w0rd'", "",
}

local function lcg(seed)
  local x = seed
  return function(n)
    x = (x * 1103515245 + 12345) % 2147483648
    return x % n + 1
  end
end

-- count pieces of 1 to 4 lines each, every one ending with "\n"
local function pieces_of(rand, count)
  local out = {}
  for i = 1, count do
    local lines = {}
    for k = 1, rand(4) do lines[k] = LINES[rand(#LINES)] end
    out[i] = table.concat(lines, "\n") .. "\n"
  end
  return out
end

local function same_as_text(s, parts, opts, memo)
  local want, want_counts = redact.text(s, opts)
  local got, got_counts = redact.text_parts(s, parts, opts, memo)
  assert.are.equal(want, got)
  assert.are.same(want_counts, got_counts)
  return got
end

describe("redact.text_parts", function()
  it("gives redact.text's bytes and counts for texts built around the pieces", function()
    local rand = lcg(7)
    local memo = {}
    for round = 1, 60 do
      local parts = pieces_of(rand, rand(12))
      local ctx = table.concat(parts)
      local arounds = {
        { "", "" }, { "You review.\n", "\nReply in JSON." }, { "password=", "" }, -- a secret glued to the first line
        { "token ", "x" }, { "Intro " .. GH .. "\n", "tail " .. GH }, { "", "\n" .. LINES[rand(#LINES)] },
      }
      local a = arounds[(round % #arounds) + 1]
      local opts = round % 2 == 0 and { emails = true, ips = true } or {}
      same_as_text(a[1] .. ctx .. a[2], parts, opts, round % 2 == 0 and memo or {})
    end
  end)

  it("redacts a secret split across the edge of the pieces the way text() does", function()
    local parts = { "sk-\n", "tail\n" }
    -- the pieces are found, but the text before them does not end a line: redacted whole
    local got = same_as_text("my key is " .. "ghp_" .. parts[1] .. parts[2], parts, {})
    assert.are.equal("my key is ghp_sk-\ntail\n", got)
    got = same_as_text("password: " .. "hunter2\n" .. "ok\n", { "hunter2\n", "ok\n" }, {})
    assert.are.equal("password: [REDACTED:PASSWORD]\nok\n", got)
  end)

  it("falls back to redacting whole when a detector could look past a line end", function()
    local parts = { AWS_ID .. "\n", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" }
    local got = same_as_text(table.concat(parts), parts, {})
    assert.matches("%[REDACTED:AWS_SECRET_KEY%]", got)
    parts = { "intro\n", PEM .. "\n" }
    got = same_as_text("x\n" .. table.concat(parts), parts, {})
    assert.is_nil(got:find("MIIEow", 1, true))
    -- an AWS key id outside the pieces reaches into them too
    parts = { "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n" }
    got = same_as_text(AWS_ID .. "\n" .. parts[1], parts, {})
    assert.matches("%[REDACTED:AWS_SECRET_KEY%]", got)
  end)

  it("redacts the whole text when the pieces are not in it as whole lines", function()
    local parts = { "password = hunter2\n", "ok\n" }
    same_as_text("nothing of them here, password=x1y2z3", parts, {})
    same_as_text("password = hunter2\nchanged\n", parts, {})          -- the second piece is not there
    same_as_text("a password = hunter2\nok\n", { "password = hunter2\n" }, {}) -- not at a line start
    same_as_text("no newline ending", { "no newline ending" }, {})     -- a piece that does not end a line
  end)

  it("keeps each group's redaction in the memo and reuses it for the same pieces", function()
    local parts = { "password = hunter2\n", "token: " .. GH .. "\n" }
    local memo = {}
    same_as_text("A\n" .. table.concat(parts), parts, {}, memo)
    local entries = 0
    for _ in pairs(memo) do entries = entries + 1 end
    assert.is_true(entries >= 1)
    local saved = {}
    for k, v in pairs(memo) do saved[k] = v end
    same_as_text("B\n" .. table.concat(parts) .. "C\n", parts, {}, memo)
    for k, v in pairs(memo) do assert.are.equal(saved[k], v) end -- nothing redacted afresh
  end)

  it("raises on misuse", function()
    assert.has_error(function() redact.text_parts(1, {}) end, "redact: text must be a string, got number")
    assert.has_error(function() redact.text_parts("x", "y") end, "redact: parts must be a table")
    assert.has_error(function() redact.text_parts("x", { 1 }) end, "redact: parts must be strings, got number")
    assert.has_error(function() redact.text_parts("x", {}, {}, "m") end, "redact: memo must be a table")
  end)
end)

describe("context.render's pieces", function()
  local gathered = {
    story = { id = "X-1", title = "T", relpath = "s.md", text = "# X-1\n\npassword = hunter2\n" },
    rules = { { relpath = "r.mdc", body = "token: " .. GH .. "\n", why = "always applies", always_apply = true } },
    adrs = {}, compliance = {}, instructions = {}, files = {}, excluded_adrs = {},
    tree = { "README.md", "src/a.py", "src/b.py" },
  }

  it("make up the text, each ending a line, and the text needs no more redaction", function()
    for _, budget in ipairs({ 100000, 60 }) do
      local text, report = context.render(gathered, { budget_tokens = budget })
      assert.are.equal(text, table.concat(report.pieces))
      for _, p in ipairs(report.pieces) do assert.are.equal("\n", p:sub(-1)) end
      assert.are.equal(text, (redact.text(text)))
      assert.is_nil(text:find("hunter2", 1, true))
    end
  end)
end)

describe("panel.ask with a rendered context's pieces", function()
  local function fake_providers()
    local real = require("agent.providers")
    local fake = setmetatable({ calls = {} }, { __index = real })
    fake.run = function(calls, opts)
      local out = {}
      for i, call in ipairs(calls) do
        fake.calls[#fake.calls + 1] = call
        out[i] = { error = "not sent: test", kind = "offline" }
        if opts.on_done then opts.on_done(i, out[i]) end
      end
      return out
    end
    return fake
  end

  local saved
  before_each(function() saved = package.loaded["agent.providers"] end)
  after_each(function() package.loaded["agent.providers"] = saved end)

  -- what persona prompt() functions may do with ctx.context: use it as is, wrap it, put a
  -- secret right before it on its line, change it, or leave it out
  local function users(ctx)
    return {
      ctx,
      "Review this.\n" .. ctx .. "\nSECRET_KEY=s3cr3tvalue99\n",
      "api_key=" .. ctx,
      ctx:gsub("hunter2", "hunter3"),
      "token: " .. GH .. "\nno context at all\n",
    }
  end

  it("sends what redacting each call whole would, secrets from the script included", function()
    local fake = fake_providers()
    package.loaded["agent.providers"] = fake
    local pieces = { "# Context\n\n", "password = hunter2\n", "- `src/a.py`\n" }
    local ctx = table.concat(pieces) -- as the render hands it on (the pieces are not yet redacted here)
    local requests = {}
    for i, user in ipairs(users(ctx)) do
      requests[i] = { label = "p" .. i, pieces = pieces, validate = function() return nil end,
        call = { provider = "openai", model = "m", system = "You are @P" .. i .. ". token " .. GH, user = user, json = true } }
    end
    local outcomes = panel.ask(requests, { config = { redact = {} } })
    assert.are.equal(#requests, #fake.calls)
    for i, call in ipairs(fake.calls) do
      local want_user, user_counts = redact.text(requests[i].call.user)
      local want_system, sys_counts = redact.text(requests[i].call.system)
      assert.are.equal(want_user, call.user)
      assert.are.equal(want_system, call.system)
      assert.are.same(redact.merge_counts(sys_counts, user_counts), outcomes[i].redactions)
      assert.is_nil((call.system .. call.user):find(GH, 1, true))
      assert.is_nil(call.user:find("hunter", 1, true))
    end
    assert.is_nil(fake.calls[2].user:find("s3cr3tvalue99", 1, true))
  end)
end)
