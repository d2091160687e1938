-- Secret redaction: every text bound for a model passes through here first, and each credential
-- in it becomes [REDACTED:KIND]. docs/security.md lists the kinds, what each catches and what it
-- deliberately leaves alone.
--
-- How it stays linear: every detector finds its candidates by a literal anchor with a plain
-- string.find (memchr speed), then confirms each one with a pattern anchored at that spot, so no
-- pattern ever rescans a long run from every position. Detectors only record spans; one sort and
-- one rebuild apply them, so overlapping finds (a GitHub token inside `token=...`) are redacted
-- once, by the most specific detector.
local M = {}

local find, sub, byte, lower = string.find, string.sub, string.byte, string.lower

-- Detector order is priority: when two spans start at the same byte, the earlier kind wins.
M.KINDS = {
  "PRIVATE_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN",
  "SLACK_TOKEN", "SLACK_WEBHOOK", "GOOGLE_API_KEY", "ANTHROPIC_KEY", "OPENAI_KEY", "JWT",
  "URL_PASSWORD", "PASSWORD", "TOKEN", "API_KEY", "SECRET", "EMAIL", "IPV4", "IPV6", "ENV",
}
local PRIORITY = {}
for i, kind in ipairs(M.KINDS) do PRIORITY[kind] = i end

-- Byte classes as lookup tables: cheaper than a pattern match per neighbour check.
local function class(pattern)
  local t = {}
  for b = 0, 255 do t[b] = string.char(b):find(pattern) ~= nil end
  return t
end
local WORD = class("[%w_]")          -- identifier characters
local TOKEN_CHAR = class("[%w_%-]")  -- what a key body may be glued to
local NAME = class("[%w_%.%-]")      -- assignment names: db.password, api-key
local ALNUM = class("%w")
local SPACE = class("[ \t\r]")
local DIGIT = class("%d")
local DIGIT_DOT = class("[%d%.]")
local HEX_COLON = class("[%x:]")

local NAME_MAX = 64 -- longest assignment name considered

local function before(s, p) return byte(s, p - 1) or 0 end

-- Calls fn(pos) for each plain occurrence of lit in hay; fn returns where to resume (or nil
-- for pos + 1), which lets a detector skip the text it has just consumed.
local function each(hay, lit, fn)
  local init = 1
  while true do
    local p = find(hay, lit, init, true)
    if not p then return end
    init = math.max(fn(p) or 0, p + 1)
  end
end

