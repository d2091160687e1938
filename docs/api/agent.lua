---@meta
-- `agent`: what persona and template scripts see (lua/agent/script_api.lua), as the global
-- `agent` and as require("agent") inside a script. Annotation stub for the Lua language
-- server: add docs/api/ to `workspace.library` and persona files get completion and types.
-- docs/lua-api.md is the reference and docs/personas.md the guide.
--
-- Everything here is read-only (writing a field raises). File access is confined to the
-- repository. Runtime failures return nil, message; wrong argument types raise. The names
-- below are checked against tests/fixtures/script_api.snapshot by the test suite.

---The API a script sees.
---@class agent.script
agent = {}

---The persona/template API this agent implements (1). A script declares `api = 1`.
---@type integer
agent.api_version = 1

---agent's version, "MAJOR.MINOR.PATCH".
---@type string
agent.version = ""

-- ---- Types scripts receive and return -------------------------------------------------------

---A runbook field a persona may own and fill through its findings' `sections`.
---@class agent.script.field
---@field key string e.g. "guardrails.security"
---@field title string its heading, e.g. "Security Requirements"
---@field section string the runbook section it sits in, e.g. "Implementation Guardrails"
---@field ask string what the field should say (used in prompts)

---A checklist item as written in a persona: a string, or a table.
---@class agent.script.checklist_item
---@field text string the item, e.g. "Idempotency: retried writes never duplicate an action"
---@field field? string the owned field its evidence goes to
---@field evidence? string[] words or phrases that show the story covers it
---@field sections? string[] story section titles whose presence is the evidence
---@field applies? string[] when none occurs in the story, the item is "n/a"
---@field guidance? string what the runbook requires

---A checklist item in its full form (agent.checklist.item).
---@class agent.script.item
---@field text string
---@field field? string
---@field guidance? string
---@field evidence string[] a string item's evidence is its own distinctive words
---@field sections string[]
---@field applies string[]
---@field min_hits integer evidence words a line must hold (2 for derived evidence, else 1)
---@field derived? true the evidence was derived from the text

---A unit of a document: a paragraph, a list item (wrapped lines joined) or a line of code.
---@class agent.script.line
---@field text string
---@field section? string the heading it sits under (nil before the first `##`)
---@field line integer its first line in the document

---One checklist item judged offline (agent.checklist.judge).
---@class agent.script.judged
---@field item string the item's text
---@field field? string
---@field guidance? string
---@field status "met"|"partial"|"missing"|"n/a"
---@field note string the evidence quoted, or why it is missing
---@field story agent.script.line[] story units that meet it
---@field standards {relpath: string, text: string, quote: string, line: integer}[] governance lines that cover it

---@class agent.script.finding_item
---@field severity "blocker"|"major"|"minor"|"info"
---@field text string
---@field rule? string a rule path or ADR id the persona was sent

---@class agent.script.checklist_entry
---@field item string
---@field status "met"|"partial"|"missing"|"n/a"
---@field note? string

---What review and offline return (normalised by agent.persona.normalize).
---@class agent.script.findings
---@field verdict "APPROVE"|"CHANGES"|"BLOCK"
---@field summary string
---@field items agent.script.finding_item[] sorted by severity
---@field checklist agent.script.checklist_entry[] one per checklist item
---@field sections table<string, string> owned field -> markdown

---The story as a persona sees it (redacted).
---@class agent.script.story
---@field id string e.g. "INFRA-012"
---@field title string
---@field scope string e.g. "INFRA"
---@field state string e.g. "COMMITTED"
---@field relpath string
---@field text string
---@field sections table<string, string> section title -> text
---@field named_files string[] repository paths the story names

---What prompt, review and offline receive: read-only, every text already redacted.
---@class agent.script.ctx
---@field persona agent.script.persona this persona, after roster extension
---@field story agent.script.story
---@field context string the governance context rendered for this persona's role (what the prompt sends)
---@field rules {relpath: string, description?: string, why: table, globs: string[], always_apply: boolean, body: string}[]
---@field adrs {relpath: string, id: string, title: string, status: string, text: string}[]
---@field compliance {relpath: string, text: string}[]
---@field instructions {relpath: string, text: string}[] this persona's role only
---@field files {relpath: string, exists: boolean, truncated?: boolean, text?: string}[]
---@field provider string
---@field model string
---@field offline boolean
---@field cut string[] what the token budget left out of `context`

---A persona script's table (docs/personas.md).
---@class agent.script.persona
---@field api integer 1
---@field id string equals the file name
---@field name? string default "@" .. capitalised id
---@field title? string
---@field role? string which .agent/instructions/<role>/ it receives; default id
---@field focus? string
---@field checklist? (string|agent.script.checklist_item)[]
---@field owns? string[] runbook field keys (agent.fields)
---@field sections? string[]
---@field responsibilities? string[]
---@field instructions? string[]
---@field provider? string
---@field model? string
---@field prompt? fun(ctx: agent.script.ctx): {system: string, user: string}
---@field review? fun(ctx: agent.script.ctx, reply: table): agent.script.findings|nil, string?
---@field offline? fun(ctx: agent.script.ctx): agent.script.findings

