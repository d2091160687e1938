-- agent.findings: a review in the contract's shape, failing closed. An item counts as
-- assessed only by name, never by position; a model's review must assess every item; an
-- approval with a missing item is a request for changes, whichever path the review took; and
-- findings keep the order they were given in within a severity.
require("agent")
local findings = require("agent.findings")

local PERSONA = { id = "sec", checklist = { "Auth is specified", { text = "Secrets come from the vault" } } }

describe("findings.normalize", function()
  it("keeps the order of equal-severity findings, worst first", function()
    local items = {}
    for i = 1, 6 do items[i] = { severity = "minor", text = "t" .. i } end
    table.insert(items, 4, { severity = "blocker", text = "b" })
    items[#items + 1] = { severity = "info", text = "i" }
    items[#items + 1] = { severity = "major", text = "m" }
    local f = assert(findings.normalize({ verdict = "CHANGES", items = items }, { checklist = {} }))
    local order = {}
    for i, it in ipairs(f.items) do order[i] = it.text end
    assert.are.same({ "b", "m", "t1", "t2", "t3", "t4", "t5", "t6", "i" }, order)
  end)

  it("pairs checklist entries with items by the text they name, never by position", function()
    local f = assert(findings.normalize({ verdict = "APPROVE", checklist = {
      { item = "anything", status = "met" },
      { item = "2. secrets come from the VAULT", status = "met", note = "vault.py" },
    } }, PERSONA))
    assert.are.same({ item = "Auth is specified", status = "missing", note = "the review did not assess this item" }, f.checklist[1])
    assert.are.same({ item = "Secrets come from the vault", status = "met", note = "vault.py" }, f.checklist[2])
    assert.are.same({ item = "anything", status = "met" }, f.checklist[3]) -- kept, after the persona's own
    assert.are.equal("CHANGES", f.verdict) -- an approval with an item missing
  end)

  it("counts a bare string as an item named but not judged", function()
    local f = assert(findings.normalize({ verdict = "APPROVE", checklist = { "Auth is specified", "Secrets come from the vault" } }, PERSONA))
    assert.are.same({ "missing", "missing" }, { f.checklist[1].status, f.checklist[2].status })
    assert.are.equal("no status given", f.checklist[1].note)
    assert.are.equal("CHANGES", f.verdict)
  end)

  it("refuses a model's review that leaves an item unassessed or unjudged, saying which", function()
    local complete = { complete = true }
    local none, err = findings.normalize({ verdict = "APPROVE" }, PERSONA, complete)
    assert.is_nil(none)
    assert.are.equal('the checklist does not assess "Auth is specified", "Secrets come from the vault": give one entry '
      .. 'per item of your checklist, its "item" copied verbatim', err)
    assert.matches('^checklist entry "Auth is specified" needs a status',
      select(2, findings.normalize({ verdict = "APPROVE", checklist = { "Auth is specified" } }, PERSONA, complete)))
    assert.matches("^checklist%[1%] names no item",
      select(2, findings.normalize({ verdict = "APPROVE", checklist = { { status = "met" } } }, PERSONA, complete)))
    local ok = assert(findings.normalize({ verdict = "APPROVE", checklist = {
      { item = "Auth is specified", status = "met" }, { item = "- Secrets come from the vault", status = "n/a" } } }, PERSONA, complete))
    assert.are.equal("APPROVE", ok.verdict)
  end)

  it("lets no approval past a blocker or a missing item", function()
    assert.are.equal("BLOCK", findings.settle_verdict("APPROVE", { { severity = "blocker" } }, {}))
    assert.are.equal("CHANGES", findings.settle_verdict("APPROVE", {}, { { status = "met" }, { status = "missing" } }))
    assert.are.equal("APPROVE", findings.settle_verdict("APPROVE", { { severity = "minor" } }, { { status = "n/a" } }))
    assert.are.equal("BLOCK", findings.settle_verdict("BLOCK", {}, { { status = "missing" } }))
  end)
end)
