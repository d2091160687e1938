-- The repository tree in context.render: a listing is redacted only as far as a budget
-- reaches (runs of whole lines, when redact.line_local allows it), and the result must be the
-- bytes redacting the whole listing would give. Checked against a reference built here from
-- the whole listing, for budgets from nothing to everything, in any order, and for the
-- listings that must be redacted whole (a PEM header, an AWS key id, a backtick).
require("agent")
local context = require("agent.context")
local redact = require("agent.redact")

local GHP = "ghp_" .. ("aB3dE5fG7h"):rep(3) .. "iJ9kL1"
local SK = "sk-4xAmPlE9kEy0fOr7tEsTiNg3oNlY5aBcDeFgHiJk"

-- One line of text with, now and then, something some detector finds or nearly finds.
local FRAGMENTS = {
  function(i) return ("src/pkg%03d/file%05d.py"):format(i % 97, i) end,
  function() return "secrets/" .. GHP end,
  function() return "keys/" .. SK .. ".txt" end,
  function() return "ops@example.org.txt" end,
  function(i) return ("hosts/10.0.%d.%d"):format(i % 256, (i * 7) % 256) end,
  function() return "v/fe80::1ff:fe23:4567:890a" end,
  function() return "db_password=hunter2" end,
  function() return "token: 'abc'" end,
  function() return "api_key:" end,
  function() return "https://user:pw0rd@host/x" end,
  function() return "[REDACTED:TOKEN]" end,
  function() return "bad\xff\xfeutf8" end,
  function() return "caf\xc3" end,
  function() return "x" end,
}

local function lines(n, seed)
  local out, rng = {}, seed
  for i = 1, n do
    rng = (rng * 1103515245 + 12345) % 2147483648
    local f = FRAGMENTS[1 + (rng >> 8) % #FRAGMENTS]
    out[i] = f(i)
  end
  return out
end

-- Each invalid UTF-8 byte as U+FFFD, as the rendered context has it.
local function valid_utf8(s)
  local out, i = {}, 1
  while i <= #s do
    local ok, bad = utf8.len(s, i)
    if ok then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, bad - 1) .. "\239\191\189"
    i = bad + 1
  end
  return table.concat(out)
end