---One persona's place in the runbook document a template renders.
---@class agent.script.panel_entry
---@field id string
---@field name string
---@field title? string
---@field status "ok"|"no_review"|"script_error"
---@field verdict? "APPROVE"|"CHANGES"|"BLOCK"
---@field summary? string
---@field error? string
---@field items agent.script.finding_item[]
---@field checklist agent.script.checklist_entry[]
---@field elapsed_ms number
---@field tokens {input: integer, output: integer}
---@field cached boolean

---The runbook document (docs/internals.md) a template's render(doc) receives, read-only.
---@class agent.script.runbook_doc
---@field id string
---@field title string
---@field status string "PROPOSED"
---@field scope string
---@field goal? string markdown
---@field panel agent.script.panel_entry[]
---@field spec {api?: string, data_models?: string, dependencies?: string, state?: string}
---@field guardrails {stack?: string, error_handling?: string, security?: string}
---@field design {architecture?: string, concurrency?: string, idempotency?: string}
---@field quality {testing?: string, logging?: string, metrics?: string}
---@field lifecycle {cicd?: string, iac?: string, documentation?: string}
---@field changes {component: string, ops: table[]}[] MODIFY {path, description, blocks={{search, replace}}}, NEW {path, description, content, lang}, DELETE {path, rationale}
---@field verification? string markdown
---@field rollback? string markdown
---@field provenance table rules, adrs, excluded_adrs, cut, redactions, provider, model
---@field gate_report? {line: integer, message: string}[] only while gates still fail

---A template script's table (.agent/templates/runbook.lua).
---@class agent.script.template
---@field api integer 1
---@field render fun(doc: agent.script.runbook_doc): string

-- ---- Data --------------------------------------------------------------------------------

---The runbook fields, in document order (16 of them).
---@type agent.script.field[]
agent.fields = {}

-- ---- agent.json ----------------------------------------------------------------------------

---@class agent.script.json
agent.json = {}

