-- What is a template placeholder and what is text: the story template's `<role>` shapes
-- (text.angle_placeholders), braces quoted from a story (mdutil.escape_braces) that the
-- placeholder gate must take as text, and HTML comments the offline judge must not read.
require("agent")
local judge = require("agent.judge")
local markdown = require("agent.markdown")
local md = require("agent.mdutil")
local text = require("agent.text")

describe("text.angle_placeholders", function()
  it("finds each <role>-style placeholder in order, outside code spans", function()
    assert.are.same({ "<role>", "<capability>", "<what must not happen, and how>" },
      text.angle_placeholders("As a **<role>**, I want **<capability>**: <what must not happen, and how>. `<x>`"))
  end)

  it("takes no HTML tag, autolink, generic, escaped bracket or comparison for one", function()
    for _, line in ipairs({ "a<br>b <br/> <div class=\"x\">", "<https://example.com/a> <me@example.com>",
                            "List<string> Map<k,v>", "\\<role\\>", "x < y and z > w", "<!-- note -->" }) do
      assert.are.same({}, text.angle_placeholders(line), line)
    end
  end)
end)

describe("text.escape_braces", function()
  it("escapes braces outside code, renders the same, and keeps code as it was", function()
    local src = "GET /orders/{order_id} and `{raw}` ``{`}``\n```\n{fenced}\n```\nend {x}\n"
    local out = text.escape_braces(src)
    assert.are.equal("GET /orders/\\{order_id\\} and `{raw}` ``{`}``\n```\n{fenced}\n```\nend \\{x\\}\n", out)
    assert.are.equal(markdown.to_html(src), markdown.to_html(out))
    assert.are.equal("\\{a\\}", text.escape_braces("\\{a}")) -- an escaped brace is not escaped twice
  end)

  it("is what escape_inline does to a title's braces", function()
    assert.are.equal("per \\{tenant\\_id\\}", md.escape_inline("per {tenant_id}"))
  end)
end)

describe("the offline judge's units", function()
  local function texts(src)
    local out = {}
    for i, u in ipairs(judge.story_lines(src)) do out[i] = u.text end
    return out
  end

  it("leave out HTML comments, also across lines, and keep the text around them", function()
    assert.are.same({ "kept before after", "last" }, texts(table.concat({
      "## Linked ADRs", "", "<!-- ADR-NNN: the decisions -->", "",
      "## Notes", "", "kept <!-- hidden --> before <!-- a", "b --> after", "", "last", "",
    }, "\n")))
  end)

  it("leave out a unit holding a template placeholder", function()
    assert.are.same({ "- [ ] filled in" }, texts("## AC\n\n- [ ] **Negative Test**: <what must not happen>.\n- [ ] filled in\n"))
  end)
end)

describe("the placeholder gate", function()
  local gates = require("agent.gates")
  local t = require("testutil")
  after_each(t.cleanup)

  local function placeholder_problems(body)
    local runbook = "# X-1: T\n\nStatus: PROPOSED\n\n## Rollback Plan\n\n" .. body .. "\n"
    local out = {}
    for _, p in ipairs(gates.check(runbook, t.tmpdir())) do
      if p.message:find("placeholder", 1, true) then out[#out + 1] = p.line .. ": " .. p.message end
    end
    return out
  end

  it("takes a section starting 'TBD:' (or **TODO**:) for unfilled, not one that only mentions TBD", function()
    assert.are.same({ "5: section 'Rollback Plan' is a placeholder: it starts 'TBD:' and must be written before acceptance" },
      placeholder_problems("TBD: the story has no rollback plan.\n\nMore text."))
    assert.are.equal(1, #placeholder_problems("**TODO**: write it."))
    assert.are.same({}, placeholder_problems("TBD values are resolved at deploy time: revert the tag."))
  end)

  it("reports every placeholder of a line, each once, and none in escaped braces", function()
    assert.are.same({ "7: unfilled placeholder '<role>'", "7: unfilled placeholder '{{ x_y }}'",
                      "7: unfilled placeholder '{a_b}'" },
      placeholder_problems("As <role> {{ x_y }} {a_b} but \\{tenant\\_id\\} and `{c_d}`."))
  end)
end)
