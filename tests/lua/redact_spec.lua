-- agent.redact: each kind of secret is replaced whole and counted, and the look-alikes that
-- fill real repositories (SHAs, UUIDs, versions, prose about passwords) are left alone.
require("agent")
local redact = require("agent.redact")

-- Fake credentials with the real shapes (none of them is live).
local GHP = "ghp_" .. ("aB3dE5fG7h"):rep(3) .. "iJ9kL1"                -- 4 + 36
local GH_PAT = "github_pat_11ABCDEFG0" .. ("xY7zW3vU5t"):rep(8) .. "q1"  -- fine-grained PAT
local GLPAT = "glpat-Zx9Yw8Vu7Ts6Rq5Po4Nm"
local XOXB = "xoxb-2400000000000-2400000000001-AbCdEfGhIjKlMnOpQrStUvWx"
local HOOK = "https://hooks.slack.com/services/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"
local AIZA = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"                     -- 39 chars
local SK_OPENAI = "sk-4xAmPlE9kEy0fOr7tEsTiNg3oNlY5aBcDeFgHiJk"
local SK_PROJ = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12"
local SK_SVC = "sk-svcacct-Zz99Yy88Xx77Ww66Vv55Uu44Tt33"
local SK_ANT = "sk-ant-api03-Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0-AbCdEfAA"
local JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
  .. ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
local AKIA = "AKIAIOSFODNN7EXAMPLE"
local AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

local function r(s, opts)
  return redact.text(s, opts)
end

local function total(counts)
  local n = 0
  for _, v in pairs(counts) do n = n + v end
  return n
end

