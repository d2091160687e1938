-- providers.common.http_error: which error statuses get the key advice, which say the account
-- is out of credit, and what the others show, on the bodies the real services send.
require("agent")
local json = require("agent.json")
local common = require("agent.providers.common")

local KEY = "sk-live-0123456789abcdef"

local function err(provider, status, body, extra)
  local res = { status = status, body = type(body) == "table" and json.encode(body) or body or "" }
  for k, v in pairs(extra or {}) do res[k] = v end
  local req = { headers = { authorization = "Bearer " .. KEY, ["x-api-key"] = KEY } }
  local reply, msg, kind = common.http_error(require("agent.providers." .. provider), res, req)
  assert.is_nil(reply)
  return msg, kind
end

describe("providers.common.http_error", function()
  it("gives the key advice for 401 and for a 403 about the key or a permission", function()
    assert.are.same({ "openai: the API key was refused (HTTP 401): set OPENAI_API_KEY to a valid key", "auth" },
      { err("openai", 401, { error = { message = "Incorrect API key provided", code = "invalid_api_key" } }) })
    local _, kind = err("anthropic", 403, { type = "error", error = { type = "permission_error",
      message = "Your API key does not have permission to use the specified resource." } })
    assert.are.equal("auth", kind)
    _, kind = err("gemini", 403, { error = { code = 403, status = "PERMISSION_DENIED",
      message = "Method doesn't allow unregistered callers." } })
    assert.are.equal("auth", kind)
    _, kind = err("openai", 403, "")
    assert.are.equal("auth", kind) -- no message at all: most likely the key
  end)

  it("shows any other 403's own message, key scrubbed, as kind forbidden", function()
    assert.are.same({ "openai: HTTP 403: Country, region, or territory not supported", "forbidden" },
      { err("openai", 403, { error = { code = "unsupported_country_region_territory", type = "request_forbidden",
        message = "Country, region, or territory not supported" } }) })
    local msg = err("openai", 403, { error = { type = "request_forbidden", message = "Blocked for " .. KEY .. " today" } })
    assert.are.equal("openai: HTTP 403: Blocked for [key] today", msg)
  end)

  it("says the account is out of credit, for OpenAI's and Anthropic's bodies", function()
    local _, msg, kind
    msg, kind = err("openai", 429, { error = { code = "insufficient_quota", type = "insufficient_quota",
      message = "You exceeded your current quota, please check your plan and billing details." } })
    assert.are.equal("quota", kind)
    assert.are.equal("openai: the account is out of credit (HTTP 429: You exceeded your current quota, please check "
      .. "your plan and billing details.): add credit or use another key", msg)
    _, kind = err("anthropic", 400, { type = "error", error = { type = "invalid_request_error",
      message = "Your credit balance is too low to access the Anthropic API." } })
    assert.are.equal("quota", kind)
    _, kind = err("anthropic", 402, { type = "error", error = { type = "billing_error", message = "Billing issue." } })
    assert.are.equal("quota", kind)
    -- a rate limit's 429 is not
    _, kind = err("openai", 429, { error = { code = "rate_limit_exceeded", message = "Rate limit reached" } })
    assert.are.equal("http", kind)
  end)

  it("calls a 404 not_found, and says when the server asked for a wait past the deadline", function()
    assert.are.same({ "openai: HTTP 404: The model `gpt-9` does not exist", "not_found" },
      { err("openai", 404, { error = { message = "The model `gpt-9` does not exist", code = "model_not_found" } }) })
    assert.are.same({ "anthropic: HTTP 529: Overloaded (the server asked to retry after 90 s, beyond the deadline)", "http" },
      { err("anthropic", 529, { type = "error", error = { type = "overloaded_error", message = "Overloaded" } },
        { retry_after = 89.2, attempts = 1 }) })
    assert.are.equal("openai: HTTP 500: boom (after 4 attempts)",
      (err("openai", 500, { error = { message = "boom" } }, { attempts = 4 })))
  end)

  it("passes every provider request the out-of-credit markers, so agent.http never retries them", function()
    local providers = require("agent.providers")
    local seen, real = nil, package.loaded["agent.http"]
    package.loaded["agent.http"] = { request_all = function(reqs)
      seen = reqs[1].final_if_body
      return { { error = "stop", code = "aborted", attempts = 1, elapsed_ms = 0 } }
    end }
    local ok, e = pcall(providers.run, { { provider = "openai", model = "m", user = "hi" } },
      { getenv = function(n) return n == "OPENAI_API_KEY" and KEY or nil end })
    package.loaded["agent.http"] = real
    assert(ok, e)
    assert.are.same(common.OUT_OF_CREDIT, seen)
  end)
end)
