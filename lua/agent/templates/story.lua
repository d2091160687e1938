-- The built-in story template: what `agent new-story` writes, and what `agent commit-story`
-- compares a story against to tell filled sections from untouched placeholders. A team's
-- .agent/templates/story.lua replaces it (it may call base() to start from this one).
--
-- It runs in the script sandbox. render(story) gets {id, title, scope, state} and returns the
-- markdown; `required` lists the sections commit-story insists on. Placeholders are HTML
-- comments or lines commit-story recognises as the template's own, so a story whose section
-- still reads as below is refused, and a rendered preview shows the empty sections as empty.

local REQUIRED = { "Problem Statement", "User Story", "Acceptance Criteria", "Test Strategy", "Rollback Plan" }

-- Each section: its title and the placeholder lines under it, in the order of the sample
-- stories teams already keep (## State first, then the sections).
local SECTIONS = {
  { "Problem Statement", {
    "<!-- What is wrong or missing today, for whom, and how you know: numbers, incidents, tickets. -->",
  } },
  { "User Story", {
    "As a **<role>**, I want **<capability>** so that **<benefit>**.",
  } },
  { "Acceptance Criteria", {
    "- [ ] **AC-1**: Given <context>, when <action>, then <observable result>.",
    "- [ ] **Negative Test**: <what must not happen, and how it is refused>.",
  } },
  { "Non-Functional Requirements", {
    "<!-- Performance, security, compliance and observability targets this change must meet. -->",
  } },
  { "Linked ADRs", {
    "<!-- ADR-NNN: the decisions this story relies on or changes. -->",
  } },
  { "Impact Analysis Summary", {
    "<!-- Components touched (one `path/to/file` per line with what changes), workflows affected, risks. -->",
  } },
  { "Test Strategy", {
    "<!-- How each acceptance criterion is tested: unit, integration and negative tests. -->",
  } },
  { "Rollback Plan", {
    "<!-- How to undo the change safely: switches, reverts, data repair. -->",
  } },
}

local function render(story)
  local out = { ("# %s: %s"):format(story.id, story.title), "", "## State", "", story.state }
  for _, section in ipairs(SECTIONS) do
    out[#out + 1] = ""
    out[#out + 1] = "## " .. section[1]
    out[#out + 1] = ""
    for _, line in ipairs(section[2]) do out[#out + 1] = line end
  end
  return table.concat(out, "\n") .. "\n"
end

return { api = 1, required = REQUIRED, render = render }