---JSON null, as decoded (also agent.yaml's null).
---@type lightuserdata
agent.json.null = nil

---Encodes a value as agent writes JSON: object keys sorted, '/' unescaped. Never raises.
---@param v any
---@return string|nil text
---@return string? message "json encode: ..." (a function, a cycle)
function agent.json.encode(v) end

---Decodes JSON text. Raises only when s is not a string.
---@param s string
---@return any|nil value
---@return string? message "json decode: ..."
function agent.json.decode(s) end

-- ---- agent.yaml, agent.markdown, agent.rules -----------------------------------------------

---@class agent.script.yaml
agent.yaml = {}

---The first YAML document (YAML 1.2 core schema). See docs/api/yaml.lua.
---@param text string
---@param opts? agent.yaml.opts
---@return any|nil value
---@return string? message "yaml: line L, column C: problem"
function agent.yaml.decode(text, opts) end

---@class agent.script.markdown
agent.markdown = {}

---A heading tree with source lines, and the fenced code blocks. See docs/api/markdown.lua.
---@param text string
---@param opts? {max_bytes?: integer}
---@return agent.markdown.document|nil doc
---@return string? message
function agent.markdown.parse(text, opts) end

---HTML without raw HTML or unsafe links (model output is untrusted).
---@param text string
---@param opts? {max_bytes?: integer}
---@return string|nil html
---@return string? message
function agent.markdown.to_html(text, opts) end

---@class agent.script.rules
agent.rules = {}

---A compiled glob (`**`, `*`, `?`, `[...]`, `{a,b}`). See docs/api/rules.lua.
---@param pattern string
---@return agent.Glob|nil matcher
---@return string? message "glob '<pattern>': <reason>"
function agent.rules.glob(pattern) end

---A rule file's frontmatter and body.
---@param text string
---@return agent.rules.meta|nil meta
---@return string body_or_message
---@return integer? body_line
function agent.rules.frontmatter(text) end

-- ---- agent.fs: read-only, inside the repository --------------------------------------------
-- A relative path is taken from the repository root; whatever a path resolves to (symlinks
-- included) must stay inside it, else nil, "<op> '<path>': outside the repository".

---@class agent.script.fs
agent.fs = {}

---A file's content. A key or credential file (redact.is_key_path: *.pem, id_rsa, .netrc...)
---is never read; a .env-like file comes redacted (redact.env_file), as a model would see it.
---@param path string
---@param max? integer bytes; over it: nil, message, "toobig"
---@return string|nil data
---@return string? message "read '<path>': <reason>"
---@return integer|string? code errno or "toobig"
function agent.fs.read(path, max) end

---Whether a path exists inside the repository.
---@param path string
---@return boolean
function agent.fs.exists(path) end

---@param path string
---@return agent.fs.Stat|nil st {type, size, mtime, mode}
---@return string? message
function agent.fs.stat(path) end

---Entry names of a directory, sorted.
---@param dir string
---@return string[]|nil names
---@return string? message
function agent.fs.list(dir) end

---Files below dir, relative to it, sorted; .gitignore honoured unless gitignore = false.
---@param dir string
---@param opts? {gitignore?: boolean, hidden?: boolean, ignore?: string[], max_files?: integer}
---@return string[]|nil files
---@return string[]|string errors unreadable entries (never nil), or the failure message
function agent.fs.walk(dir, opts) end

---The absolute path, when it is inside the repository.
---@param path string
---@return string|nil abs
---@return string? message
function agent.fs.realpath(path) end

-- ---- agent.redact ------------------------------------------------------------------------

---@class agent.script.redact
agent.redact = {}

---Replaces every credential with [REDACTED:KIND] (docs/security.md lists the kinds).
---@param s string
---@param opts? {emails?: boolean, ips?: boolean}
---@return string redacted
---@return table<string, integer> counts KIND -> n
function agent.redact.text(s, opts) end

---text(), plus the value of every KEY=value line (.env files).
---@param s string
---@param opts? {emails?: boolean, ips?: boolean}
---@return string redacted
---@return table<string, integer> counts
function agent.redact.env_file(s, opts) end

-- ---- agent.md: markdown that survives being nested --------------------------------------
-- Block helpers return text ending in "\n" ("" when there is nothing to write), so blocks
-- join with table.concat(blocks, "\n").

---@class agent.script.md
agent.md = {}

---A fenced code block holding text verbatim: the fence is longer than any backtick run in it.
---@param text string
---@param info? string e.g. "lua"
---@return string
function agent.md.fence(text, info) end

---An inline code span holding text verbatim.
---@param text string
---@return string
function agent.md.code(text) end

---One line of text safe inside a paragraph, list item, table cell or heading.
---@param text string
---@return string
function agent.md.escape_inline(text) end

---"- a\n- b\n"; items are markdown, later lines of an item indented to stay inside it.
---@param list string[]
---@return string
function agent.md.bullets(list) end

---"## text\n" with text escaped.
---@param level integer 1..6
---@param text string
---@return string
function agent.md.heading(level, text) end

---A pipe table; rows[1] is the header row. Cells are escaped.
---@param rows string[][]
---@return string
function agent.md.table(rows) end

---The fence info string of a file by its extension or name ("python" for a.py), or nil.
---@param path string
---@return string|nil
function agent.md.language(path) end

---Markdown kept inside a section of level-1: headings pushed down to `level`, step-like
---headings escaped, an open fence closed. For markdown from a model.
---@param markdown string
---@param level integer
---@return string
function agent.md.nest(markdown, level) end

-- ---- agent.log ---------------------------------------------------------------------------

---@class agent.script.log
agent.log = {}

---A line on stderr, prefixed with the calling script's path relative to the repository; the
---message is redacted (docs/security.md).
---@param msg any
function agent.log.info(msg) end

---A warning on stderr, like agent.log.info.
---@param msg any
function agent.log.warn(msg) end

-- ---- agent.checklist: the offline judge's parts -------------------------------------------

---@class agent.script.checklist
agent.checklist = {}

---A checklist item in its full form. Raises on an item that is neither a string nor a table
---with a `text` string.
---@param v string|agent.script.checklist_item
---@return agent.script.item
function agent.checklist.item(v) end

---Judges checklist items (default: ctx.persona.checklist) against the story and the
---governance documents sent to the persona.
---@param ctx agent.script.ctx
---@param items? (string|agent.script.checklist_item)[]
---@return agent.script.judged[]
function agent.checklist.judge(ctx, items) end

---One line as a short quote: list markup stripped, whitespace collapsed, cut at 200 bytes.
---@param line string
---@return string
function agent.checklist.quote(line) end

---A document's units with their section; headings, fences, the title and the state line left out.
---@param text string
---@return agent.script.line[]
function agent.checklist.story_lines(text) end

-- ---- agent.persona: what the built-in personas are made of --------------------------------

---@class agent.script.persona_api
agent.persona = {}

---The default prompt: who the persona is, its checklist, the fields it writes, the reply
---schema (system); the governance context (user).
---@param ctx agent.script.ctx
---@param opts? {lens?: string} lens: the persona's own guidance, added to the system prompt
---@return {system: string, user: string}
function agent.persona.prompt(ctx, opts) end

---The default review: the parsed reply normalised against the persona's checklist.
---@param ctx agent.script.ctx
---@param reply table the model's reply, decoded from JSON
---@return agent.script.findings|nil findings
---@return string? reason why the reply is unusable (sent back on the one retry)
function agent.persona.review(ctx, reply) end

---The default offline review: every checklist item judged, a major finding per missing
---item, CHANGES when any is missing, owned fields written from the items' guidance and evidence.
---@param ctx agent.script.ctx
---@return agent.script.findings
function agent.persona.offline(ctx) end

---The JSON shape a persona is asked to reply with, naming the fields it owns.
---@param persona agent.script.persona
---@return string
function agent.persona.schema(persona) end

---Validates and normalises findings: verdict words, item order, unassessed checklist items
---as "missing", sections outside `owns` dropped, APPROVE beside a blocker becomes BLOCK.
---@param findings table
---@param persona agent.script.persona
---@return agent.script.findings|nil findings
---@return string? reason
function agent.persona.normalize(findings, persona) end

return agent
