-- The runbook gates: each kind of problem with the line it concerns, steps applied in order
-- against a virtual copy of the repository, one read per file, results sorted by line.
require("agent")
local fs = require("agent.fs")
local gates = require("agent.gates")
local runbook = require("agent.runbook")
local t = require("testutil")

-- A runbook with every contract section filled, Proposed Changes holding `changes`.
local function runbook_text(changes, opts)
  opts = opts or {}
  local out = { opts.title or "# X-1: A test story", "", opts.status or "Status: PROPOSED", "" }
  for _, s in ipairs(runbook.SECTIONS) do
    if not (opts.drop and opts.drop[s.title]) then
      out[#out + 1] = "## " .. s.title
      out[#out + 1] = ""
      if s.title == "Proposed Changes" then
        out[#out + 1] = changes or "No file changes."
      else
        out[#out + 1] = (opts.body and opts.body[s.title]) or ("Text of " .. s.title .. ".")
      end
      out[#out + 1] = ""
      for _, c in ipairs(s.children or {}) do
        if not (opts.drop and opts.drop[c]) then
          out[#out + 1] = "### " .. c
          out[#out + 1] = ""
          out[#out + 1] = "Text of " .. c .. "."
          out[#out + 1] = ""
        end
      end
    end
  end
  return table.concat(out, "\n")
end

-- The line of the first source line containing `needle` (plain).
local function line_of(text, needle, nth)
  local n, seen = 0, 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if line:find(needle, 1, true) then
      seen = seen + 1
      if seen == (nth or 1) then return n end
    end
  end
  error("no line holds " .. needle)
end

local function found(problems)
  local out = {}
  for _, p in ipairs(problems) do out[#out + 1] = p.line .. ": " .. p.message end
  return out
end

local function sr(search, replace)
  return "```\n<<<SEARCH\n" .. search .. "\n===\n" .. replace .. "\n>>>\n```\n"
end

describe("gates", function()
  local root
  before_each(function()
    root = t.tmpdir()
    t.write(root .. "/src/app.py", "import os\n\ndef main():\n    return 1\n\nif __name__ == '__main__':\n    main()\n")
    t.write(root .. "/src/dup.py", "pass\nx = 1\npass\npass\n")
    t.write(root .. "/old.txt", "old\n")
  end)
  after_each(t.cleanup)

  describe("structure", function()
    it("passes a runbook with every section filled", function()
      assert.are.same({}, gates.check(runbook_text(), root))
    end)

    it("names a missing section at the line where it belongs", function()
      local text = runbook_text(nil, { drop = { ["Verification Plan"] = true, ["Idempotency"] = true } })
      assert.are.same({
        line_of(text, "## Quality & Observability") .. ": missing section '### Idempotency'",
        line_of(text, "## Rollback Plan") .. ": missing section '## Verification Plan'",
      }, found(gates.check(text, root)))
    end)

    it("names a section out of order", function()
      local text = runbook_text():gsub("## Verification Plan", "## TMP"):gsub("## Rollback Plan", "## Verification Plan"):gsub("## TMP", "## Rollback Plan")
      assert.are.same({ line_of(text, "## Rollback Plan") .. ": section '## Rollback Plan' is out of order: it belongs after '## Verification Plan'" },
        found(gates.check(text, root)))
    end)

    it("names an empty section and a TBD section", function()
      local text = runbook_text(nil, { body = { ["Goal Description"] = "", ["Rollback Plan"] = "- **TBD**" } })
      assert.are.same({
        line_of(text, "## Goal Description") .. ": section 'Goal Description' is empty",
        line_of(text, "## Rollback Plan") .. ": section 'Rollback Plan' is a placeholder ('TBD')",
      }, found(gates.check(text, root)))
    end)

    it("checks the title and the status", function()
      local text = runbook_text(nil, { title = "# Runbook: Implementation Runbook for X-1", status = "Status: PROPOSED-021-021" })
      assert.are.same({
        "1: title must read '# <ID>: <Title>', found '# Runbook: Implementation Runbook for X-1'",
        "3: status 'PROPOSED-021-021' is not one of PROPOSED, ACCEPTED, IMPLEMENTED, COMMITTED, REJECTED, SUPERSEDED",
      }, found(gates.check(text, root)))
      local none = runbook_text(nil, { status = "" })
      assert.are.same({ "2: missing status: put a line 'Status: PROPOSED' under the title" }, found(gates.check(none, root)))
    end)

    it("finds unfilled placeholders outside code only", function()
      local text = runbook_text(nil, { body = {
        ["Goal Description"] = "{panel_checks}",
        ["Compliance Checklist"] = "Story <STORY-ID>: {{ title }}",
        ["Verification Plan"] = "Run `{not_a_placeholder}` and\n\n```\n{also_fine} <STORY-ID>\n```\n\nthen {escaped\\_too} but \\{tenant\\_id\\} is text",
        ["Rollback Plan"] = "### [Component]\n\nRevert <Title>.",
      } })
      assert.are.same({
        line_of(text, "{panel_checks}") .. ": unfilled placeholder '{panel_checks}'",
        line_of(text, "Story <STORY-ID>") .. ": unfilled placeholder '<STORY-ID>'", -- each one on a line
        line_of(text, "Story <STORY-ID>") .. ": unfilled placeholder '{{ title }}'",
        line_of(text, "{escaped") .. ": unfilled placeholder '{escaped_too}'", -- an escaped brace is literal
        line_of(text, "### [Component]") .. ": unfilled placeholder '[Component]'",
        line_of(text, "Revert <Title>") .. ": unfilled placeholder '<Title>'",
      }, found(gates.check(text, root)))
    end)

    it("names a fence that is never closed", function()
      local text = runbook_text() .. "\n````\nleft open\n```\n"
      assert.are.same({ line_of(text, "````") .. ": code fence '````' opened here is never closed" }, found(gates.check(text, root)))
      -- four spaces in is code, not a closing fence (CommonMark), even on the last line
      local indented = runbook_text() .. "\n```sh\ncode\n    ```\n"
      assert.are.same({ line_of(indented, "```sh") .. ": code fence '```' opened here is never closed" },
        found(gates.check(indented, root)))
      -- closing fences in a list item and a blockquote count from their container
      local nested = runbook_text() .. "\n- item\n\n  ```\n  code\n  ```\n\n> ```\n> quoted\n> ```\n"
      assert.are.same({}, found(gates.check(nested, root)))
    end)
  end)

  describe("steps", function()
    local function check(changes) return found(gates.check(runbook_text(changes), root)) end
    local function at(changes, needle, nth) return line_of(runbook_text(changes), needle, nth) end

    it("refuses unsafe paths", function()
      assert.is_true(os.execute("ln -s /tmp " .. t.q(root .. "/escape")))
      -- a dangling link pointing out: applying [NEW] would write through it
      assert.is_true(os.execute("ln -s /nonexistent-agent-target/evil.py " .. t.q(root .. "/dangling.py")))
      local changes = table.concat({
        "#### [DELETE] ../outside.txt", "Rationale: r", "",
        "#### [DELETE] /etc/passwd", "Rationale: r", "",
        "#### [DELETE] C:/x.txt", "Rationale: r", "",
        "#### [DELETE] .git/config", "Rationale: r", "",
        "#### [DELETE] src/./app.py", "Rationale: r", "",
        "#### [NEW] escape/x.py", "```", "x", "```", "",
        "#### [NEW] dangling.py", "```", "x", "```", "",
      }, "\n")
      assert.are.same({
        at(changes, "../outside") .. ": [DELETE] ../outside.txt: path contains '..'",
        at(changes, "/etc/passwd") .. ": [DELETE] /etc/passwd: path is absolute; paths are relative to the repository root",
        at(changes, "C:/x") .. ": [DELETE] C:/x.txt: path contains ':'",
        at(changes, ".git/config") .. ": [DELETE] .git/config: path is inside .git/",
        at(changes, "src/./app.py") .. ": [DELETE] src/./app.py: path contains a '.' component",
        at(changes, "escape/x.py") .. ": [NEW] escape/x.py: path resolves outside the repository",
        at(changes, "dangling.py") .. ": [NEW] dangling.py: path resolves outside the repository",
      }, check(changes))
    end)

    it("checks [MODIFY] targets exist and have blocks or a description", function()
      local changes = "#### [MODIFY] src/missing.py\n\nAdd it.\n\n#### [MODIFY] src\n\nA dir.\n\n#### [MODIFY] src/app.py\n\n#### [MODIFY] src/app.py\n\nRename main() to run(): a human completes this step.\n"
      assert.are.same({
        at(changes, "src/missing.py") .. ": [MODIFY] src/missing.py: file does not exist",
        at(changes, "[MODIFY] src", 2) .. ": [MODIFY] src: is a directory",
        at(changes, "[MODIFY] src/app.py") .. ": [MODIFY] src/app.py: no SEARCH/REPLACE blocks and no description of the change",
      }, check(changes))
    end)

    it("refuses an empty SEARCH, a SEARCH not found and one that is not unique", function()
      local changes = "#### [MODIFY] src/app.py\n\n" .. sr("", "x = 1") .. "\n" .. sr("def main():\n  return 1", "y") .. "\n"
        .. sr("def main():\n    return 2", "y") .. "\n" .. sr("def mian(): # typo", "y")
        .. "\n#### [MODIFY] src/dup.py\n\n" .. sr("pass", "skip")
      assert.are.same({
        at(changes, "<<<SEARCH", 1) .. ": [MODIFY] src/app.py: SEARCH block 1 is empty; an empty SEARCH cannot be applied",
        at(changes, "<<<SEARCH", 2) .. ": [MODIFY] src/app.py: SEARCH block 2 not found in the file; closest is line 3, which differs only in whitespace",
        at(changes, "<<<SEARCH", 3) .. ": [MODIFY] src/app.py: SEARCH block 3 not found in the file; closest is line 3, which differs at SEARCH line 2",
        at(changes, "<<<SEARCH", 4) .. ": [MODIFY] src/app.py: SEARCH block 4 not found in the file; closest line is 3",
        at(changes, "<<<SEARCH", 5) .. ": [MODIFY] src/dup.py: SEARCH block occurs 3 times (lines 1, 3, 4); it must match exactly once",
      }, check(changes))
    end)

    it("matches whole lines only", function()
      assert.are.same({ at("#### [MODIFY] src/app.py\n\n" .. sr("ef main", "x"), "<<<SEARCH") .. ": [MODIFY] src/app.py: SEARCH block not found in the file; closest line is 3" },
        check("#### [MODIFY] src/app.py\n\n" .. sr("ef main", "x")))
    end)

    it("applies blocks in order: a later SEARCH sees the earlier replacements", function()
      local ok = "#### [MODIFY] src/app.py\n\n" .. sr("def main():", "def run():") .. "\n" .. sr("def run():\n    return 1", "def run():\n    return 0")
      assert.are.same({}, check(ok))
      local stale = "#### [MODIFY] src/app.py\n\n" .. sr("def main():", "def run():") .. "\n" .. sr("def main():\n    return 1", "x")
      assert.are.same({ at(stale, "<<<SEARCH", 2) .. ": [MODIFY] src/app.py: SEARCH block 2 not found in the file; closest line is 7" }, check(stale))
    end)

    it("removes the lines of an empty REPLACE, so the next SEARCH can span the gap", function()
      local changes = "#### [MODIFY] src/app.py\n\n" .. sr("import os\n", "") .. "\n" .. sr("def main():", "def run():")
      assert.are.same({}, check(changes))
      local gap = "#### [MODIFY] src/dup.py\n\n" .. sr("x = 1", "") .. "\n" .. sr("pass\npass\npass", "done")
      assert.are.same({}, check(gap))
    end)

    it("applies steps in order across the runbook: NEW, then MODIFY, DELETE, then MODIFY", function()
      local changes = table.concat({
        "#### [NEW] src/new.py", "```python", "a = 1", "```", "",
        "#### [MODIFY] src/new.py", "", sr("a = 1", "a = 2"),
        "#### [NEW] src/new.py", "```", "again", "```", "",
        "#### [DELETE] old.txt", "Rationale: unused", "",
        "#### [MODIFY] old.txt", "", sr("old", "new"),
      }, "\n")
      assert.are.same({
        at(changes, "[NEW] src/new.py", 2) .. ": [NEW] src/new.py: already exists (created at line " .. at(changes, "[NEW] src/new.py") .. ")",
        at(changes, "[MODIFY] old.txt") .. ": [MODIFY] old.txt: file does not exist (deleted at line " .. at(changes, "[DELETE] old.txt") .. ")",
      }, check(changes))
    end)

    it("checks [NEW] and [DELETE] steps", function()
      local changes = table.concat({
        "#### [NEW] src/app.py", "```", "x", "```", "",
        "#### [NEW] src/empty.py", "", "Nothing here.", "",
        "#### [DELETE] gone.txt", "Rationale: r", "",
        "#### [DELETE] old.txt", "", "It is old.", "",
      }, "\n")
      assert.are.same({
        at(changes, "[NEW] src/app.py") .. ": [NEW] src/app.py: already exists",
        at(changes, "src/empty.py") .. ": [NEW] src/empty.py: no file content; a [NEW] step holds the whole file in a fence",
        at(changes, "gone.txt") .. ": [DELETE] gone.txt: file does not exist",
        at(changes, "[DELETE] old.txt") .. ": [DELETE] old.txt: no rationale; add a line 'Rationale: ...'",
      }, check(changes))
    end)

    it("matches a LF runbook against a CRLF file", function()
      t.write(root .. "/win.txt", "one\r\ntwo\r\nthree\r\n")
      assert.are.same({}, check("#### [MODIFY] win.txt\n\n" .. sr("one\ntwo", "1\n2")))
    end)

    it("reads each file once however many steps touch it", function()
      local reads = {}
      local real = fs.read
      fs.read = function(path, ...) reads[path] = (reads[path] or 0) + 1 return real(path, ...) end
      local changes = "#### [MODIFY] src/app.py\n\n" .. sr("import os", "import sys") .. "\n#### [MODIFY] src/app.py\n\n" .. sr("import sys", "import io")
        .. "\n#### [MODIFY] src/app.py\n\n" .. sr("import io", "import re")
      local ok, problems = pcall(gates.check, runbook_text(changes), root)
      fs.read = real
      assert.is_true(ok, problems)
      assert.are.same({}, problems)
      local n = 0
      for path, count in pairs(reads) do
        assert.matches("src/app%.py$", path)
        n = n + count
      end
      assert.are.equal(1, n)
    end)
  end)

  it("includes the parser's problems and sorts everything by line", function()
    local changes = "#### [MODIFY] src/app.py\n\n```\n<<<SEARCH\nimport os\n===\nimport sys\n>>>\n>>>\n```\n\n#### [DELETE] nope.txt\n"
    local problems = gates.check(runbook_text(changes, { body = { ["Goal Description"] = "{panel_checks}" } }), root)
    assert.are.equal(4, #problems)
    for i = 2, #problems do assert.is_true(problems[i - 1].line <= problems[i].line) end
    assert.matches("unfilled placeholder", problems[1].message)
    assert.matches("'>>>' without an open", problems[2].message)
  end)

  it("flags the INFRA-005 placeholder defect and the missing contract sections", function()
    local text = t.read(t.src .. "/tests/fixtures/runbooks/INFRA-005-runbook.md")
    local problems = gates.check(text, root)
    local all = table.concat(found(problems), "\n")
    assert.matches("9: unfilled placeholder '{panel_checks}'", all, 1, true)
    assert.matches("missing section '## Proposed Changes'", all, 1, true)
    assert.matches("13: [MODIFY] .agent/src/agent/commands/lint.py: file does not exist", all, 1, true)
  end)

  it("accepts a parsed runbook as well as text, and reports a root it cannot use", function()
    local parsed = runbook.parse(runbook_text())
    assert.are.same({}, gates.check(parsed, root))
    local problems = gates.check(runbook_text("#### [DELETE] old.txt\nRationale: r\n"), root .. "/nope")
    assert.matches("repository root .* is not accessible", problems[1].message)
  end)
end)