describe("redact.line_local", function()
  it("holds when redacting line by line gives the whole text's redaction", function()
    for _, opts in ipairs({ {}, { emails = true }, { ips = true }, { emails = true, ips = true } }) do
      for seed = 1, 40 do
        local ls = lines(12, seed)
        local whole = table.concat(ls, "\n")
        assert.is_true(redact.line_local(whole))
        local each = {}
        for i, l in ipairs(ls) do each[i] = (redact.text(l, opts)) end
        assert.are.equal((redact.text(whole, opts)), table.concat(each, "\n"))
      end
    end
  end)

  it("fails for the detectors that look past a line end, whose spans do cross one", function()
    local pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq3SECRETBODY\n-----END RSA PRIVATE KEY-----"
    local aws = "AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    for _, text in ipairs({ pem, aws, (aws:gsub("AKIA", "ASIA")) }) do
      assert.is_false(redact.line_local(text))
      local each = {}
      for l in (text .. "\n"):gmatch("(.-)\n") do each[#each + 1] = (redact.text(l)) end
      assert.are_not.equal((redact.text(text)), table.concat(each, "\n"))
    end
  end)

  it("raises on a non-string", function()
    assert.has_error(function() redact.line_local(nil) end, "redact: text must be a string, got nil")
  end)
end)

describe("context.render's tree", function()
  local function gathered(tree)
    return { story = { id = "T-1", title = "Tree", relpath = "T-1.md", text = "Lists the tree.\n" },
      rules = {}, adrs = {}, excluded_adrs = {}, compliance = {}, instructions = {}, files = {},
      tree = tree, warnings = {}, redact = { emails = true, ips = true } }
  end

  -- What rendering the tree with k of its lines gives: the fenced block and the cut entry.
  local function reference(tree)
    local text = valid_utf8((redact.text(table.concat(tree, "\n"), { emails = true, ips = true })))
    local ends = {}
    for e in text:gmatch("()\n") do ends[#ends + 1] = e - 1 end
    ends[#ends + 1] = #text
    local run = 0
    for r in text:gmatch("`+") do run = math.max(run, #r) end
    local bar = ("`"):rep(math.max(3, run + 1))
    local total = #tree
    local ref = { lines = #ends }
    function ref.block(k)
      if k == 0 then return "" end
      local note = k < total and ("The first %d of %d paths (.gitignore honoured)."):format(k, total)
        or ("%d paths (.gitignore honoured)."):format(total)
      return "# Repository tree\n\n## repository tree\n" .. note .. "\n\n" .. bar .. "text\n" .. text:sub(1, ends[k])
        .. "\n" .. bar .. "\n\n"
    end
    function ref.entry(k)
      if k == total then return "" end
      return k == 0 and ("- repository tree (%d paths)\n"):format(total)
        or ("- repository tree (%d of %d paths listed)\n"):format(k, total)
    end
    function ref.secrets(k)
      local n = 0
      for _ in text:sub(1, k > 0 and ends[k] or 0):gmatch("%[REDACTED:[%u%d_]+%]") do n = n + 1 end
      return n
    end
    return ref
  end

  -- The rendered text with k lines instead of the n it lists (the story and the notice head
  -- stay: nothing else in these tables is ever cut).
  local function with_lines(ref, text, n, k)
    local block, entry = ref.block(n), ref.entry(n)
    local at = text:find(n > 0 and block or "# Not included for lack of budget", 1, true)
    assert.truthy(at, "the tree block differs from the reference")
    text = text:sub(1, at - 1) .. ref.block(k) .. text:sub(at + #block)
    local e = text:find(entry, 1, true)
    text = text:sub(1, e - 1) .. ref.entry(k) .. text:sub(e + #entry)
    return (text:gsub("# Not included for lack of budget\n\n$", ""))
  end

  local function check(tree, budgets)
    local g, ref = gathered(tree), reference(tree)
    for _, budget in ipairs(budgets) do
      local text, report = context.render(g, { budget_tokens = budget })
      local max = budget * context.BYTES_PER_TOKEN
      assert.is_true(#text <= max)
      local n = #tree
      for _, c in ipairs(report.cut) do
        local k = c:match("^repository tree %((%d+) of %d+ paths listed%)$")
        if k then n = tonumber(k) elseif c:find("^repository tree %(%d+ paths%)$") then n = 0 end
      end
      -- the listing is the reference's first n lines, and one line more would not have fit
      if n < #tree and n < ref.lines then assert.is_true(#with_lines(ref, text, n, n + 1) > max, ("budget %d"):format(budget)) end
      assert.are.equal(#text, #with_lines(ref, text, n, n))
      local secrets = 0
      for _, v in pairs(report.redactions) do secrets = secrets + v end
      assert.are.equal(ref.secrets(n), secrets)
    end
    -- the same budgets on a fresh table, in the other order, give the same texts
    local g2 = gathered(tree)
    for i = #budgets, 1, -1 do
      assert.are.equal((context.render(g, { budget_tokens = budgets[i] })),
        (context.render(g2, { budget_tokens = budgets[i] })))
    end
  end

  local BUDGETS = { 200, 1000, 5000, 16000, 16500, 40000, 70000, 150000, 1000000 }

  it("lists the bytes a whole redaction gives, as far as each budget reaches", function()
    -- about 300 KB: several runs of redaction, and a whole listing for the largest budgets
    check(lines(12000, 7), BUDGETS)
  end)

  -- mid-listing: a PEM header without a footer hides every later line, an AWS key id's secret
  -- is on the next line, a backtick run lengthens every prefix's fence
  it("is the same when the listing must be redacted whole", function()
    local odd = { { "-----BEGIN RSA PRIVATE KEY-----" }, { "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
      { "a````b" } }
    for _, paths in ipairs(odd) do
      local tree = lines(12000, 11)
      for i, p in ipairs(paths) do table.insert(tree, 6000 + i, p) end
      check(tree, { 200, 16000, 40000, 150000, 1000000 })
    end
  end)

  -- a path holding a line break is two lines of the listing, and lines are what a budget counts
  it("counts the lines of paths holding a line break as the whole redaction does", function()
    local tree = lines(6000, 3)
    tree[3000] = "odd\nname"
    tree[#tree + 1] = "last\n"
    local g, ref = gathered(tree), reference(tree)
    local text = context.render(g, { budget_tokens = 1000000 })
    assert.truthy(text:find(ref.block(#tree), 1, true))
  end)
end)
