-- agent.text: the line, fence and status-line rules every reader of stories, ADRs, runbooks
-- and model markdown shares.
require("agent")
local text = require("agent.text")

describe("agent.text", function()
  it("trims and normalises line ends and the byte-order mark", function()
    assert.are.equal("a b", text.trim(" \t a b \n"))
    assert.are.equal("a\nb\nc\n", text.normalize(text.BOM .. "a\r\nb\rc\n"))
    assert.are.equal("plain", text.normalize("plain"))
  end)

  it("replaces a plain string everywhere, pattern characters and overlaps included", function()
    assert.are.equal("[key] and [key].", text.replace_plain("sk-%a. and sk-%a..", "sk-%a.", "[key]"))
    assert.are.equal("[k]a", text.replace_plain("aaa", "aa", "[k]")) -- left to right, no overlap
    assert.are.equal("untouched", text.replace_plain("untouched", "zz", "x"))
    assert.are.equal("%1%1", text.replace_plain("xx", "x", "%1")) -- the replacement is plain too
  end)

  it("splits lines as cmark counts them", function()
    assert.are.same({}, text.split_lines(""))
    assert.are.same({ "a" }, text.split_lines("a\n"))
    assert.are.same({ "a", "b" }, text.split_lines("a\nb"))
    assert.are.same({ "a", "", "b", "c" }, text.split_lines(text.BOM .. "a\r\n\r\nb\rc\r\n"))
    local seen = {}
    for n, line in text.lines("x\r\ny") do seen[n] = line end
    assert.are.same({ "x", "y" }, seen)
  end)

  it("finds the byte range of a line, whatever its ending", function()
    local s = text.BOM .. "one\r\ntwo\rthree\nfour"
    local function line(n) local a, b = text.line_span(s, n) return a and s:sub(a, b) end
    assert.are.same({ "one", "two", "three", "four" }, { line(1), line(2), line(3), line(4) })
    assert.is_nil(text.line_span(s, 5))
  end)

  it("measures the longest backtick run", function()
    assert.are.same({ 0, 1, 4, 3 }, { text.longest_backticks("none"), text.longest_backticks("`a`"),
      text.longest_backticks("a ```` b `` c"), text.longest_backticks("x```") })
  end)

  it("tracks fences as CommonMark does: length, kind, indentation and info strings", function()
    local function walk(lines)
      local fence, out = text.fences(), {}
      for i, l in ipairs(lines) do out[i] = fence(l) or "-" end
      return table.concat(out, " ")
    end
    -- a shorter run or another character does not close; text after the run does not either
    assert.are.equal("open code code code code close -",
      walk({ "````md", "```", "~~~~", "```` not a close", "# heading", "  `````", "after" }))
    -- four spaces of indentation is code, not a fence; a backtick in a backtick info string
    -- makes it no fence
    assert.are.equal("- - open close", walk({ "    ```", "``` a`b", "~~~ x`y", "~~~" }))
  end)

  it("reads every status line form, with the value's column", function()
    local cases = {
      { "Status: PROPOSED", "PROPOSED", 9 }, { "**Status:** ACCEPTED", "ACCEPTED", 13 },
      { "**State**: DRAFT (see x)", "DRAFT (see x)", 12 }, { "## status: Done  ", "Done", 12 },
      { "  _State_:   COMMITTED-021", "COMMITTED-021", 14 },
    }
    for _, c in ipairs(cases) do
      local v, col = text.status_value(c[1])
      assert.are.same({ c[2], c[3] }, { v, col }, c[1])
      assert.are.equal(c[2], c[1]:sub(col, col + #c[2] - 1))
    end
    for _, line in ipairs({ "Statement: x", "Status:", "Status:   ", "the status: x", "Stats: x" }) do
      assert.is_nil(text.status_value(line), line)
    end
  end)
end)
