---@meta
-- agent.yaml: YAML to Lua values (src/yaml.c, src/yaml_scalar.c), on libyaml's event API.
-- Annotation stub for the Lua language server; the code is in C.
--
-- Plain scalars follow the YAML 1.2 core schema: null (`~`, `null`, `Null`, `NULL`, empty),
-- bool (`true`/`True`/`TRUE`, `false`/...; not yes/no/on/off), int (`-17`, `0o17`, `0x1F`; one
-- past the lua_Integer range becomes the nearest float), float (`1.5`, `1e3`, `.inf`, `-.Inf`,
-- `.nan`...), else string. Quoted and block scalars are strings. The tags `!!str`, `!!int`,
-- `!!float`, `!!bool`, `!!null` and `!` are honoured (a value that does not fit its tag is an
-- error); other tags are ignored. Keys are the resolved scalars (`1: a` is `t[1]`).
--
-- An alias is the anchored Lua value itself: tables are shared, not copied. Each use of an
-- alias counts the anchored node's whole size against `max_alias_nodes`, so a "billion
-- laughs" document fails at once. `<<` merge keys (a mapping or a sequence of mappings) add
-- the keys the mapping lacks; the mapping's own keys win, then earlier sources.
--
-- Failures return nil and "yaml: line L, column C: problem" (1-based): syntax errors with
-- libyaml's context, invalid UTF-8 and control characters (NUL) where they are, duplicate
-- keys (at the second), keys that are not scalars, undefined or recursive aliases, too deep
-- a document, too many alias nodes; nil, "yaml: input of N bytes is over the limit of M bytes
-- (max_bytes)", "toobig" for input over the cap (the only failure with a code). Keys and
-- values quoted in messages are cut to their first line and 40 bytes. A UTF-8 byte order mark and CRLF or CR line endings are
-- read as usual. Bad arguments raise.

---@class agent.yaml
---@field null lightuserdata YAML null: the lightuserdata NULL, the same value as cjson.null
local yaml = {}

---@class agent.yaml.opts
---@field max_depth? integer nesting of mappings and sequences (default AGENT_YAML_DEPTH_MAX, 256)
---@field max_alias_nodes? integer nodes produced through aliases (default 100000)
---@field max_bytes? integer input size cap (default AGENT_YAML_INPUT_MAX, 64 MiB)

---The first document of a YAML stream as a Lua value; yaml.null for an empty stream or
---document. Documents after the first are not read.
---@param text string
---@param opts? agent.yaml.opts
---@return any|nil value nil on failure (a YAML null decodes to yaml.null, never nil)
---@return string? message "yaml: line L, column C: problem"
---@return string? code "toobig" when the input is over max_bytes
function yaml.decode(text, opts) end

---Every document of a YAML stream, in order ({} when there are none). Anchors do not carry
---from one document to the next.
---@param text string
---@param opts? agent.yaml.opts
---@return any[]|nil documents
---@return string? message "yaml: line L, column C: problem"
---@return string? code "toobig" when the input is over max_bytes
function yaml.decode_all(text, opts) end

return yaml
