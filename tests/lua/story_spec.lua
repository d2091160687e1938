-- agent.story: IDs, the state forms teams have on disk, named files, and finding stories in a
-- fixture repository (exact vs prefix match, closest IDs, duplicates, symlinks, size cap).
require("agent")
local story = require("agent.story")
local t = require("testutil")

-- A story body in the shape of the real ones: a title, a state, the usual sections.
local function body(state_block, extra)
  return "# INFRA-012: Idempotent order creation\n\n" .. state_block .. "\n\n"
    .. "## Problem Statement\n\nRetries create duplicate orders in `src/orders/app.py`.\n\n"
    .. "## Acceptance Criteria\n\n- [ ] AC-1: a replay returns the first order.\n" .. (extra or "")
end

describe("story.validate_id", function()
  for _, id in ipairs({ "INFRA-012", "WEB-2", "api-7", "Team2-x-9", ("A-" .. ("1"):rep(62)) }) do
    it("accepts " .. id, function()
      assert.is_true(story.validate_id(id))
    end)
  end

  local hostile = {
    { "../etc/passwd", "path separator" }, { "INFRA/012", "path separator" },
    { "INFRA-..", "'..'" }, { "INFRA-1\0", "NUL" }, { "INFRA 12", "whitespace" },
    { "INFRA-1\n", "whitespace" }, { "INFRA-1;rm", "';'" }, { "INFRA-*", "'*'" },
    { "12-INFRA", "start with a letter" }, { "INFRA012", "dash" }, { "", "empty" },
    { "INFRA-" .. ("1"):rep(64), "longer than 64" }, { "INFRA\\012", "path separator" },
    { "INFRA-1%", "'%'" }, { "INFRA-1.md", "'.'" },
  }
  for _, c in ipairs(hostile) do
    it(("refuses %q with a one-line reason"):format(c[1]), function()
      local ok, msg = story.validate_id(c[1])
      assert.is_nil(ok)
      assert.truthy(msg:find(c[2], 1, true), msg)
      assert.is_nil(msg:find("\n", 1, true))
      assert.is_nil(msg:find("\0", 1, true))
      assert.truthy(msg:find("^invalid story ID"))
    end)
  end

  it("refuses a non-string", function()
    local ok, msg = story.validate_id(12)
    assert.is_nil(ok)
    assert.truthy(msg:find("expected a string", 1, true))
  end)
end)

describe("story.read_state and parse", function()
  local forms = {
    { "## State heading, value two lines later", "## State\n\nCOMMITTED", "COMMITTED" },
    { "## Status heading", "## Status\n\nCOMMITTED", "COMMITTED" },
    { "trailing spaces everywhere", "## State   \n   \nREVIEW_NEEDED   ", "REVIEW_NEEDED" },
    { "indented value", "## State\n\n   COMMITTED", "COMMITTED" },
    { "State: line", "State: COMMITTED", "COMMITTED" },
    { "Status: line", "Status: DRAFT", "DRAFT" },
    { "bold **Status:**", "**Status:** COMMITTED", "COMMITTED" },
    { "bold **State**:", "**State**: ICEBOX", "ICEBOX" },
    { "heading with inline value", "## Status: ACCEPTED", "ACCEPTED" },
    { "bold value", "## State\n\n**COMMITTED**", "COMMITTED" },
    { "value with a note", "## State\n\nSUPERSEDED (see INFRA-020)", "SUPERSEDED" },
    { "corrupted value stays whole", "## State\n\nCOMMITTED-021-021-021-…", "COMMITTED-021-021-021-…" },
    { "lower case as written", "## status\n\ncommitted", "committed" },
  }
  for _, f in ipairs(forms) do
    it("reads " .. f[1], function()
      local s = story.parse(body(f[2]), "/r/.agent/cache/stories/INFRA/INFRA-012-x.md")
      assert.are.equal(f[3], s.state)
      local line = select(2, story.read_state(body(f[2])))
      assert.is_true(line >= 3 and line <= 5)
    end)
  end

  it("reads CRLF files with a BOM", function()
    local text = "\239\187\191" .. body("## State\n\nCOMMITTED"):gsub("\n", "\r\n")
    local s = story.parse(text, "INFRA-012.md")
    assert.are.equal("COMMITTED", s.state)
    assert.are.equal("Idempotent order creation", s.title)
    assert.are.equal("INFRA-012", s.id)
    assert.is_nil(s.text:find("\r", 1, true))
  end)

  it("skips a state-looking line inside a code fence", function()
    local text = "# INFRA-1: T\n\n```yaml\nStatus: COMMITTED\n```\n\n## State\n\nDRAFT\n"
    assert.are.equal("DRAFT", (story.read_state(text)))
  end)

  it("keeps looking past an empty State section", function()
    assert.are.equal("COMMITTED", (story.read_state("## State\n\n## Other\n\nx\n\nStatus: COMMITTED\n")))
    assert.is_nil(story.read_state("# T\n\n## State\n\n## Problem\n\ntext\n"))
  end)

  it("gives the line and the raw value", function()
    local state, line, raw = story.read_state("# X-1: T\n\n## State\n\nSUPERSEDED (see X-2)\n")
    assert.are.equal("SUPERSEDED", state)
    assert.are.equal(5, line)
    assert.are.equal("SUPERSEDED (see X-2)", raw)
  end)

  it("splits sections by H2 title", function()
    local s = story.parse(body("## State\n\nCOMMITTED", "\n## Rollback Plan\n\n- Revert.\n### Detail\nmore\n"), "INFRA-012-x.md")
    assert.are.equal("Retries create duplicate orders in `src/orders/app.py`.", s.sections["Problem Statement"])
    assert.are.equal("- Revert.\n### Detail\nmore", s.sections["Rollback Plan"])
    assert.are.equal("COMMITTED", s.sections["State"])
  end)

  it("does not crash on invalid UTF-8 or NUL bytes", function()
    local s = story.parse("# BAD-1: \255\254 title\n\n## State\n\nCOMMITTED\n\n## P\n\n\0\200 `src/\255.py`\n", "BAD-1.md")
    assert.are.equal("COMMITTED", s.state)
    assert.are.same({}, s.named_files)
  end)
end)