local function span(spans, first, last, kind)
  spans[#spans + 1] = { first, last, kind }
end

-- ---- PEM private keys --------------------------------------------------------------------
-- Header to footer, any key type (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP ... BLOCK); a block
-- without its footer is redacted to the end of the text rather than leaked line by line.
local PEM_HEAD = "^%-%-%-%-%-BEGIN [%u%d ]-PRIVATE KEY[%u ]*%-%-%-%-%-"
local PEM_FOOT = "%-%-%-%-%-END [%u%d ]-PRIVATE KEY[%u ]*%-%-%-%-%-"

local function private_keys(s, spans)
  each(s, "-----BEGIN ", function(p)
    local _, head_end = find(s, PEM_HEAD, p)
    if not head_end then return end
    local _, foot_end = find(s, PEM_FOOT, head_end + 1)
    foot_end = foot_end or #s
    span(spans, p, foot_end, "PRIVATE_KEY")
    return foot_end + 1
  end)
end

-- ---- AWS ---------------------------------------------------------------------------------
-- A 40-character base64 secret with both cases: a git SHA (lower-case hex) never qualifies.
local AWS_SECRET = "%f[%w/+]" .. ("[%w/+]"):rep(40) .. "%f[^%w/+]"
local function aws_secret_like(v)
  return #v == 40 and find(v, "^[%w/+]+$") and find(v, "%u") and find(v, "%l")
end

-- Access key ids (AKIA.../ASIA...), and the secret that follows one within a few lines, as in
-- a credentials CSV or a key pair pasted into an issue.
local function aws(s, spans)
  for _, lit in ipairs({ "AKIA", "ASIA" }) do
    each(s, lit, function(p)
      if ALNUM[before(s, p)] then return end
      local _, e = find(s, "^A[KS]IA" .. ("[%u%d]"):rep(16), p)
      if not e or ALNUM[byte(s, e + 1) or 0] then return end
      span(spans, p, e, "AWS_ACCESS_KEY")
      local window = sub(s, e + 1, e + 240)
      local a, b = find(window, AWS_SECRET)
      if a and aws_secret_like(sub(window, a, b)) then
        span(spans, e + a, e + b, "AWS_SECRET_KEY")
      end
      return e + 1
    end)
  end
end

-- ---- Vendor tokens with a fixed prefix -----------------------------------------------------
-- lits: anchors; pat: the token anchored there; body: characters required after the anchor
-- (len: the exact total), which keeps short look-alikes (sk-learn, ghp_ in prose) out; a
-- token glued to a preceding word character or '-' is part of something else.
local PREFIXED = {
  { kind = "GITHUB_TOKEN", lits = { "ghp_", "gho_", "ghu_", "ghs_", "ghr_" }, pat = "^gh[pousr]_%w+", body = 30 },
  { kind = "GITHUB_TOKEN", lits = { "github_pat_" }, pat = "^github_pat_[%w_]+", body = 22 },
  { kind = "GITLAB_TOKEN", lits = { "glpat-", "gldt-", "glrt-", "glptt-" }, pat = "^gl%l+%-[%w_%-]+", body = 20 },
  { kind = "SLACK_TOKEN", lits = { "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xapp-" },
    pat = "^x%l%l%l%-[%w%-]+", body = 15 },
  { kind = "GOOGLE_API_KEY", lits = { "AIza" }, pat = "^AIza[%w_%-]+", len = 39 },
  { kind = "ANTHROPIC_KEY", lits = { "sk-ant-" }, pat = "^sk%-ant%-[%w_%-]+", body = 20 },
  { kind = "OPENAI_KEY", lits = { "sk-" }, pat = "^sk%-[%w_%-]+", body = 20, unless = "^sk%-ant%-", mixed = true },
}

local function prefixed(s, spans)
  for _, d in ipairs(PREFIXED) do
    for _, lit in ipairs(d.lits) do
      if find(s, lit, 1, true) then -- most texts hold no anchor: no callback for those
        each(s, lit, function(p)
          if TOKEN_CHAR[before(s, p)] then return end
          local _, e = find(s, d.pat, p)
          if not e then return end
          local ok
          if d.len then ok = e - p + 1 == d.len else ok = e - p + 1 - #lit >= d.body end
          if ok and d.unless and find(s, d.unless, p) then ok = false end
          if ok and d.mixed then
            local tail = sub(s, p + #lit, e)
            ok = find(tail, "%a") ~= nil and find(tail, "%d") ~= nil
          end
          if ok then span(spans, p, e, d.kind) end
          return e + 1
        end)
      end
    end
  end
end

-- Slack incoming webhooks: the whole URL is the credential.
local function slack_webhooks(s, spans)
  each(s, "hooks.slack.com/", function(p)
    local _, e = find(s, "^hooks%.slack%.com/[%w/_%-]+", p)
    if not e or e - p < 36 then return end
    local first = p
    for _, scheme in ipairs({ "https://", "http://" }) do
      if sub(s, p - #scheme, p - 1) == scheme then first = p - #scheme end
    end
    span(spans, first, e, "SLACK_WEBHOOK")
    return e + 1
  end)
end

-- JSON Web Tokens: three base64url segments, the header starting eyJ ('{"').
local function jwts(s, spans)
  each(s, "eyJ", function(p)
    if TOKEN_CHAR[before(s, p)] then return end
    local _, e = find(s, "^eyJ[%w_%-]+%.[%w_%-]+%.[%w_%-]*", p)
    if not e then return end
    local _, dot = find(s, "^eyJ[%w_%-]+%.", p)
    if dot - p >= 10 and e - dot >= 6 then span(spans, p, e, "JWT") end
    return e + 1
  end)
end

-- ---- Values that are placeholders, not secrets ---------------------------------------------
local NOT_A_VALUE = {
  [""] = true, null = true, none = true, ["nil"] = true, ["true"] = true, ["false"] = true,
  ["~"] = true, undefined = true, string = true, str = true, number = true, int = true,
  integer = true, bool = true, boolean = true, any = true, bytes = true, object = true,
  optional = true, unknown = true, secretstr = true, text = true,
}

local function placeholder(v)
  return NOT_A_VALUE[lower(v)] or find(v, "^%$") or find(v, "^%%[%(%w]") or find(v, "^{{")
    or find(v, "^<.*>$") or find(v, "^%*+$") or find(v, "^%[REDACTED") ~= nil
end

-- Credentials in URLs: scheme://user:password@host keeps the user and the host.
local function url_passwords(s, spans)
  each(s, "://", function(p)
    if not ALNUM[before(s, p)] then return end
    local _, e, pass = find(s, "^://[^%s/:@]+:([^%s/@]+)@", p)
    if not e or placeholder(pass) then return end
    span(spans, e - #pass, e - 1, "URL_PASSWORD")
    return e + 1
  end)
end

-- ---- name = value assignments ----------------------------------------------------------------
-- The kind a name implies, from its last component (db.password -> password): it must END
-- with the secret word, so max_tokens, token_count, password_policy and secretary stay.
local function name_kind(name)
  local n = lower(name):gsub("^.*%.", ""):gsub("%-", "_")
  if find(n, "password$") or find(n, "passwd$") or find(n, "passphrase$") then return "PASSWORD" end
  if find(n, "token$") then return "TOKEN" end
  if find(n, "api_?key$") then return "API_KEY" end
  if find(n, "secret$") then return "SECRET" end
  if find(n, "key$") and (find(n, "secret") or find(n, "private")) then
    return find(n, "access") and "AWS_SECRET_KEY" or "SECRET"
  end
  return nil
end

-- Where a quoted value ends (the closing quote), honouring backslash escapes, on one line.
local function quoted_end(s, open, q)
  local i = open + 1
  while true do
    local c = byte(s, i)
    if not c or c == 10 then return nil end
    if c == 92 then
      i = i + 2
    elseif c == q then
      return i
    else
      i = i + 1
    end
  end
end

-- The value after `name <op>` at v: returns its first and last byte, or nil when it is not a
-- literal (an expression, a type annotation, a sentence after `Password:`).
local function value_at(s, v, op)
  local c = byte(s, v)
  if c == 34 or c == 39 or c == 96 then
    local close = quoted_end(s, v, c)
    if not close or close == v + 1 then return nil end
    return v + 1, close - 1
  end
  local _, e = find(s, "^[^%s\"'`,;&|<>(){}%[%]]+", v)
  if not e then return nil end
  local nc = byte(s, e + 1)
  if nc == 40 or nc == 91 then return nil end -- a call or an index: code, not a literal
  if op == ":" and not (find(s, "^[ \t\r]*[\n#,;}%]]", e + 1) or find(s, "^[ \t\r]*$", e + 1)) then
    return nil -- "Password: must be 12 characters" is prose, not a credential
  end
  return v, e
end

local ASSIGN_WORDS = { "pass", "secret", "token", "api", "private" }

local function assignments(s, low, spans)
  local seen = {}
  for _, word in ipairs(ASSIGN_WORDS) do
    if find(low, word, 1, true) then -- most texts hold no anchor: no callback for those
      each(low, word, function(p)
        local first = p
        while NAME[before(s, first)] and p - first < NAME_MAX do first = first - 1 end
        local _, last = find(s, "^[%w_%-]*", p + #word)
        -- a name longer than NAME_MAX is no credential name: skip its whole run at once
        if last - first >= NAME_MAX or NAME[before(s, first)] then return last + 1 end
        if seen[last] then return last + 1 end
        seen[last] = true
        local kind = name_kind(sub(s, first, last))
        if not kind then return last + 1 end
        local _, op_end, op = find(s, "^[\"']?[ \t]*([:=]=?>?)[ \t]*", last + 1)
        -- `::` is a path (Token::new), not an assignment
        if not op_end or byte(s, op_end + 1) == 58 then return last + 1 end
        local a, b = value_at(s, op_end + 1, op)
        if not a then return last + 1 end
        local value = sub(s, a, b)
        if placeholder(value) then return b + 1 end
        if kind == "AWS_SECRET_KEY" and not aws_secret_like(value) then kind = "SECRET" end
        span(spans, a, b, kind)
        return b + 1
      end)
    end
  end
end

-- ---- Opt-in: e-mail addresses and IP addresses -----------------------------------------------
-- The local parts people actually use (RFC 5322 allows more, but `key=bob@x.org` should keep
-- its `key=`).
local EMAIL_LOCAL = class("[%w%.%+_%-]")

local function emails(s, spans)
  each(s, "@", function(p)
    local first = p
    while EMAIL_LOCAL[before(s, first)] and p - first < 64 do first = first - 1 end
    while byte(s, first) == 46 and first < p do first = first + 1 end -- no leading dot
    if first == p then return end
    local _, e = find(s, "^@[%w%-][%w%-%.]*%.%a%a+", p)
    if not e or TOKEN_CHAR[byte(s, e + 1) or 0] then return end
    span(spans, first, e, "EMAIL")
    return e + 1
  end)
end

-- Version numbers look exactly like IPv4 (2.31.0.1), so a dotted quad counts as an address only
-- when something says so: a port or prefix after it, a word like "host" or "dns" just before
-- it, or a first octet of 10 or more outside a version context.
local function set(list)
  local t = {}
  for _, w in ipairs(list) do t[w] = true end
  return t
end
local VERSION_WORDS = set({ "version", "release", "upgrade", "downgrade", "bump", "tag" })
local IP_WORDS = set({ "ip", "ips", "host", "addr", "address", "server", "dns", "nameserver",
  "gateway", "proxy", "bind", "listen", "ping", "subnet", "route", "endpoint", "remote" })
local VERSION_GLUE = class("[%w_=@~%^<>%+%-]")

-- The word that ends at or before i (lower-cased), scanning back no further than stop nor past
-- a line end; returns it and where to continue.
local function word_back(s, i, stop)
  while i >= stop and not ALNUM[byte(s, i)] do
    if byte(s, i) == 10 then return nil, stop - 1 end
    i = i - 1
  end
  local last = i
  while i >= stop and ALNUM[byte(s, i)] do i = i - 1 end
  if last <= i then return nil, i end
  return lower(sub(s, i + 1, last)), i
end

-- The last two words before p on its line: the context that says whether a dotted quad is a
-- version or an address.
local function words_before(s, p)
  local stop = math.max(1, p - 40)
  local w2, i = word_back(s, p - 1, stop)
  local w1 = w2 and (word_back(s, i, stop)) or nil
  return w1, w2
end

local function octet(o)
  return #o <= 3 and tonumber(o) <= 255 and (#o == 1 or byte(o) ~= 48)
end

local function ipv4_at(s, p, e, a, b, c, d)
  if not (octet(a) and octet(b) and octet(c) and octet(d)) then return false end
  local n1, n2 = byte(s, e + 1) or 0, byte(s, e + 2) or 0
  if (n1 == 46 and DIGIT[n2]) or TOKEN_CHAR[n1] or n1 == 43 then return false end
  if VERSION_GLUE[before(s, p)] then return false end
  local w1, w2 = words_before(s, p)
  if VERSION_WORDS[w1] or VERSION_WORDS[w2] then return false end
  return tonumber(a) >= 10 or ((n1 == 58 or n1 == 47) and DIGIT[n2]) or IP_WORDS[w1] or IP_WORDS[w2] or false
end

-- Anchored on each "." with digits on both sides; the quad is matched from the start of the
-- digit run before it, and the scan resumes after the quad.
local function ipv4(s, spans)
  each(s, ".", function(dot)
    if not DIGIT[before(s, dot)] or not DIGIT[byte(s, dot + 1) or 0] then return end
    local p = dot - 1
    while DIGIT[before(s, p)] do p = p - 1 end
    local _, run_end = find(s, "^[%d%.]*", dot)
    if DIGIT_DOT[before(s, p)] then return run_end + 1 end -- inside 1.2.3.4.5: not an address
    local _, e, a, b, c, d = find(s, "^(%d+)%.(%d+)%.(%d+)%.(%d+)", p)
    if not e then return run_end + 1 end
    if ipv4_at(s, p, e, a, b, c, d) then span(spans, p, e, "IPV4") end
    return e + 1
  end)
end

-- Full (8 groups) or compressed (one ::) IPv6; needs a hex letter or three groups, so a Python
-- slice a[10::2], a clock 12:30:45 and C++ std::vector stay.
local function ipv6_valid(tok)
  if find(tok, ":::") or find(tok, "^:[^:]") or find(tok, "[^:]:$") then return false end
  local _, doubles = tok:gsub("::", "")
  if doubles > 1 then return false end
  local groups = 0
  for g in tok:gmatch("[^:]+") do
    if #g > 4 then return false end
    groups = groups + 1
  end
  if doubles == 0 and groups ~= 8 then return false end
  if doubles == 1 and groups > 7 then return false end
  return tok == "::1" or (groups >= 2 and (find(tok, "%a") ~= nil or groups >= 3))
end

-- Anchored on each ":"; the candidate is the whole run of hex digits and colons around it.
local function ipv6(s, spans)
  each(s, ":", function(colon)
    local p = colon
    while HEX_COLON[before(s, p)] and colon - p < 45 do p = p - 1 end
    local _, e = find(s, "^[%x:]*", colon)
    if e - p >= 45 then return e + 1 end
    local nxt = byte(s, e + 1) or 0
    if not WORD[before(s, p)] and not WORD[nxt] and nxt ~= 46 and ipv6_valid(sub(s, p, e)) then
      span(spans, p, e, "IPV6")
    end
    return e + 1
  end)
end

-- ---- .env files -----------------------------------------------------------------------------
-- Every KEY=value line's value (quoted: the inside), comments and blank lines untouched.
local function env_values(s, spans)
  local init = 1
  while init <= #s do
    local line_end = find(s, "\n", init, true) or (#s + 1)
    local _, eq = find(s, "^[ \t]*[%a_][%w_%.%-]*[ \t]*=[ \t]*", init)
    if not eq then _, eq = find(s, "^[ \t]*export[ \t]+[%a_][%w_%.%-]*[ \t]*=[ \t]*", init) end
    if eq and eq + 1 < line_end then
      local a, b = eq + 1, line_end - 1
      while b >= a and SPACE[byte(s, b)] do b = b - 1 end
      local q = byte(s, a)
      if q == 34 or q == 39 then
        a = a + 1 -- the quotes stay; an unclosed one opens a multi-line value
        if b >= a and byte(s, b) == q then b = b - 1 end
      end
      -- a value already redacted (text redacted twice) stays as it is
      if b >= a and not find(sub(s, a, b), "^%[REDACTED:[%u%d_]+%]$") then span(spans, a, b, "ENV") end
    end
    init = line_end + 1
  end
end

-- ---- Applying the spans -------------------------------------------------------------------
-- Overlapping spans merge into the first (the earliest, then the most specific kind), grown to
-- cover them all: a later, longer find is never left half-visible.
local function apply(s, spans)
  if #spans == 0 then return s, {} end
  table.sort(spans, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return PRIORITY[x[3]] < PRIORITY[y[3]]
  end)
  local merged = { spans[1] }
  for i = 2, #spans do
    local cur, sp = merged[#merged], spans[i]
    if sp[1] <= cur[2] then
      if sp[2] > cur[2] then cur[2] = sp[2] end
    else
      merged[#merged + 1] = sp
    end
  end
  local out, counts, pos = {}, {}, 1
  for _, sp in ipairs(merged) do
    out[#out + 1] = sub(s, pos, sp[1] - 1)
    out[#out + 1] = "[REDACTED:" .. sp[3] .. "]"
    counts[sp[3]] = (counts[sp[3]] or 0) + 1
    pos = sp[2] + 1
  end
  out[#out + 1] = sub(s, pos)
  return table.concat(out), counts
end

local function collect(s, opts, env)
  local spans = {}
  private_keys(s, spans)
  aws(s, spans)
  prefixed(s, spans)
  slack_webhooks(s, spans)
  jwts(s, spans)
  url_passwords(s, spans)
  assignments(s, lower(s), spans)
  if opts.emails then emails(s, spans) end
  if opts.ips then
    ipv4(s, spans)
    ipv6(s, spans)
  end
  if env then env_values(s, spans) end
  return spans
end

local function check(s, opts)
  if type(s) ~= "string" then error("redact: text must be a string, got " .. type(s), 3) end
  if opts ~= nil and type(opts) ~= "table" then error("redact: opts must be a table", 3) end
  return opts or {}
end

-- redact.text(s [, {emails=bool, ips=bool}]) -> redacted, counts ({KIND = n})
function M.text(s, opts)
  opts = check(s, opts)
  return apply(s, collect(s, opts, false))
end

-- Whether s carries parts in a row as whole lines from byte first on: each part ends with "\n"
-- and starts where the one before ended (plain finds: no copy of s is made).
local function parts_at(s, parts, first)
  if first > 1 and byte(s, first - 1) ~= 10 then return false end
  local pos = first
  for _, p in ipairs(parts) do
    if p == "" or byte(p, -1) ~= 10 or find(s, p, pos, true) ~= pos then return false end
    pos = pos + #p
  end
  return true, pos - 1
end

-- Where in s the parts lie as one run of whole lines: its first and last byte, or nil.
local function parts_run(s, parts)
  if #parts == 0 then return nil end
  local first = find(s, parts[1], 1, true)
  if not first then return nil end
  local ok, last = parts_at(s, parts, first)
  if ok then return first, last end
  return nil
end

local GROUP_BYTES = 32 * 1024 -- parts are redacted in groups of up to about this many bytes

-- The end of the group of parts starting at i: groups end after a part whose length is a
-- multiple of 8, or once they hold GROUP_BYTES. Both depend on the parts alone, so two runs
-- sharing a sequence of parts cut it into the same groups (and one redact.text call per group
-- costs far less than one per part).
local function group_end(parts, i)
  local bytes = 0
  for j = i, #parts do
    bytes = bytes + #parts[j]
    if #parts[j] % 8 == 0 or bytes >= GROUP_BYTES then return j end
  end
  return #parts
end

-- The redaction of parts[i..j] as one text, from memo when the same parts were redacted
-- before: memo[parts[i]] = {n=, parts=, out=, counts=, local_ok=}.
local function redacted_group(parts, i, j, opts, memo)
  local hit = memo[parts[i]]
  if hit and hit.n == j - i + 1 then
    local same = true
    for k = 1, hit.n do
      if hit.parts[k] ~= parts[i + k - 1] then same = false break end
    end
    if same then return hit end
  end
  local group = {}
  for k = i, j do group[#group + 1] = parts[k] end
  local text = table.concat(group)
  local out, counts = M.text(text, opts)
  hit = { n = #group, parts = group, out = out, counts = counts, local_ok = M.line_local(text) }
  memo[parts[i]] = hit
  return hit
end

-- redact.text_parts(s, parts [, opts [, memo]]) -> redacted, counts: exactly text(s, opts), but
-- when s carries the strings of parts in a row as whole lines (each part ends with "\n") and
-- nothing in s can be redacted across a line end (line_local), the parts are redacted in
-- groups whose results are kept in memo (a table the caller keeps for one opts): texts
-- sharing most of their lines (a panel's prompts, each holding a context rendered from the
-- same items) pay for those lines once. The rest of s, and all of s when the parts are not
-- found in it, is redacted as text() does.
function M.text_parts(s, parts, opts, memo)
  opts = check(s, opts)
  if type(parts) ~= "table" then error("redact: parts must be a table", 2) end
  for _, p in ipairs(parts) do
    if type(p) ~= "string" then error("redact: parts must be strings, got " .. type(p), 2) end
  end
  if memo ~= nil and type(memo) ~= "table" then error("redact: memo must be a table", 2) end
  memo = memo or {}
  local first, last = parts_run(s, parts)
  if not first then return M.text(s, opts) end
  local head_text, tail_text = sub(s, 1, first - 1), sub(s, last + 1)
  -- no anchor of a detector that looks past a line end holds a "\n", so s is line-local when
  -- its pieces are
  if not (M.line_local(head_text) and M.line_local(tail_text)) then return M.text(s, opts) end
  local out, counts, groups = {}, {}, {}
  local i = 1
  while i <= #parts do
    local j = group_end(parts, i)
    local g = redacted_group(parts, i, j, opts, memo)
    if not g.local_ok then return M.text(s, opts) end
    groups[#groups + 1] = g
    i = j + 1
  end
  local head, head_counts = M.text(head_text, opts)
  out[1] = head
  M.merge_counts(counts, head_counts)
  for _, g in ipairs(groups) do
    out[#out + 1] = g.out
    M.merge_counts(counts, g.counts)
  end
  local tail, tail_counts = M.text(tail_text, opts)
  out[#out + 1] = tail
  return table.concat(out), M.merge_counts(counts, tail_counts)
end

-- redact.env_file(s [, opts]) -> redacted, counts: text() plus every KEY=value line's value.
function M.env_file(s, opts)
  opts = check(s, opts)
  return apply(s, collect(s, opts, true))
end

-- redact.line_local(s) -> bool: whether no span text(s) finds can reach past a line end, so that
-- redacting s in runs of whole lines and joining them with their "\n" gives text(s) exactly
-- (context redacts a 100,000-path listing only as far as a budget reaches). Two detectors
-- look past a line end: a PEM block runs to its footer, and an AWS key id looks for its secret
-- in the bytes after it. Every other span, e-mails and IP addresses included, lies within a
-- line, and every byte class a detector checks next to a candidate excludes both "\n" and
-- the string's edge. A detector added above that can cross a line end must be named here.
function M.line_local(s)
  if type(s) ~= "string" then error("redact: text must be a string, got " .. type(s), 2) end
  return not (find(s, "-----BEGIN ", 1, true) or find(s, "AKIA", 1, true) or find(s, "ASIA", 1, true))
end

-- Whether a path names a .env-like file (.env, .env.local, prod.env, .envrc).
function M.is_env_path(path)
  local base = path:match("[^/]*$")
  return base == ".env" or base == ".envrc" or find(base, "^%.env%.") ~= nil or find(base, "%.env$") ~= nil
end

-- Key stores and credential files whose content is never sent, not even redacted: a PEM
-- file may hold a key in a form no pattern knows, a keystore is binary.
local KEY_EXT = { pem = true, key = true, p12 = true, pfx = true, jks = true, keystore = true, ppk = true }
local KEY_NAMES = { id_rsa = true, id_dsa = true, id_ecdsa = true, id_ed25519 = true, [".netrc"] = true,
  [".pgpass"] = true, [".htpasswd"] = true, [".git-credentials"] = true }

-- Whether a path names a key or credential file (server.key, certs/tls.pem, ~/.ssh/id_rsa,
-- .netrc, .aws/credentials) whose content must be withheld.
function M.is_key_path(path)
  local base = path:match("[^/]*$"):lower()
  local ext = base:match("%.([^.]+)$")
  return KEY_NAMES[base] or (ext and KEY_EXT[ext]) or find(path:lower(), "%.aws/credentials$") ~= nil or false
end

-- Adds counts b into a (both {KIND = n}); returns a.
function M.merge_counts(a, b)
  for kind, n in pairs(b) do a[kind] = (a[kind] or 0) + n end
  return a
end

-- Raises each count of a to b's where b's is higher; returns a. The report of several
-- prompts that share documents: per kind, the most any one prompt carried (a sum would
-- count one secret once per persona).
function M.max_counts(a, b)
  for kind, n in pairs(b or {}) do
    if type(n) == "number" and n > (a[kind] or 0) then a[kind] = n end
  end
  return a
end

return M