describe("redact.text", function()
  describe("private keys", function()
    local body = "MIIEowIBAAKCAQEA7bq3\nq0nU4B9cXfTz2kXbR1wq\n+Jx0aP/3zRr9sLkQm==\n"
    for _, kind in ipairs({ "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", "" }) do
      it("replaces a whole " .. (kind == "" and "PKCS#8 " or kind) .. "block, header to footer", function()
        local pem = "-----BEGIN " .. kind .. "PRIVATE KEY-----\n" .. body .. "-----END " .. kind .. "PRIVATE KEY-----"
        local out, counts = r("before\n" .. pem .. "\nafter")
        assert.are.equal("before\n[REDACTED:PRIVATE_KEY]\nafter", out)
        assert.are.same({ PRIVATE_KEY = 1 }, counts)
      end)
    end

    it("replaces a PGP private key block", function()
      local out = r("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n")
      assert.are.equal("[REDACTED:PRIVATE_KEY]\n", out)
    end)

    it("redacts an unterminated block to the end of the text, not just its first line", function()
      local out, counts = r("cfg:\n  key: |\n    -----BEGIN RSA PRIVATE KEY-----\n    MIIEow\n    q0nU4B9c\n")
      assert.are.equal("cfg:\n  key: |\n    [REDACTED:PRIVATE_KEY]", out)
      assert.are.equal(1, counts.PRIVATE_KEY)
      assert.is_nil(out:find("MIIEow", 1, true))
    end)

    it("handles a key inside a JSON string with escaped newlines", function()
      local out = r('{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n", "x": 1}')
      assert.are.equal('{"private_key": "[REDACTED:PRIVATE_KEY]", "x": 1}', out)
    end)

    it("redacts two blocks separately and keeps the text between them", function()
      local pem = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----"
      local out, counts = r(pem .. "\nmiddle\n" .. pem)
      assert.are.equal("[REDACTED:PRIVATE_KEY]\nmiddle\n[REDACTED:PRIVATE_KEY]", out)
      assert.are.equal(2, counts.PRIVATE_KEY)
    end)

    it("leaves public keys and certificates alone", function()
      local s = "-----BEGIN PUBLIC KEY-----\nMFkwEw\n-----END PUBLIC KEY-----\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
      local out, counts = r(s)
      assert.are.equal(s, out)
      assert.are.equal(0, total(counts))
    end)
  end)

  describe("vendor tokens", function()
    local cases = {
      { "GITHUB_TOKEN", GHP }, { "GITHUB_TOKEN", GH_PAT },
      { "GITHUB_TOKEN", "gho_" .. ("Q1w2E3r4T5"):rep(3) .. "y6U7i8" },
      { "GITHUB_TOKEN", "ghs_" .. ("Q1w2E3r4T5"):rep(3) .. "y6U7i8" },
      { "GITLAB_TOKEN", GLPAT }, { "SLACK_TOKEN", XOXB },
      { "SLACK_TOKEN", "xoxp-2400000000000-2400000000001-2400000000002-0a1b2c3d4e5f60718293a4b5c6d7e8f9" },
      { "SLACK_WEBHOOK", HOOK }, { "GOOGLE_API_KEY", AIZA },
      { "OPENAI_KEY", SK_OPENAI }, { "OPENAI_KEY", SK_PROJ }, { "OPENAI_KEY", SK_SVC },
      { "ANTHROPIC_KEY", SK_ANT }, { "JWT", JWT }, { "AWS_ACCESS_KEY", AKIA },
    }
    for _, c in ipairs(cases) do
      it("replaces " .. c[1] .. " " .. c[2]:sub(1, 12) .. "...", function()
        local out, counts = r("use " .. c[2] .. " here")
        assert.are.equal("use [REDACTED:" .. c[1] .. "] here", out)
        assert.are.equal(1, counts[c[1]])
        assert.are.equal(1, total(counts))
      end)
    end

    it("requires the documented length after each prefix (docs/security.md)", function()
      local prefixes = { { "ghp_", 30, "GITHUB_TOKEN" }, { "github_pat_", 22, "GITHUB_TOKEN" },
        { "glpat-", 20, "GITLAB_TOKEN" }, { "xoxb-", 15, "SLACK_TOKEN" }, { "sk-ant-", 20, "ANTHROPIC_KEY" },
        { "sk-", 20, "OPENAI_KEY" } }
      for _, c in ipairs(prefixes) do
        local short, long = c[1] .. ("a1"):rep(20):sub(1, c[2] - 1), c[1] .. ("a1"):rep(20):sub(1, c[2])
        assert.are.equal(short, (r(short)), short)
        assert.are.equal("[REDACTED:" .. c[3] .. "]", (r(long)), long)
      end
      local aiza = "AIza" .. ("b2"):rep(20)
      assert.are.equal("[REDACTED:GOOGLE_API_KEY]", (r(aiza:sub(1, 39))))
      assert.are.equal(aiza:sub(1, 38), (r(aiza:sub(1, 38))))
      assert.are.equal(aiza:sub(1, 40), (r(aiza:sub(1, 40))))
    end)

    it("finds tokens in headers, JSON and shell lines", function()
      local s = table.concat({
        "Authorization: Bearer " .. JWT,
        'curl -H "x-api-key: ' .. SK_ANT .. '" https://api.anthropic.com/v1/messages',
        '{"token":"' .. GHP .. '"}',
        "export OPENAI_API_KEY=" .. SK_PROJ,
      }, "\n")
      local out, counts = r(s)
      for _, secret in ipairs({ JWT, SK_ANT, GHP, SK_PROJ }) do
        assert.is_nil(out:find(secret, 1, true), secret)
      end
      assert.are.same({ JWT = 1, ANTHROPIC_KEY = 1, GITHUB_TOKEN = 1, OPENAI_KEY = 1 }, counts)
      assert.truthy(out:find('{"token":"[REDACTED:GITHUB_TOKEN]"}', 1, true))
    end)

    it("finds the AWS secret key beside its access key id", function()
      local out, counts = r("User,Access key ID,Secret access key\nci," .. AKIA .. "," .. AWS_SECRET .. "\n")
      assert.are.equal("User,Access key ID,Secret access key\nci,[REDACTED:AWS_ACCESS_KEY],[REDACTED:AWS_SECRET_KEY]\n", out)
      assert.are.same({ AWS_ACCESS_KEY = 1, AWS_SECRET_KEY = 1 }, counts)
    end)

    it("finds the AWS secret key by its name", function()
      for _, s in ipairs({
        "aws_secret_access_key = " .. AWS_SECRET,
        "AWS_SECRET_ACCESS_KEY=" .. AWS_SECRET,
        '"SecretAccessKey": "' .. AWS_SECRET .. '"',
      }) do
        local out, counts = r(s)
        assert.is_nil(out:find(AWS_SECRET, 1, true), s)
        assert.are.equal(1, counts.AWS_SECRET_KEY, s)
      end
    end)

    it("finds an ASIA temporary key id", function()
      local out = r("ASIAY34FZKBOKMUTVV7A")
      assert.are.equal("[REDACTED:AWS_ACCESS_KEY]", out)
    end)
  end)

  describe("assignments", function()
    local cases = {
      { 'password = "hunter2"', 'password = "[REDACTED:PASSWORD]"', "PASSWORD" },
      { "password='c0rrect horse'", "password='[REDACTED:PASSWORD]'", "PASSWORD" },
      { "passwd: s3cr3t!", "passwd: [REDACTED:PASSWORD]", "PASSWORD" },
      { "DB_PASSWORD=Tr0ub4dor&3", "DB_PASSWORD=[REDACTED:PASSWORD]&3", "PASSWORD" },
      { "api_key=abc123def456", "api_key=[REDACTED:API_KEY]", "API_KEY" },
      { '{"apiKey": "k-123-xyz"}', '{"apiKey": "[REDACTED:API_KEY]"}', "API_KEY" },
      { "secret: 9f8e7d6c5b4a", "secret: [REDACTED:SECRET]", "SECRET" },
      { "client_secret = 'zxcvbnm'", "client_secret = '[REDACTED:SECRET]'", "SECRET" },
      { "token=abcdef0123456789", "token=[REDACTED:TOKEN]", "TOKEN" },
      { "auth-token: tok_live_12345", "auth-token: [REDACTED:TOKEN]", "TOKEN" },
      { "db.password => 'x!y'", "db.password => '[REDACTED:PASSWORD]'", "PASSWORD" },
      { "mysql --password=hunter2 -h db", "mysql --password=[REDACTED:PASSWORD] -h db", "PASSWORD" },
      { 'password = "a\\"b"', 'password = "[REDACTED:PASSWORD]"', "PASSWORD" },
    }
    for _, c in ipairs(cases) do
      it("keeps the name and redacts the value: " .. c[1], function()
        local out, counts = r(c[1])
        assert.are.equal(c[2], out)
        assert.are.equal(1, counts[c[3]])
      end)
    end

    it("labels a known token by its vendor even inside an assignment", function()
      local out, counts = r("GITHUB_TOKEN=" .. GHP)
      assert.are.equal("GITHUB_TOKEN=[REDACTED:GITHUB_TOKEN]", out)
      assert.are.same({ GITHUB_TOKEN = 1 }, counts)
    end)

    it("redacts the password in a URL and keeps user and host", function()
      local out, counts = r("DATABASE_URL=postgres://app:Sup3r-S3cret@db.internal:5432/app")
      assert.are.equal("DATABASE_URL=postgres://app:[REDACTED:URL_PASSWORD]@db.internal:5432/app", out)
      assert.are.same({ URL_PASSWORD = 1 }, counts)
    end)
  end)

  describe("leaves look-alikes alone", function()
    local keep = {
      "commit 3f786850e387550fdab836ed7e6dc881de23001b fixes it",           -- git SHA (40 hex)
      "id 123e4567-e89b-12d3-a456-426614174000",                             -- UUID
      "requires git 2.31.0.1 or newer; lua 5.4.6; node v18.19.0; 1.2.3",     -- versions
      "The password policy requires 12 characters and a rotation every 90 days.",
      "Password: must be at least 12 characters long.",
      "token: the value returned by the login call",
      "max_tokens: 4096\ntoken_count = 17\npassword_policy = strict\nsecretary: Alice",
      "def login(password: str) -> bool:",
      "interface Login { password: string; token: string }",
      "token = get_token()\npassword = os.environ['DB_PASSWORD']",
      "password: ${DB_PASSWORD}\ntoken: {{ secrets.TOKEN }}\napi_key: <your-key>\nsecret: null",
      "password: \"\"\ntoken=",
      "let t = Token::new(); see task-force and sk-learn; Ask-AIza",
      "eyJ is how base64 of '{\"' starts",
      "AKIA is the prefix of an access key id",
      "ghp_ tokens have 36 characters after the prefix",
      "https://example.com/docs/api.html and http://host:8080/path",
      "Use @Security and @qa to review; npm i @scope/pkg",
      "-----BEGIN CERTIFICATE REQUEST-----",
    }
    for _, s in ipairs(keep) do
      it(s:gsub("\n", " | "), function()
        local out, counts = r(s)
        assert.are.equal(s, out)
        assert.are.equal(0, total(counts))
      end)
    end
  end)

  describe("e-mail and IP addresses", function()
    local s = "mail ops@example.com or bob.smith+ci@corp.example.co.uk; host 10.0.12.7, dns 8.8.8.8, "
      .. "listen 0.0.0.0:8080, 192.168.1.0/24, ipv6 2001:db8::8a2e:370:7334 and ::1; "
      .. "git 2.31.0.1, version 10.2.0.1, v1.2.3.4, at 12:30:45, a[10::2], std::vector, 00:1a:2b:3c:4d:5e"

    it("are kept unless switched on", function()
      local out, counts = r(s)
      assert.are.equal(s, out)
      assert.are.equal(0, total(counts))
    end)

    it("are redacted with emails=true and ips=true, versions and clocks untouched", function()
      local out, counts = r(s, { emails = true, ips = true })
      assert.are.equal("mail [REDACTED:EMAIL] or [REDACTED:EMAIL]; host [REDACTED:IPV4], dns [REDACTED:IPV4], "
        .. "listen [REDACTED:IPV4]:8080, [REDACTED:IPV4]/24, ipv6 [REDACTED:IPV6] and [REDACTED:IPV6]; "
        .. "git 2.31.0.1, version 10.2.0.1, v1.2.3.4, at 12:30:45, a[10::2], std::vector, 00:1a:2b:3c:4d:5e", out)
      assert.are.same({ EMAIL = 2, IPV4 = 4, IPV6 = 2 }, counts)
    end)

    it("keep what surrounds an address", function()
      local out = r("owner=bob@example.org;cc:<ann.lee+ci@example.co.uk>", { emails = true })
      assert.are.equal("owner=[REDACTED:EMAIL];cc:<[REDACTED:EMAIL]>", out)
    end)

    it("switch independently", function()
      local out = r("ops@example.com 10.0.0.1", { ips = true })
      assert.are.equal("ops@example.com [REDACTED:IPV4]", out)
      out = r("ops@example.com 10.0.0.1", { emails = true })
      assert.are.equal("[REDACTED:EMAIL] 10.0.0.1", out)
    end)
  end)

  it("counts by kind across a mixed document", function()
    local doc = table.concat({
      "# Deploy notes", "token=" .. GHP, "backup token: " .. GLPAT, "password: hunter2",
      "password: hunter3", "key:", "-----BEGIN RSA PRIVATE KEY-----", "MIIE", "-----END RSA PRIVATE KEY-----",
    }, "\n")
    local out, counts = r(doc)
    assert.are.same({ GITHUB_TOKEN = 1, GITLAB_TOKEN = 1, PASSWORD = 2, PRIVATE_KEY = 1 }, counts)
    assert.is_nil(out:find("hunter", 1, true))
    assert.truthy(out:find("# Deploy notes\ntoken=[REDACTED:GITHUB_TOKEN]", 1, true))
  end)

  it("returns the same string when there is nothing to redact", function()
    local s = ("plain text without secrets\n"):rep(100)
    local out, counts = r(s)
    assert.are.equal(s, out)
    assert.are.same({}, counts)
  end)

  it("survives invalid UTF-8 and NUL bytes", function()
    local s = "\255\254 password=\0x\200 " .. GHP .. " \192"
    local out, counts = r(s)
    assert.are.equal("\255\254 password=[REDACTED:PASSWORD] [REDACTED:GITHUB_TOKEN] \192", out)
    assert.are.same({ PASSWORD = 1, GITHUB_TOKEN = 1 }, counts)
  end)

  it("finds every planted secret in random noise, whatever surrounds it", function()
    local secrets = { GHP, GLPAT, XOXB, AIZA, SK_PROJ, SK_ANT, JWT, AKIA }
    local seps = { " ", "\n", "\t", "'", '"', "(", "=", ": ", ",", "\r\n", "<", ">" }
    local seed = 42
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    for _ = 1, 200 do
      local parts, planted = {}, {}
      for _ = 1, 20 do
        local noise = {}
        for k = 1, rand(40) do noise[k] = string.char(rand(256) - 1) end
        parts[#parts + 1] = table.concat(noise)
        local secret = secrets[rand(#secrets)]
        planted[#planted + 1] = secret
        parts[#parts + 1] = seps[rand(#seps)] .. secret .. seps[rand(#seps)]
      end
      local out, counts = r(table.concat(parts), { emails = true, ips = true })
      for _, secret in ipairs(planted) do
        assert.is_nil(out:find(secret, 1, true), secret)
      end
      assert.is_true(total(counts) >= 1)
    end
  end)

  it("raises on misuse", function()
    assert.has_error(function() redact.text(nil) end)
    assert.has_error(function() redact.text("x", "emails") end)
  end)

  describe("speed", function()
    local function timed(s, opts)
      local t0 = os.clock()
      local out = redact.text(s, opts)
      return os.clock() - t0, out
    end

    it("redacts 5 MB of realistic text in well under a second", function()
      local chunk = table.concat({
        "local function handler(req, res) -- passes the token to the api client\n",
        "  local password_policy = { min = 12 } -- secret rotation every 90 days\n",
        "  requires 2.31.0.1; host 10.0.0.1; mail ops@example.com; see https://example.com/api.html\n",
        "  api_key = os.getenv('API_KEY'); max_tokens: 4096; commit 3f786850e387550fdab836ed7e6dc881de23001b\n",
      })
      local s = chunk:rep(math.ceil(5 * 1024 * 1024 / #chunk)) .. "password=hunter2\n"
      local secs, out = timed(s, { emails = true, ips = true })
      assert.is_true(secs < 0.8, ("took %.3f s"):format(secs))
      assert.truthy(out:find("password=[REDACTED:PASSWORD]\n", 1, true))
    end)

    -- Inputs built to make a backtracking scanner go quadratic: each must stay linear.
    for _, unit in ipairs({ "pass", "a.", "1.", "a:", "-----BEGIN ", "sk-a", "eyJa.", "ghp_", "@a", "token=" }) do
      it("stays linear on a 2 MB run of '" .. unit .. "'", function()
        local s = unit:rep(math.floor(2 * 1024 * 1024 / #unit))
        local secs = timed(s, { emails = true, ips = true })
        assert.is_true(secs < 1.5, ("took %.3f s"):format(secs))
      end)
    end
  end)
end)

describe("redact.env_file", function()
  it("redacts every KEY=value line's value and leaves comments and empty values", function()
    local s = "# database\nDB_HOST=db.internal\nexport DB_USER=\"app\"\nDB_PASS='x y z'\nEMPTY=\n\nPORT = 5432 \n"
    local out, counts = redact.env_file(s)
    assert.are.equal("# database\nDB_HOST=[REDACTED:ENV]\nexport DB_USER=\"[REDACTED:ENV]\"\n"
      .. "DB_PASS='[REDACTED:ENV]'\nEMPTY=\n\nPORT = [REDACTED:ENV] \n", out)
    assert.are.same({ ENV = 4 }, counts)
  end)

  it("names known tokens by kind and swallows a multi-line key whole", function()
    local s = "GH=" .. GHP .. "\nKEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\"\nMODE=prod\n"
    local out, counts = redact.env_file(s)
    assert.are.equal("GH=[REDACTED:GITHUB_TOKEN]\nKEY=\"[REDACTED:PRIVATE_KEY]\"\nMODE=[REDACTED:ENV]\n", out)
    assert.are.same({ GITHUB_TOKEN = 1, PRIVATE_KEY = 1, ENV = 1 }, counts)
  end)

  it("handles CRLF files", function()
    local out = redact.env_file("A=1\r\nB=two\r\n")
    assert.are.equal("A=[REDACTED:ENV]\r\nB=[REDACTED:ENV]\r\n", out)
  end)

  -- The panel redacts every prompt again right before sending it: text already redacted
  -- must come through unchanged, counting nothing twice.
  it("leaves already-redacted text as it is, in both modes", function()
    local s = "GH=" .. GHP .. "\npassword = \"hunter2\"\nMODE=prod\n"
    for _, fn in ipairs({ redact.text, redact.env_file }) do
      local once = fn(s)
      local twice, counts = fn(once)
      assert.are.equal(once, twice)
      assert.are.same({}, counts)
    end
    assert.are.equal("T=[REDACTED:TOKEN]\n", (redact.env_file("T=[REDACTED:TOKEN]\n")))
  end)

  it("reports the most any one prompt carried, per kind", function()
    local run = redact.max_counts({ ENV = 2 }, { ENV = 1, TOKEN = 3 })
    assert.are.same({ ENV = 2, TOKEN = 3 }, redact.max_counts(run, nil))
  end)

  it("recognises .env-like paths", function()
    for _, p in ipairs({ ".env", "app/.env", ".env.local", "deploy/prod.env", ".envrc" }) do
      assert.is_true(redact.is_env_path(p), p)
    end
    for _, p in ipairs({ "env.md", "src/environment.ts", ".environment", "envoy.yaml" }) do
      assert.is_false(redact.is_env_path(p), p)
    end
  end)
end)