describe("story.parse on random bytes", function()
  it("never raises and always returns the contract's fields", function()
    local seed = 7
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local pieces = { "# ", "## State\n", "Status: ", "`", "/", ".py", "\r\n", "\n", "**", "```\n", "\0", "\255", "COMMITTED", " " }
    for _ = 1, 300 do
      local parts = {}
      for k = 1, rand(60) do
        parts[k] = rand(3) == 1 and string.char(rand(256) - 1) or pieces[rand(#pieces)]
      end
      local s = story.parse(table.concat(parts), "X-1.md")
      assert.are.equal("X-1", s.id)
      assert.is_string(s.text)
      assert.is_table(s.sections)
      assert.is_table(s.named_files)
      assert.is_true(s.state == nil or (type(s.state) == "string" and s.state ~= ""))
    end
  end)
end)

describe("story.check_committed", function()
  local function check(state_block)
    local s = story.parse(body(state_block), "/r/INFRA-012-x.md")
    s.relpath = ".agent/cache/stories/INFRA/INFRA-012-x.md"
    return story.check_committed(s)
  end

  it("passes COMMITTED in every form", function()
    for _, b in ipairs({ "## State\n\nCOMMITTED", "Status: COMMITTED", "**Status:** COMMITTED", "## Status\n\nCommitted" }) do
      assert.is_true(check(b), b)
    end
  end)

  it("names another state and how to commit", function()
    local ok, msg = check("## State\n\nREVIEW_NEEDED")
    assert.is_nil(ok)
    assert.truthy(msg:find("INFRA-012 is REVIEW_NEEDED, not COMMITTED", 1, true), msg)
    assert.truthy(msg:find("INFRA-012-x.md:5", 1, true), msg)
    assert.truthy(msg:find("set its state line to COMMITTED, or run 'agent commit-story INFRA-012'", 1, true), msg)
  end)

  it("names a corrupted COMMITTED line plainly instead of accepting it", function()
    local ok, msg = check("## State\n\nCOMMITTED-021-021-021")
    assert.is_nil(ok)
    assert.truthy(msg:find("'COMMITTED-021-021-021'", 1, true), msg)
    assert.truthy(msg:find("corrupted", 1, true), msg)
  end)

  it("says when there is no state at all", function()
    local ok, msg = check("## Notes\n\nnone")
    assert.is_nil(ok)
    assert.truthy(msg:find("has no state line", 1, true), msg)
    assert.truthy(msg:find("agent commit-story INFRA-012", 1, true), msg)
  end)
end)

describe("story.named_files", function()
  it("finds backticked and bare paths in order, once each", function()
    local text = table.concat({
      "Touches `src/orders/app.py` and ./src/orders/db.py, then src/orders/app.py again.",
      "Config in `pyproject.toml` and `.github/workflows/ci.yml`; build with `docker/Dockerfile`.",
      "Run `cat tests/test_orders.py` to see; see docs/guide.md.",
      "A [link](docs/api/orders.md) and (web/src/App.tsx).",
      "Settings in `.env`, `.env.example` and deploy/.env.prod; ignore `.gitignore`.",
    }, "\n")
    assert.are.same({ "src/orders/app.py", "src/orders/db.py", "pyproject.toml", ".github/workflows/ci.yml",
      "docker/Dockerfile", "tests/test_orders.py", "docs/guide.md", "docs/api/orders.md", "web/src/App.tsx",
      ".env", ".env.example", "deploy/.env.prod", ".gitignore" },
      story.named_files(text))
  end)

  it("leaves out URLs, versions, absolute and parent paths, directories and code identifiers", function()
    local text = table.concat({
      "See https://example.com/docs/api.html and www.example.com/a.html.",
      "Upgrade to 2.31.0.1 or 1.2/3.4; bind 127.0.0.1:8000/api.json.",
      "Not `/etc/passwd`, not `~/.claude/settings.json`, not ../secret.txt, not `a/../b.py`.",
      "Folders `web/` and `agent/commands/`; calls `os.environ`, `asyncio.run`, `logging.info()`.",
      "Types `application/json`, branch `feature/login`, and/or React/TypeScript; POST /orders.",
      "Windows C:/x/y.txt no; the `.py` and `.json` extensions are not files.",
    }, "\n")
    assert.are.same({}, story.named_files(text))
  end)
end)

describe("story.closest", function()
  it("prefers small edit distance, then the nearest number of the same prefix", function()
    local ids = { "INFRA-9", "INFRA-98", "INFRA-100", "INFRA-012", "WEB-99", "INFRA-5", "INFRA-7", "OPS-1" }
    local near = story.closest("INFRA-99", ids)
    assert.are.equal("INFRA-98", near[1])
    assert.are.equal("INFRA-9", near[2])
    assert.are.equal(5, #near)
    for _, id in ipairs(near) do assert.are_not.equal("OPS-1", id) end
  end)
end)

describe("story on disk", function()
  local root

  local function write_story(rel, text)
    return t.write(root .. "/.agent/cache/stories/" .. rel, text)
  end

  before_each(function()
    root = t.tmpdir()
    write_story("INFRA/INFRA-1-first.md", body("## State\n\nCOMMITTED"):gsub("INFRA%-012", "INFRA-1"))
    write_story("INFRA/INFRA-12-twelfth.md", body("## Status\n\nDRAFT"):gsub("INFRA%-012", "INFRA-12"))
    write_story("INFRA/INFRA-012-leading-zero.md", body("State: COMMITTED"))
    write_story("INFRA/INFRA-2.md", "# INFRA-2: Bare\n\nStatus: ICEBOX\n")
    write_story("WEB/WEB-002-platform-core-cli.md", "# WEB-002: Platform Core & CLI\n\n## State\n\nCOMMITTED\n")
    write_story("WEB/notes.txt", "not a story")
  end)
  after_each(t.cleanup)

  it("matches the ID exactly, case-insensitively, never as a prefix", function()
    local s = assert(story.find(root, "infra-1"))
    assert.are.equal("INFRA-1", s.id)
    assert.are.equal(".agent/cache/stories/INFRA/INFRA-1-first.md", s.relpath)
    assert.are.equal("INFRA", s.scope)
    assert.are.equal("COMMITTED", s.state)
    local twelve = assert(story.find(root, "INFRA-12"))
    assert.are.equal("DRAFT", twelve.state)
    assert.are.equal("INFRA-012", assert(story.find(root, "INFRA-012")).id)
    assert.are.equal(".agent/cache/stories/INFRA/INFRA-2.md", assert(story.find(root, "INFRA-2")).relpath)
  end)

  it("fills the story table of the contract", function()
    local s = assert(story.find(root, "INFRA-012"))
    assert.are.equal(root .. "/.agent/cache/stories/INFRA/INFRA-012-leading-zero.md", s.path)
    assert.are.equal("Idempotent order creation", s.title)
    assert.are.same({ "src/orders/app.py" }, s.named_files)
    assert.truthy(s.sections["Acceptance Criteria"]:find("AC-1", 1, true))
    assert.truthy(s.text:find("^# INFRA%-012"))
  end)

  it("lists the closest IDs when a story is missing", function()
    local s, msg = story.find(root, "INFRA-13")
    assert.is_nil(s)
    assert.truthy(msg:find("story 'INFRA-13' not found", 1, true), msg)
    assert.truthy(msg:find("closest: INFRA-12, INFRA-1", 1, true), msg)
    assert.is_nil(msg:find("\n", 1, true))
  end)

  it("says when there are no stories at all", function()
    local empty = t.tmpdir()
    local s, msg = story.find(empty, "INFRA-1")
    assert.is_nil(s)
    assert.truthy(msg:find("there are no stories", 1, true), msg)
  end)

  it("refuses hostile IDs before touching the disk", function()
    local s, msg = story.find(root, "../../etc/passwd")
    assert.is_nil(s)
    assert.truthy(msg:find("invalid story ID", 1, true))
  end)

  it("names both files when two claim one ID", function()
    write_story("OPS/INFRA-2-copy.md", "# INFRA-2: Copy\n\nState: DRAFT\n")
    local s, msg = story.find(root, "INFRA-2")
    assert.is_nil(s)
    assert.truthy(msg:find(".agent/cache/stories/INFRA/INFRA-2.md and .agent/cache/stories/OPS/INFRA-2-copy.md", 1, true), msg)
  end)

  it("refuses a symlink leading outside the repository", function()
    local outside = t.tmpdir()
    t.write(outside .. "/secret.md", "# OUT-1: Outside\n\nState: COMMITTED\n")
    t.write(root .. "/.agent/cache/stories/OUT/.keep", "")
    assert(t.sh("ln -s " .. t.q(outside .. "/secret.md") .. " " .. t.q(root .. "/.agent/cache/stories/OUT/OUT-1.md")))
    local s, msg = story.find(root, "OUT-1")
    assert.is_nil(s)
    assert.truthy(msg:find("symlink leading outside the repository", 1, true), msg)
  end)

  it("accepts a symlink that stays inside the repository", function()
    t.write(root .. "/docs/IN-1.md", "# IN-1: Inside\n\nState: COMMITTED\n")
    t.write(root .. "/.agent/cache/stories/IN/.keep", "")
    assert(t.sh("ln -s ../../../../docs/IN-1.md " .. t.q(root .. "/.agent/cache/stories/IN/IN-1.md")))
    assert.are.equal("COMMITTED", assert(story.find(root, "IN-1")).state)
  end)

  it("refuses a story over limits.story_bytes without reading it into memory", function()
    write_story("BIG/BIG-1.md", "# BIG-1: Big\n\nState: COMMITTED\n" .. ("x"):rep(2000))
    local s, msg = story.find(root, "BIG-1", { limits = { story_bytes = 1000 } })
    assert.is_nil(s)
    assert.truthy(msg:find("over the 1000-byte limit (limits.story_bytes", 1, true), msg)
    assert.truthy(assert(story.find(root, "BIG-1", { limits = { story_bytes = 4096 } })))
  end)

  it("refuses a 100 MB story quickly", function()
    local path = root .. "/.agent/cache/stories/HUGE/HUGE-1.md"
    t.write(path, "# HUGE-1: Huge\n")
    assert(t.sh("truncate -s 100M " .. t.q(path)))
    local t0 = os.clock()
    local s, msg = story.find(root, "HUGE-1")
    assert.is_nil(s)
    assert.truthy(msg:find("104857600 bytes is over", 1, true), msg)
    assert.is_true(os.clock() - t0 < 0.5)
  end)

  it("refuses a story that is not UTF-8 text, naming the line", function()
    write_story("BAD/BAD-1.md", "# BAD-1: Caf\233\n\nState: COMMITTED\n")
    local s, msg = story.find(root, "BAD-1")
    assert.is_nil(s)
    assert.are.equal("story '.agent/cache/stories/BAD/BAD-1.md': line 1 is not valid UTF-8; save the file as UTF-8", msg)
    write_story("BAD/BAD-2.md", "# BAD-2: Fine\n\nState: COMMITTED\n\nthen \237\160\128 a surrogate\n")
    assert.truthy(select(2, story.find(root, "BAD-2")):find("line 5 is not valid UTF-8", 1, true))
    write_story("BAD/BAD-3.md", "\255\254#\0 \0B\0")
    assert.truthy(select(2, story.find(root, "BAD-3")):find("not a text file (it holds NUL bytes)", 1, true))
    write_story("BAD/BAD-4.md", "\239\187\191# BAD-4: Caf\195\169\r\n\r\nState: COMMITTED\r\n")
    assert.are.equal("Caf\195\169", assert(story.find(root, "BAD-4")).title)
  end)

  it("lists stories by scope, then by number", function()
    local list = story.list(root)
    local got = {}
    for i, s in ipairs(list) do got[i] = s.scope .. ":" .. s.id .. ":" .. tostring(s.state) end
    assert.are.same({ "INFRA:INFRA-1:COMMITTED", "INFRA:INFRA-2:ICEBOX", "INFRA:INFRA-012:COMMITTED",
      "INFRA:INFRA-12:DRAFT", "WEB:WEB-002:COMMITTED" }, got)
    assert.are.equal("Platform Core & CLI", list[5].title)
    assert.are.equal(".agent/cache/stories/WEB/WEB-002-platform-core-cli.md", list[5].relpath)
  end)

  it("lists an unreadable story with its error instead of failing", function()
    write_story("BIG/BIG-1.md", ("x"):rep(5000))
    local list = story.list(root, { limits = { story_bytes = 100 } })
    local big
    for _, s in ipairs(list) do if s.id == "BIG-1" then big = s end end
    assert.truthy(big and big.error and big.error:find("over the 100-byte limit", 1, true))
  end)
end)
