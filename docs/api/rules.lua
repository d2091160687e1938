---@meta
-- agent.rules: rule-file frontmatter, glob matchers and rule selection (src/rules.c over the
-- plain C of src/frontmatter.c and src/glob.c). Annotation stub for the Lua language server.
--
-- Frontmatter follows pandoc's rule: the first line is `---` (after an optional UTF-8 BOM),
-- the block ends at the next `---` or `...` line, CRLF is fine everywhere, and a second
-- frontmatter-like block later on is body text. Rule files in the wild are not strict YAML,
-- so before agent.yaml decodes the block, values a strict parser would misread are quoted:
-- `globs: **/*.ts, src/**` (an alias to YAML), `globs: "a", "b"`, `globs: {src,lib}/**`,
-- `[**/*.ts, src/**]` items, `description: Note: this` (a colon in prose). Block scalars and
-- comments are left alone, and no line moves, so errors name the file's own lines.
--
-- Globs: `**` as a whole segment is zero or more segments (one or more at the end: `src/**`
-- is everything below src/); `*` and `?` never cross `/`; `[...]` with ranges, `!`/`^` and
-- `[:digit:]`-style classes (the twelve POSIX ones, ASCII only, as in .gitignore); `{a,b}`
-- alternatives, nestable, at most 256 in all; `\x` escapes x. A pattern without `/` matches
-- the basename at any depth (`*.ts` matches `src/a.ts`); a leading `/` or `./` anchors it at
-- the root; a trailing `/` means everything below. `?` and classes take one UTF-8 character;
-- matching is case-sensitive and `*` matches dot files. A path's leading `./` is ignored.
-- Matching time is at worst pattern length times path length: no pattern makes it exponential.

---@class agent.rules
local rules = {}

---The frontmatter fields of a rule file, as decoded, with two normalised when present.
---@class agent.rules.meta
---@field description? string
---@field globs? string[] from a list, one comma-separated string, or list items holding commas; trimmed, one level of quotes stripped, empty items dropped
---@field alwaysApply? boolean from true/"true"/"True"/yes/on/1 (true) or false/no/off/0/null (false)
---@field [string] any every other key, as agent.yaml decoded it

---Splits a rule file into its frontmatter and body.
---Without frontmatter meta is {} and body the whole text from line 1. Failures: an opening
---fence never closed (line 1), YAML errors (the file's line), frontmatter that is not a
---mapping, `globs` that is not a string or list of strings, an `alwaysApply` that is neither
---clearly true nor clearly false (the key's line).
---@param text string
---@return agent.rules.meta|nil meta
---@return string body_or_message the text after the closing fence, or "frontmatter: line N: problem"
---@return integer? body_line the file line the body starts on
function rules.frontmatter(text) end

---A compiled glob.
---@class agent.Glob
---@operator call(string): boolean
local Glob = {}

---Whether path matches. `m(path)` is the same; tostring(m) is "agent.Glob('<pattern>')".
---@param path string
---@return boolean
function Glob:match(path) end

---Compiles a glob once for many matches.
---@param pattern string
---@param opts? {max_bytes?: integer, max_alternatives?: integer} caps on the pattern's length (default 4096) and on its brace alternatives (default 256)
---@return agent.Glob|nil matcher
---@return string? message "glob '<pattern>': <reason>", e.g. "unclosed '['", "braces expand to more than 256 alternatives"
function rules.glob(pattern, opts) end

---A rule as select reads it: frontmatter's meta (other fields are carried along untouched).
---@class agent.rules.rule
---@field globs? string[]
---@field alwaysApply? boolean

---@class agent.rules.why
---@field always? true the rule has alwaysApply
---@field glob? string the rule's first glob that matches a path
---@field path? string the bytewise-smallest path that glob matches (first in fs.walk order)

---@class agent.rules.problem
---@field rule integer index of the rule in the input
---@field glob string the malformed pattern (it matches nothing)
---@field error string "glob '<pattern>': <reason>"

---@class agent.rules.select_opts
---@field index? boolean false: try every path for every glob (same answer; for tests and benchmarks)
---@field max_glob_bytes? integer rules.glob's max_bytes for every rule's globs
---@field max_glob_alternatives? integer rules.glob's max_alternatives for every rule's globs

---Chooses the rules that apply to a set of paths: those with alwaysApply == true, and those
---with a glob matching at least one path, in input order. Rules with neither are left out.
---The paths are indexed once per call (sorted for literal prefixes; hashed by extension,
---basename, directory name and a basename's first 1, 2, 4, 8 or 16 bytes, for a basename's
---literal prefix as in `**/test_*.py`; each table built only when a glob's first 64
---candidates did not match), so each glob is tried on candidate paths only.
---Wrong argument types raise.
---@param rule_list agent.rules.rule[]
---@param paths string[] repo-relative paths, e.g. from fs.walk
---@param opts? agent.rules.select_opts
---@return agent.rules.rule[] selected the same tables that were passed in
---@return agent.rules.why[] why why[k] explains selected[k]
---@return agent.rules.problem[] problems malformed globs, never nil
function rules.select(rule_list, paths, opts) end

return rules
